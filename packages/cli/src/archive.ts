import { spawnSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { replaceFileAtomically } from "@rescale-run/sdk/atomic-write";
import archiver from "archiver";
import yauzl from "yauzl";

/**
 * Writes a zip (stored: images and weights do not compress) or a gzip'd tar to `target`, atomically
 * (a temp file renamed at the end, so a crash never leaves a half archive in a cache).
 */
export async function writeArchive(
  target: string,
  format: "zip" | "tgz",
  fill: (archive: archiver.Archiver) => void,
): Promise<void> {
  const archive =
    format === "zip"
      ? archiver("zip", { store: true })
      : archiver("tar", { gzip: true, gzipOptions: { level: 1 } });
  await replaceFileAtomically(target, async (temp) => {
    const out = createWriteStream(temp);
    const finished = new Promise<void>((resolve, reject) => {
      out.on("close", resolve);
      out.on("error", reject);
      archive.on("error", reject);
      archive.on("warning", reject);
    });
    archive.pipe(out);
    fill(archive);
    await archive.finalize();
    await finished;
  });
}

/**
 * A directory as a .tgz (symlinks kept). GNU tar with `gzip -1` packs the ~350 MB runner deployment about three
 * times faster than archiver's JavaScript pipeline (measured here: 9.5 s vs 33 s); archiver is the fallback.
 */
export async function writeDirectoryTgz(target: string, dir: string): Promise<void> {
  const gnuTar = spawnSync("tar", ["--version"], { encoding: "utf8" }).stdout?.includes("GNU tar");
  if (!gnuTar) return writeArchive(target, "tgz", (archive) => archive.directory(dir, false));
  await replaceFileAtomically(target, async (temp) => {
    const r = spawnSync("tar", ["--use-compress-program=gzip -1", "-cf", temp, "-C", dir, "."], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`tar failed (exit ${r.status}): ${r.stderr}`);
  });
}

export interface ZipEntryInfo {
  name: string;
  /** A symlink entry (Unix mode in the external attributes): the platform refuses these. */
  isSymlink: boolean;
}

/** The entries of a zip, read from its central directory (nothing is extracted). Rejects with yauzl's error. */
export function listZipEntries(file: string): Promise<ZipEntryInfo[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error("unreadable zip"));
      const entries: ZipEntryInfo[] = [];
      zip.on("entry", (e: yauzl.Entry) => {
        entries.push({
          name: e.fileName,
          isSymlink: ((e.externalFileAttributes >>> 16) & 0o170000) === 0o120000,
        });
        zip.readEntry();
      });
      zip.on("end", () => resolve(entries));
      zip.on("error", reject);
      zip.readEntry();
    });
  });
}
