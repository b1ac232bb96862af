import os from "node:os";
import path from "node:path";

/** `$XDG_CACHE_HOME/rescale-run` (default ~/.cache/rescale-run): feature cache, ONNX model. */
export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "rescale-run");
}
