import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import yauzl from "yauzl";

/** A zip that would write outside its target directory (or is otherwise unusable). */
export class UnsafeArchiveError extends Error {
  override name = "UnsafeArchiveError";
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const WRITE_NO_FOLLOW =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW;

function inside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** Resolves an entry name under root, refusing absolute names, `..` segments and backslash tricks. */
function entryPath(root: string, name: string): string {
  if (name.includes("\0") || name.includes("\\") || path.posix.isAbsolute(name) || /^[A-Za-z]:/.test(name)) {
    throw new UnsafeArchiveError(`zip entry "${name}" has an absolute or invalid path`);
  }
  if (name.split("/").includes(".."))
    throw new UnsafeArchiveError(`zip entry "${name}" escapes the working directory`);
  const target = path.resolve(root, name);
  if (!inside(root, target))
    throw new UnsafeArchiveError(`zip entry "${name}" escapes the working directory`);
  return target;
}

/** The real directory must still be inside root (a symlink extracted earlier may not redirect writes). */
function assertRealParentInside(root: string, target: string, name: string): void {
  const realRoot = fs.realpathSync(root);
  const realParent = fs.realpathSync(path.dirname(target));
  if (!inside(realRoot, realParent))
    throw new UnsafeArchiveError(`zip entry "${name}" escapes the working directory`);
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, validateEntrySizes: true, strictFileNames: true }, (err, zip) =>
      err ? reject(new UnsafeArchiveError(`not a readable zip: ${err.message}`)) : resolve(zip),
    ),
  );
}

function entryStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) =>
    zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))),
  );
}

async function readSmall(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Extracts `file` into `root`, streaming each entry to disk. Refuses (and stops at) any entry whose
 * path is absolute or climbs out with `..`, and symlinks whose target resolves outside `root`.
 * Returns the relative paths of the files written.
 */
export async function extractZipSafely(file: string, root: string): Promise<string[]> {
  const zip = await openZip(file);
  const written: string[] = [];
  try {
    for (;;) {
      const entry = await new Promise<yauzl.Entry | null>((resolve, reject) => {
        const onEntry = (e: yauzl.Entry) => {
          zip.off("end", onEnd);
          zip.off("error", onError);
          resolve(e);
        };
        const onEnd = () => {
          zip.off("entry", onEntry);
          zip.off("error", onError);
          resolve(null);
        };
        const onError = (err: Error) => {
          zip.off("entry", onEntry);
          zip.off("end", onEnd);
          reject(new UnsafeArchiveError(`zip refused: ${err.message}`));
        };
        zip.once("entry", onEntry);
        zip.once("end", onEnd);
        zip.once("error", onError);
        zip.readEntry();
      });
      if (!entry) break;
      const name = entry.fileName;
      const target = entryPath(root, name);
      const mode = (entry.externalFileAttributes >>> 16) & S_IFMT;
      if (name.endsWith("/")) {
        fs.mkdirSync(target, { recursive: true });
        assertRealParentInside(root, path.join(target, "x"), name);
        continue;
      }
      fs.mkdirSync(path.dirname(target), { recursive: true });
      assertRealParentInside(root, target, name);
      const stream = await entryStream(zip, entry);
      if (mode === S_IFLNK) {
        const linkTarget = await readSmall(stream);
        const resolved = path.resolve(path.dirname(target), linkTarget);
        if (path.isAbsolute(linkTarget) || !inside(root, resolved)) {
          throw new UnsafeArchiveError(`zip entry "${name}" is a symlink escaping the working directory`);
        }
        fs.rmSync(target, { force: true });
        fs.symlinkSync(linkTarget, target);
        continue;
      }
      let fd: number;
      try {
        fd = fs.openSync(target, WRITE_NO_FOLLOW, 0o644);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ELOOP") throw err;
        throw new UnsafeArchiveError(`zip entry "${name}" would write through a symlink`);
      }
      await pipeline(stream, fs.createWriteStream(target, { fd }));
      written.push(path.relative(root, target));
    }
  } finally {
    zip.close();
  }
  return written;
}
