import fs from "node:fs";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import yauzl from "yauzl";

/** A zip that would write outside its target directory, replace a file, exceed a limit, or is unusable. */
export class UnsafeArchiveError extends Error {
  override name = "UnsafeArchiveError";
}

/** How far one archive may expand. Checked while streaming, so a bomb stops at the cap, not after. */
export interface ArchiveLimits {
  /** Total bytes all entries may expand to. */
  maxBytes: number;
  /** Entries (files and folders) in the archive. */
  maxEntries: number;
  /** Expanded / compressed size of one entry, checked once the entry has expanded past `ratioFloorBytes`. */
  maxRatio: number;
  /** Entries smaller than this are not ratio-checked (small text files legitimately compress 100:1). */
  ratioFloorBytes: number;
}

/**
 * Sized for BUSI-like datasets with room to spare: BUSI is ~780 images, ~200 MB. Images barely compress
 * (PNG/JPEG are already compressed), so a ratio over 200 on a megabyte-sized entry is a bomb, not a dataset.
 */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxBytes: 16 * 1024 ** 3,
  maxEntries: 200_000,
  maxRatio: 200,
  ratioFloorBytes: 1024 * 1024,
};

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
// O_EXCL: an entry never replaces a file already there (an earlier input such as the job's bootstrap script,
// or the same name twice in one archive). O_NOFOLLOW: never through a link planted at the leaf.
const CREATE_NEW =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** Splits an entry name into path segments, refusing absolute names, `..`, NUL and backslash tricks. */
function entrySegments(name: string): string[] {
  if (name.includes("\0") || name.includes("\\") || path.posix.isAbsolute(name) || /^[A-Za-z]:/.test(name)) {
    throw new UnsafeArchiveError(`zip entry "${name}" has an absolute or invalid path`);
  }
  const segments = name.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes(".."))
    throw new UnsafeArchiveError(`zip entry "${name}" escapes the working directory`);
  if (segments.length === 0) throw new UnsafeArchiveError(`zip entry "${name}" has an empty path`);
  return segments;
}

/**
 * Checks every existing parent of the entry as it is on disk (lstat: a link is never followed) and only then
 * creates the missing ones, one level at a time. Returns the folders created, outermost first.
 */
function makeParents(root: string, segments: string[], name: string): string[] {
  let dir = root;
  let missingFrom = segments.length;
  for (let i = 0; i < segments.length; i++) {
    dir = path.join(dir, segments[i]!);
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!st) {
      missingFrom = i;
      break;
    }
    if (st.isSymbolicLink())
      throw new UnsafeArchiveError(
        `zip entry "${name}" would write through a symlink (${segments.slice(0, i + 1).join("/")})`,
      );
    if (!st.isDirectory())
      throw new UnsafeArchiveError(
        `zip entry "${name}" needs ${segments.slice(0, i + 1).join("/")} to be a folder; a file is already there`,
      );
  }
  const created: string[] = [];
  dir = path.join(root, ...segments.slice(0, missingFrom));
  for (let i = missingFrom; i < segments.length; i++) {
    dir = path.join(dir, segments[i]!);
    fs.mkdirSync(dir, { mode: 0o755 });
    created.push(dir);
  }
  return created;
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
    zip.openReadStream(entry, (err, s) =>
      err ? reject(new UnsafeArchiveError(`zip entry "${entry.fileName}": ${err.message}`)) : resolve(s),
    ),
  );
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise<yauzl.Entry | null>((resolve, reject) => {
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
}

const fmt = (n: number) => n.toLocaleString("en-US").replace(/,/g, " ");

/**
 * Extracts `file` into `root`, streaming each entry to disk, and returns the relative paths of the files written.
 *
 * Refused (the extraction stops, and everything it created is removed): absolute names and `..`; any symlink
 * entry (datasets are folders of images, the CLI packs none, and the runner skips links anyway, so refusing
 * them outright closes every chain-of-links escape instead of resolving each one); devices and other special
 * files; an entry whose parent on disk is a link; an entry that would replace a file already in `root`; and
 * an archive past `limits` (entry count up front, bytes and ratio while streaming).
 */
export async function extractZipSafely(
  file: string,
  root: string,
  limits: Partial<ArchiveLimits> = {},
): Promise<string[]> {
  const l = { ...DEFAULT_ARCHIVE_LIMITS, ...limits };
  const zip = await openZip(file);
  const written: string[] = [];
  const created: string[] = [];
  let total = 0;
  try {
    if (zip.entryCount > l.maxEntries)
      throw new UnsafeArchiveError(
        `the archive has ${fmt(zip.entryCount)} entries, over the entry limit of ${fmt(l.maxEntries)}`,
      );
    for (;;) {
      const entry = await nextEntry(zip);
      if (!entry) break;
      const name = entry.fileName;
      const segments = entrySegments(name);
      const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
      const isDir = name.endsWith("/") || type === S_IFDIR;
      if (!isDir && type !== 0 && type !== S_IFREG) {
        const what = type === 0o120000 ? "a symlink" : "a special file";
        throw new UnsafeArchiveError(
          `zip entry "${name}" is ${what}; archives may hold only files and folders`,
        );
      }
      if (isDir) {
        created.push(...makeParents(root, segments, name));
        continue;
      }
      if (total + entry.uncompressedSize > l.maxBytes) throw overBytes(l.maxBytes);
      created.push(...makeParents(root, segments.slice(0, -1), name));
      const target = path.join(root, ...segments);
      let fd: number;
      try {
        fd = fs.openSync(target, CREATE_NEW, 0o644);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST" || code === "EISDIR")
          throw new UnsafeArchiveError(
            `zip entry "${name}" would replace ${segments.join("/")}, already in the working directory (written by an earlier input or entry)`,
          );
        if (code === "ELOOP")
          throw new UnsafeArchiveError(`zip entry "${name}" would write through a symlink`);
        throw err;
      }
      created.push(target);
      let entryBytes = 0;
      const compressed = Math.max(1, entry.compressedSize);
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          entryBytes += chunk.length;
          total += chunk.length;
          if (total > l.maxBytes) return done(overBytes(l.maxBytes));
          if (entryBytes > l.ratioFloorBytes && entryBytes / compressed > l.maxRatio)
            return done(
              new UnsafeArchiveError(
                `zip entry "${name}" expands more than ${l.maxRatio} times (compression ratio limit): a zip bomb, not a dataset`,
              ),
            );
          done(null, chunk);
        },
      });
      const stream = await entryStream(zip, entry);
      try {
        await pipeline(stream, meter, fs.createWriteStream(target, { fd }));
      } catch (err) {
        if (err instanceof UnsafeArchiveError) throw err;
        throw new UnsafeArchiveError(`zip entry "${name}" is unreadable: ${(err as Error).message}`);
      }
      written.push(segments.join("/"));
    }
  } catch (err) {
    for (const p of created.reverse()) fs.rmSync(p, { recursive: true, force: true });
    throw err;
  } finally {
    zip.close();
  }
  return written;
}

function overBytes(max: number): UnsafeArchiveError {
  return new UnsafeArchiveError(`the archive expands past the expanded size limit of ${fmt(max)} bytes`);
}
