/**
 * Checks `submit` runs before the expensive part (packing, upload, training): the output folder can take the
 * outputs, and no attachment would replace one of the job's own files. Each failure is a UsageError (exit 2)
 * naming the path and what to do; nothing has been uploaded yet.
 */
import { randomBytes } from "node:crypto";
import { closeSync, lstatSync, openSync, rmSync, statfsSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { listZipEntries } from "./archive.js";
import { UsageError } from "./errors.js";
import { formatBytes } from "./output.js";

/**
 * A rough ceiling on what a training job brings back (model weights, artifacts.zip, plots, logs: tens of MB
 * for the BUSI head; the margin covers a fine-tuned backbone). Below this much free space, refuse up front.
 */
const EXPECTED_OUTPUT_BYTES = 256 * 1024 * 1024;

export type FreeBytes = (dir: string) => number;
const freeBytesOf: FreeBytes = (dir) => {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
};

/** The nearest folder of `path` that exists (what `mkdir -p` would create under). */
function nearestExisting(path: string): string {
  let dir = path;
  for (;;) {
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(dir, { throwIfNoEntry: false });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOTDIR") throw err;
      st = undefined; // a parent is a file: found on the way up
    }
    if (st) {
      if (!st.isDirectory())
        throw new UsageError(`--out ${path}: ${dir} is a file, not a folder.`, "Pass a folder with --out.");
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) return dir;
    dir = up;
  }
}

/**
 * The output folder (or, if it does not exist yet, the folder it would be created in) is writable (proved by
 * creating and removing a file: mode bits lie for root and read-only mounts) and has room for the outputs.
 */
export function checkOutputDir(
  outDir: string,
  expectedBytes = EXPECTED_OUTPUT_BYTES,
  free: FreeBytes = freeBytesOf,
): void {
  const dir = nearestExisting(resolve(outDir));
  const probe = resolve(dir, `.rescale-run-write-test-${randomBytes(4).toString("hex")}`);
  try {
    closeSync(openSync(probe, "wx", 0o600));
    rmSync(probe, { force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(
      `--out ${outDir}: cannot write in ${dir} (${code}); the outputs could not be saved there.`,
      "Pass a writable folder with --out, before anything is uploaded.",
    );
  }
  const available = free(dir);
  if (available < expectedBytes) {
    throw new UsageError(
      `--out ${outDir}: only ${formatBytes(available)} free on the disk holding ${dir}; the outputs need about ${formatBytes(expectedBytes)}.`,
      `Free at least ${formatBytes(expectedBytes - available)} there, or pass --out on another disk.`,
    );
  }
}

/** Names the job itself puts in its working directory: an attachment may not bring (or unpack) one of them. */
function isJobOwned(name: string, jobOwned: readonly string[]): boolean {
  const first = name.replace(/^\.\//, "").split("/")[0] ?? "";
  return first.startsWith("rescale-run-") || jobOwned.includes(first);
}

async function zipNames(file: string): Promise<string[]> {
  const entries = await listZipEntries(file).catch((err: Error) => {
    throw new UsageError(`--attach ${file} is not a readable zip: ${err.message}`);
  });
  return entries.map((e) => e.name);
}

/**
 * An attachment named like one of the job's own files (the bootstrap script, the runner bundle, the dataset
 * folder, `outputs/`), or a zip attachment that would unpack one, is refused before upload: the platform would
 * otherwise run the user's file in place of the job's, or take it for the runner's results.
 */
async function checkAttachments(attachments: readonly string[], jobOwned: readonly string[]): Promise<void> {
  for (const file of attachments) {
    const names = file.toLowerCase().endsWith(".zip") ? await zipNames(file) : [];
    const clash = [basename(file), ...names].find((n) => isJobOwned(n, jobOwned));
    if (clash !== undefined)
      throw new UsageError(
        `--attach ${file}: ${clash === basename(file) ? "its name" : `its entry "${clash}"`} is one of the job's own files (names starting "rescale-run-", ${jobOwned.join(", ")}).`,
        "Rename the file (or the folder inside the zip); the job's own files always win.",
      );
  }
}

/** The one hook `submit` calls before it packs or uploads anything. */
export async function checkBeforeUpload(paths: {
  outDir: string;
  attachments: readonly string[];
  jobOwned: readonly string[];
}): Promise<void> {
  checkOutputDir(paths.outDir);
  await checkAttachments(paths.attachments, paths.jobOwned);
}
