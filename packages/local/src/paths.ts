import os from "node:os";
import path from "node:path";

/** User directories, honouring the XDG overrides so tests can sandbox them. */
function xdg(envName: string, fallback: string[]): string {
  const fromEnv = process.env[envName];
  return fromEnv && path.isAbsolute(fromEnv) ? fromEnv : path.join(os.homedir(), ...fallback);
}

/** `$XDG_CONFIG_HOME/rescale-run`: rescale-run's own config (holds `local-platform.json`). */
export function configDir(): string {
  return path.join(xdg("XDG_CONFIG_HOME", [".config"]), "rescale-run");
}

/** `$XDG_DATA_HOME/rescale-run/local`: the local platform's database, file store and job sandboxes. */
export function defaultDataDir(): string {
  return path.join(xdg("XDG_DATA_HOME", [".local", "share"]), "rescale-run", "local");
}
