/**
 * Settings that expose something and are allowed only with a warning on stderr: the local platform (which runs
 * commands on this machine for whoever holds its key) listening beyond loopback, and a Rescale URL over plain
 * http (the API key would cross the network unencrypted).
 */

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;

/**
 * A host name, an address or a Host header ("127.0.0.1:8080", "[::1]:80") on this machine only: `local start
 * --host`, a Rescale URL, and the dashboard's Host check (another name resolving to 127.0.0.1 is DNS rebinding).
 */
export function isLoopbackHost(host: string | undefined): boolean {
  const text = (host ?? "").trim().toLowerCase();
  // The name without brackets or port: "[::1]:80" is ::1, "127.0.0.1:8080" 127.0.0.1; a bare IPv6 has no port.
  const name =
    /^\[([^\]]+)\]/.exec(text)?.[1] ?? (text.split(":").length > 2 ? text : text.replace(/:\d+$/, ""));
  return LOOPBACK.test(name);
}

/** The warning for `local start --host HOST`, or undefined for a loopback address. */
export function exposedHostWarning(host: string): string | undefined {
  if (isLoopbackHost(host)) return undefined;
  return `--host ${host}: the local platform will accept connections from other machines; anyone with its key (${"`"}rescale-run local start${"`"} keeps it in local-platform.json) can run commands here as you. Use 127.0.0.1 unless you mean it.`;
}

/** The warning for a Rescale API URL over plain http to another machine, or undefined. */
export function plainHttpWarning(baseUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" || isLoopbackHost(url.hostname)) return undefined;
  return `the Rescale API URL ${url.origin} is plain http: your API key and data cross the network unencrypted. Use https:// unless this is a test server you trust.`;
}
