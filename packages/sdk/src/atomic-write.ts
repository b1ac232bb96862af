/**
 * The one way rescale-run replaces a file: fill a temporary sibling, then rename it over the target, so a reader
 * (or a run killed mid-write) never sees half a file. A download's `<file>.part`, kept to be resumed, is another
 * thing (see resources/files.ts).
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname } from "node:path";

/** A temporary name beside `file`, unique per call so two writes of one file cannot collide. */
function tempSibling(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
}

/** Whether `name` (a file name in the target's folder) is a temporary of {@link replaceFileAtomically} for `target`. */
export function isAtomicWriteTemp(name: string, target: string): boolean {
  const prefix = `${basename(target)}.`;
  return name.startsWith(prefix) && name.endsWith(".tmp");
}

/**
 * Runs `fill(temp)` to write the new content into a temporary sibling of `file` (any way: a stream, a child
 * process), then renames it over `file` (its folder created if needed). On any failure the temporary is removed
 * and `file` is left as it was.
 */
export async function replaceFileAtomically<T>(file: string, fill: (temp: string) => Promise<T>): Promise<T> {
  await mkdir(dirname(file), { recursive: true });
  const temp = tempSibling(file);
  try {
    const result = await fill(temp);
    await rename(temp, file);
    return result;
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Writes `data` to `file` atomically; `mode` (e.g. 0o600 for a file holding keys) is set whatever the umask. */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  await replaceFileAtomically(file, async (temp) => {
    await writeFile(temp, data, options.mode === undefined ? {} : { mode: options.mode });
    if (options.mode !== undefined) await chmod(temp, options.mode);
  });
}
