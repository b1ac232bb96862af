import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

type Env = Record<string, string | undefined>;

function xdg(env: Env, name: string, fallback: string[]): string {
  const value = env[name];
  return value && isAbsolute(value) ? value : join(env.HOME || homedir(), ...fallback);
}

/** `$XDG_CACHE_HOME/rescale-run`: runner bundles, the synthetic demo dataset, packed datasets. */
export function cacheDir(env: Env = process.env): string {
  return join(xdg(env, "XDG_CACHE_HOME", [".cache"]), "rescale-run");
}
