/** Files: streamed upload (multipart field `file`), download with Range resume, list, get, delete, lines. */

import { createHash, getHashes } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import type { z } from "zod";
import { ConnectionError, RescaleError } from "../errors.js";
import { multipartBody, type ProgressEvent } from "../multipart.js";
import { ListResource, type PageOptions } from "../paginate.js";
import { fileLinesSchema, type RescaleFile, rescaleFileSchema } from "../schemas.js";
import { abortReason, throwIfAborted } from "../sleep.js";
import type { StreamBody, Transport } from "../transport.js";

export type { ProgressEvent } from "../multipart.js";

export interface UploadOptions {
  /** Name on Rescale; default the path's base name (required for a stream). */
  name?: string;
  /**
   * Byte size of a stream source, for an exact Content-Length (paths are measured). A stream without one is
   * first buffered to a temporary file: Rescale reportedly rejects chunked uploads, so none is ever sent.
   */
  size?: number;
  contentType?: string;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

export interface DownloadOptions {
  /** A file path (written via `<path>.part`, renamed when complete) or a Writable (ended when done). */
  to: string | Writable;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
  /** Continue an existing `<path>.part` from its size with an HTTP Range request. Default true. */
  resume?: boolean;
  /** Times a broken transfer to a path is resumed within this call. Default 3. */
  maxResumes?: number;
  /**
   * What the API says about the file (e.g. an entry of `jobs.files()`): its size, upload date and checksums are
   * recorded next to the `.part`, so a later call resumes only the same file, and the finished file is checked
   * against the checksum. Without it the record holds the file id and the size the server sends.
   */
  file?: DownloadedFileInfo;
}

/** The parts of a file object a download checks against (raw or parsed: dates as Date or string). */
export interface DownloadedFileInfo {
  decryptedSize?: number | string | null;
  dateUploaded?: Date | string | null;
  md5?: string | null;
  fileChecksums?: { hashFunction: string; fileHash: string }[];
}

export interface DownloadResult {
  /** Bytes of the whole file now at the destination. */
  bytes: number;
  /** Bytes that were already present and not downloaded again. */
  resumedFrom: number;
  path: string | undefined;
}

export interface FileListOptions extends PageOptions {
  search?: string;
}

const FILES = "/api/v2/files/";

export interface UploadOnceResult {
  file: RescaleFile;
  /** True when an already-uploaded file with the same name, size and content hash was reused. */
  reused: boolean;
  md5: string;
}

/** MD5 and SHA-512 of a file, streamed (Rescale lists `md5` and `fileChecksums` with SHA-512). */
export async function contentHashes(path: string): Promise<{ md5: string; sha512: string; size: number }> {
  const md5 = createHash("md5");
  const sha512 = createHash("sha512");
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    md5.update(chunk);
    sha512.update(chunk);
    size += chunk.length;
  }
  return { md5: md5.digest("hex"), sha512: sha512.digest("hex"), size };
}

/** Does `file` (as listed) hold exactly these bytes? Needs a matching hash, not just a name and size. */
export function sameContent(
  file: RescaleFile,
  wanted: { name: string; md5: string; sha512: string; size: number },
): boolean {
  if (file.name !== wanted.name || file.isDeleted === true || file.isUploaded === false) return false;
  if (typeof file.decryptedSize === "number" && file.decryptedSize !== wanted.size) return false;
  if (file.md5) return file.md5.toLowerCase() === wanted.md5;
  const sha = file.fileChecksums?.find((c) => /sha-?512/i.test(c.hashFunction));
  return sha ? sha.fileHash.toLowerCase() === wanted.sha512 : false;
}

export class FilesResource extends ListResource<typeof rescaleFileSchema, FileListOptions> {
  constructor(transport: Transport) {
    super(transport, FILES, rescaleFileSchema);
  }

  protected override pageOptions(options: FileListOptions): PageOptions {
    return { ...options, query: { ...options.query, search: options.search } };
  }

  /**
   * Uploads from a path or a Readable with constant memory; resolves to the created file object.
   * A path is re-opened for each attempt, so its upload is retried like a GET (429, 5xx, resets); a lost answer
   * can then leave an orphan copy of the file, never a failed run. A Readable cannot be replayed: not retried.
   */
  async upload(source: string | Readable, options: UploadOptions = {}): Promise<RescaleFile> {
    throwIfAborted(options.signal);
    const isPath = typeof source === "string";
    const name = options.name ?? (isPath ? basename(source) : undefined);
    if (!name) throw new RescaleError("Uploading a stream needs options.name (the file name on Rescale).");
    if (!isPath && options.size === undefined) return this.uploadBuffered(source, name, options);
    const size = isPath ? await uploadSize(source) : options.size;
    const makeBody = (input: Readable): StreamBody => {
      const multipart = multipartBody({
        field: "file",
        filename: name,
        contentType: options.contentType,
        source: input,
        size,
        onProgress: options.onProgress,
      });
      const headers: Record<string, string> = { "Content-Type": multipart.contentType };
      if (multipart.contentLength !== undefined) headers["Content-Length"] = String(multipart.contentLength);
      return { body: multipart.stream, headers, dispose: () => input.destroy() };
    };
    const request = { method: "POST", path: `${FILES}contents/`, signal: options.signal } as const;
    if (isPath) {
      return this.transport.requestAs(rescaleFileSchema, {
        ...request,
        idempotent: true,
        makeBody: () => makeBody(createReadStream(source, { highWaterMark: 256 * 1024 })),
      });
    }
    const once = makeBody(source);
    try {
      return await this.transport.requestAs(rescaleFileSchema, {
        ...request,
        body: once.body,
        headers: once.headers,
      });
    } finally {
      if (!once.body.destroyed) once.body.destroy();
    }
  }

  /**
   * Uploads a path unless the user's files already hold the same bytes under the same name (found with
   * `?search=<name>` and matched by size and MD5, or SHA-512 from `fileChecksums`); then that file is reused.
   */
  async uploadOnce(path: string, options: UploadOptions = {}): Promise<UploadOnceResult> {
    const found = await this.findSameContent(path, options);
    if (found.file) return { file: found.file, reused: true, md5: found.md5 };
    return { file: await this.upload(path, { ...options, name: found.name }), reused: false, md5: found.md5 };
  }

  /** The user's file holding exactly the bytes of `path` under the same name, if any (see `uploadOnce`). */
  async findSameContent(
    path: string,
    options: { name?: string; signal?: AbortSignal } = {},
  ): Promise<{ file: RescaleFile | undefined; md5: string; name: string }> {
    const name = options.name ?? basename(path);
    const hashes = await contentHashes(path);
    const wanted = { name, ...hashes };
    for await (const file of this.iterate({ search: name, pageSize: 100, signal: options.signal })) {
      if (sameContent(file, wanted)) return { file, md5: hashes.md5, name };
    }
    return { file: undefined, md5: hashes.md5, name };
  }

  /**
   * A stream of unknown size: spooled to a private temporary file, uploaded from there with an exact
   * Content-Length (and so retryable like a path), then removed.
   */
  private async uploadBuffered(source: Readable, name: string, options: UploadOptions): Promise<RescaleFile> {
    const dir = await mkdtemp(join(tmpdir(), "rescale-upload-"));
    try {
      const spool = join(dir, "upload.part");
      await pipeline(source, createWriteStream(spool, { mode: 0o600 }), { signal: options.signal });
      return await this.upload(spool, { ...options, name });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Downloads a file's contents. A path is written via `<path>.part` (continued from its size with a Range
   * request unless `resume: false`) and renamed when complete. A transfer that breaks mid-body is resumed with
   * Range up to `maxResumes` times, into a path or a Writable alike (a Writable is ended when done).
   */
  async download(id: string, options: DownloadOptions): Promise<DownloadResult> {
    const maxResumes = options.maxResumes ?? 3;
    const to = options.to;
    if (typeof to !== "string") {
      const progress = { written: 0 };
      for (let resumes = 0; ; resumes++) {
        const opened = await this.openContents(id, progress.written, options);
        if (opened.complete) break;
        try {
          // A server that ignores the Range resends from byte 0: skip what the sink already has.
          await copyInto(opened, to, progress.written - opened.start, progress, options);
          break;
        } catch (error) {
          if (!resumable(error, resumes, maxResumes, options.signal)) throw error;
        }
      }
      to.end();
      await finished(to, { readable: false });
      return { bytes: progress.written, resumedFrom: 0, path: undefined };
    }
    const part = `${to}.part`;
    const recordPath = partRecordPath(to);
    await mkdir(dirname(to), { recursive: true });
    let record = partRecordOf(id, options.file);
    // A .part is resumed only when its record names this very file; anything else starts over.
    const was = options.resume === false ? undefined : await readPartRecord(recordPath);
    if (was && sameFile(was, record)) record = { ...was, ...definedOnly(record) };
    else await rm(part, { force: true });
    await writeFile(recordPath, JSON.stringify(record)); // before any byte: a crash leaves a .part that says whose it is
    const initial = await sizeOf(part);
    let verifiedFresh = false;
    for (let resumes = 0; ; resumes++) {
      const offset = await sizeOf(part);
      const opened = await this.openContents(id, offset, options);
      if (!opened.complete) {
        if (record.size === undefined && opened.start === 0 && opened.total !== undefined) {
          record.size = opened.total;
          await writeFile(recordPath, JSON.stringify(record));
        }
        if (
          opened.start > 0 &&
          opened.total !== undefined &&
          record.size !== undefined &&
          opened.total !== record.size
        ) {
          // the server's file is not the one the .part was started from: never append to it
          opened.stream.destroy();
          await rm(part, { force: true });
          if (resumes >= maxResumes)
            throw new RescaleError(`${opened.path} changed size while downloading`, {
              method: "GET",
              path: opened.path,
            });
          continue;
        }
        // 206 appends to the .part; a 200 (Range ignored) rewrites it from the start.
        const file = createWriteStream(part, { flags: opened.start > 0 ? "a" : "w" });
        const progress = { written: opened.start };
        try {
          await copyInto(opened, file, 0, progress, options);
          file.end();
          await finished(file, { readable: false });
        } catch (error) {
          // A write still in flight fails once the stream is destroyed: let it settle (its error handled here,
          // not thrown as an uncaught exception) so the next attempt resumes from the .part's true size.
          file.destroy();
          await finished(file).catch(() => undefined);
          if (!resumable(error, resumes, maxResumes, options.signal)) throw error;
          continue;
        }
        if (opened.start === 0) verifiedFresh = true;
      }
      const mismatch = await checksumMismatch(part, record.checksum);
      if (mismatch) {
        await rm(part, { force: true });
        // bytes kept from an earlier attempt may be wrong: one fresh download settles it
        if (!verifiedFresh && resumes < maxResumes) {
          verifiedFresh = true;
          continue;
        }
        await rm(recordPath, { force: true });
        throw new RescaleError(`Downloaded file ${id} does not match the API's checksum (${mismatch})`, {
          method: "GET",
          path: `${FILES}${encodeURIComponent(id)}/contents/`,
        });
      }
      await rename(part, to);
      await rm(recordPath, { force: true });
      return { bytes: (await stat(to)).size, resumedFrom: initial, path: to };
    }
  }

  /** GET contents from `offset`; `complete` when a 416 confirms the caller already has every byte. */
  private async openContents(id: string, offset: number, options: DownloadOptions): Promise<OpenedContents> {
    const path = `${FILES}${encodeURIComponent(id)}/contents/`;
    const response = await this.transport.request<Readable>({
      method: "GET",
      path,
      responseType: "stream",
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : { "Accept-Encoding": "identity" },
      acceptStatus: [416],
      signal: options.signal,
    });
    if (response.status === 416) {
      response.data.resume();
      const file = await this.get(id, { signal: options.signal });
      if (file.decryptedSize === offset) return { complete: true };
      return this.openContents(id, 0, options);
    }
    if (response.status === 206) {
      const range = /bytes\s+(\d+)-(\d+)\/(\d+|\*)/.exec(response.headers["content-range"] ?? "");
      const start = range ? Number(range[1]) : Number.NaN;
      if (start !== offset) {
        response.data.destroy();
        throw new RescaleError(`Server resumed ${path} at byte ${start}, asked for ${offset}`, {
          method: "GET",
          path,
        });
      }
      const total = range && range[3] !== "*" ? Number(range[3]) : undefined;
      return { complete: false, stream: response.data, start, total, path };
    }
    const length = response.headers["content-length"];
    const total = length !== undefined && Number.isFinite(Number(length)) ? Number(length) : undefined;
    return { complete: false, stream: response.data, start: 0, total, path };
  }

  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<RescaleFile> {
    const path = `${FILES}${encodeURIComponent(id)}/`;
    return await this.transport.requestAs(rescaleFileSchema, { method: "GET", path, signal: options.signal });
  }

  async delete(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.transport.request({
      method: "DELETE",
      path: `${FILES}${encodeURIComponent(id)}/`,
      signal: options.signal,
    });
  }

  /** Text lines of a file (`GET /files/{id}/lines/`); query e.g. `{ start_line, num_lines }` is passed through. */
  async lines(
    id: string,
    options: { query?: Record<string, string | number>; signal?: AbortSignal } = {},
  ): Promise<z.output<typeof fileLinesSchema>> {
    const path = `${FILES}${encodeURIComponent(id)}/lines/`;
    return await this.transport.requestAs(fileLinesSchema, {
      method: "GET",
      path,
      query: options.query,
      signal: options.signal,
    });
  }
}

async function uploadSize(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new RescaleError(`Cannot upload ${path}: it is not a regular file.`);
    return info.size;
  } catch (error) {
    if (error instanceof RescaleError) throw error;
    throw new RescaleError(`Cannot upload ${path}: ${(error as Error).message}`, { cause: error });
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
}

function isStreamBreak(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return (
    code === "ECONNRESET" ||
    code === "ERR_STREAM_PREMATURE_CLOSE" ||
    code === "EPIPE" ||
    /aborted/i.test(error.message)
  );
}

type OpenedContents =
  | { complete: true }
  | { complete: false; stream: Readable; start: number; total: number | undefined; path: string };

/**
 * Copies a response body into `sink` with backpressure, without ending the sink (a resumed transfer goes on
 * writing into it). `progress.written` counts bytes in the destination, even when the copy breaks.
 */
async function copyInto(
  opened: Extract<OpenedContents, { complete: false }>,
  sink: Writable,
  skipBytes: number,
  progress: { written: number },
  options: DownloadOptions,
): Promise<void> {
  let position = opened.start;
  let skip = Math.max(0, skipBytes);
  try {
    for await (const chunk of opened.stream as AsyncIterable<Buffer>) {
      position += chunk.length;
      const data = skip > 0 ? chunk.subarray(Math.min(skip, chunk.length)) : chunk;
      skip -= chunk.length - data.length;
      if (data.length === 0) continue;
      if (!sink.write(data)) await once(sink, "drain", options.signal ? { signal: options.signal } : {});
      progress.written += data.length;
      options.onProgress?.({ loaded: progress.written, total: opened.total });
    }
  } catch (error) {
    opened.stream.destroy();
    if (options.signal?.aborted) throw abortReason(options.signal);
    if (!(error instanceof Error) || !isStreamBreak(error)) throw error;
    throw new ConnectionError(`Download of ${opened.path} broke after ${position} bytes: ${error.message}`, {
      method: "GET",
      path: opened.path,
      code: (error as NodeJS.ErrnoException).code ?? "ECONNRESET",
    });
  }
  if (opened.total !== undefined && position !== opened.total) {
    throw new ConnectionError(`Download of ${opened.path} ended at ${position} of ${opened.total} bytes`, {
      method: "GET",
      path: opened.path,
      code: "ERR_INCOMPLETE",
    });
  }
}

/** May a broken download be continued with another Range request? */
function resumable(
  error: unknown,
  resumes: number,
  maxResumes: number,
  signal: AbortSignal | undefined,
): boolean {
  return error instanceof ConnectionError && resumes < maxResumes && !signal?.aborted;
}

/** The record next to `<path>.part` naming the file it belongs to. */
export function partRecordPath(to: string): string {
  return `${to}.part.json`;
}

interface PartRecord {
  fileId: string;
  size?: number;
  dateUploaded?: string;
  checksum?: { hashFunction: string; fileHash: string };
}

/** The strongest checksum the API gives that this node can compute (Rescale lists SHA-512; md5 last). */
function bestChecksum(file: DownloadedFileInfo | undefined): PartRecord["checksum"] {
  const supported = new Set(getHashes().map((h) => h.toLowerCase()));
  const norm = (name: string) => name.toLowerCase().replace(/-/g, "");
  const sums = (file?.fileChecksums ?? []).filter((c) => c.fileHash && supported.has(norm(c.hashFunction)));
  for (const wanted of ["sha512", "sha384", "sha256", "sha1", "md5"]) {
    const c = sums.find((x) => norm(x.hashFunction) === wanted);
    if (c) return { hashFunction: wanted, fileHash: c.fileHash.toLowerCase() };
  }
  if (file?.md5) return { hashFunction: "md5", fileHash: file.md5.toLowerCase() };
  return undefined;
}

function partRecordOf(fileId: string, file: DownloadedFileInfo | undefined): PartRecord {
  const size =
    file?.decryptedSize === undefined || file.decryptedSize === null ? undefined : Number(file.decryptedSize);
  const date = file?.dateUploaded ? new Date(file.dateUploaded) : undefined;
  return {
    fileId,
    size: Number.isFinite(size) ? size : undefined,
    dateUploaded: date && !Number.isNaN(date.getTime()) ? date.toISOString() : undefined,
    checksum: bestChecksum(file),
  };
}

async function readPartRecord(path: string): Promise<PartRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(path, "utf8")) as PartRecord;
    return typeof r.fileId === "string" ? r : undefined;
  } catch {
    return undefined;
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Same file id, and nothing the API said then contradicts what it says now. */
function sameFile(was: PartRecord | undefined, now: PartRecord): boolean {
  if (!was || was.fileId !== now.fileId) return false;
  const differs = <T>(a: T | undefined, b: T | undefined) => a !== undefined && b !== undefined && a !== b;
  if (differs(was.size, now.size) || differs(was.dateUploaded, now.dateUploaded)) return false;
  if (was.checksum && now.checksum && was.checksum.hashFunction === now.checksum.hashFunction)
    return was.checksum.fileHash === now.checksum.fileHash;
  return true;
}

/** A description of the mismatch, or undefined when the file matches (or no checksum was given). */
async function checksumMismatch(path: string, checksum: PartRecord["checksum"]): Promise<string | undefined> {
  if (!checksum) return undefined;
  const hash = createHash(checksum.hashFunction);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const got = hash.digest("hex");
  return got === checksum.fileHash
    ? undefined
    : `${checksum.hashFunction} ${got}, expected ${checksum.fileHash}`;
}
