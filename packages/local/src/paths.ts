import path from "node:path";
import { rescaleRunDir } from "@rescale-run/sdk/user-dirs";

/** `$XDG_DATA_HOME/rescale-run/local`: the local platform's database, file store and job sandboxes. */
export function defaultDataDir(): string {
  return path.join(rescaleRunDir("data"), "local");
}
