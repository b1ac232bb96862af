/**
 * Where rescale-run keeps files for the user: the XDG base directories, the one rule every package follows
 * (the CLI's cache, the local platform's config and data, the runner's cache, the SDK's profiles file).
 */
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

export type UserDirKind = "config" | "cache" | "data";

type Env = Record<string, string | undefined>;

const XDG: Record<UserDirKind, { variable: string; underHome: string[] }> = {
  config: { variable: "XDG_CONFIG_HOME", underHome: [".config"] },
  cache: { variable: "XDG_CACHE_HOME", underHome: [".cache"] },
  data: { variable: "XDG_DATA_HOME", underHome: [".local", "share"] },
};

/**
 * `$XDG_CONFIG_HOME`, `$XDG_CACHE_HOME` or `$XDG_DATA_HOME`; when unset or relative (the XDG spec says to ignore a
 * relative one) `~/.config`, `~/.cache` or `~/.local/share`, with `~` from `env.HOME`, else the OS's home.
 */
export function xdgBaseDir(kind: UserDirKind, env: Env = process.env): string {
  const { variable, underHome } = XDG[kind];
  const value = env[variable];
  return value && isAbsolute(value) ? value : join(env.HOME || homedir(), ...underHome);
}

/** `<xdgBaseDir(kind)>/rescale-run`: rescale-run's own config, cache or data folder. */
export function rescaleRunDir(kind: UserDirKind, env: Env = process.env): string {
  return join(xdgBaseDir(kind, env), "rescale-run");
}
