import { readFileSync } from "node:fs";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/** Parses a URL and refuses anything that is not loopback: tests never send traffic off the machine. */
export function assertLoopbackUrl(url: string): URL {
  const parsed = new URL(url);
  if (!LOOPBACK_HOSTS.has(parsed.hostname)) {
    throw new Error(`refusing non-loopback target ${parsed.hostname}: tests only talk to 127.0.0.1`);
  }
  return parsed;
}

const TCP_LISTEN = "0A";

function decodeIpv4(hex: string): string {
  // /proc/net/tcp stores the address as a little-endian 32-bit hex number.
  const bytes = hex.match(/../g)!.map((b) => Number.parseInt(b, 16));
  return bytes.reverse().join(".");
}

function decodeIpv6(hex: string): string {
  // Four little-endian 32-bit words.
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(""));
  const groups = words
    .join("")
    .match(/.{4}/g)!
    .map((g) => g.replace(/^0+(?=.)/, "").toLowerCase());
  const full = groups.join(":");
  if (full === "0:0:0:0:0:0:0:0") return "::";
  if (full === "0:0:0:0:0:0:0:1") return "::1";
  if (full.startsWith("0:0:0:0:0:ffff:")) {
    const v4 = words[3]!.match(/../g)!.map((b) => Number.parseInt(b, 16));
    return `::ffff:${v4.join(".")}`;
  }
  return full;
}

/**
 * The local addresses on which some process on this machine listens on a TCP port, read from /proc/net
 * (Linux). Used to prove a server binds loopback only, without sending it any traffic.
 */
export function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const [file, decode] of [
    ["/proc/net/tcp", decodeIpv4],
    ["/proc/net/tcp6", decodeIpv6],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== TCP_LISTEN) continue;
      const [addrHex, portHex] = cols[1]!.split(":");
      if (Number.parseInt(portHex!, 16) === port) found.push(decode(addrHex!));
    }
  }
  return found;
}

export function isLoopbackAddress(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address.startsWith("::ffff:127.");
}
