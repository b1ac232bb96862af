/** Files: streamed upload (multipart field `file`), download with Range resume, list, get, delete, lines. */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { type Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { z } from "zod";
import { ConnectionError, RescaleError } from "../errors.js";
import { type MultipartBody, multipartBody, type ProgressEvent } from "../multipart.js";
import { ListResource, type PageOptions } from "../paginate.js";
import { fileLinesSchema, type RescaleFile, rescaleFileSchema } from "../schemas.js";
import { throwIfAborted } from "../sleep.js";
import type { Transport } from "../transport.js";

export type { ProgressEvent } from "../multipart.js";

export interface UploadOptions {
  /** Name on Rescale; default the path's base name (required for a stream). */
  name?: string;
  /** Byte size of a stream source, for an exact Content-Length (paths are measured). */
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

export class FilesResource extends ListResource<typeof rescaleFileSchema, FileListOptions> {
  constructor(transport: Transport) {
    super(transport, FILES, rescaleFileSchema);
  }

  protected override pageOptions(options: FileListOptions): PageOptions {
    return { ...options, query: { ...options.query, search: options.search } };
  }

  /** Uploads from a path or a Readable with constant memory; resolves to the created file object. */
  async upload(source: string | Readable, options: UploadOptions = {}): Promise<RescaleFile> {
    throwIfAborted(options.signal);
    const isPath = typeof source === "string";
    const name = options.name ?? (isPath ? basename(source) : undefined);
    if (!name) throw new RescaleError("Uploading a stream needs options.name (the file name on Rescale).");
    const size = isPath ? await uploadSize(source) : options.size;
    const input = isPath ? createReadStream(source, { highWaterMark: 256 * 1024 }) : source;
    const body: MultipartBody = multipartBody({
      field: "file",
      filename: name,
      contentType: options.contentType,
      source: input,
      size,
      onProgress: options.onProgress,
    });
    const headers: Record<string, string> = { "Content-Type": body.contentType };
    if (body.contentLength !== undefined) headers["Content-Length"] = String(body.contentLength);
    try {
      return await this.transport.requestAs(rescaleFileSchema, {
        method: "POST",
        path: `${FILES}contents/`,
        body: body.stream,
        headers,
        signal: options.signal,
      });
    } finally {
      if (!body.stream.destroyed) body.stream.destroy();
      if (isPath && !input.destroyed) input.destroy();
    }
  }

  async download(id: string, options: DownloadOptions): Promise<DownloadResult> {
    if (typeof options.to !== "string") {
      const bytes = await this.transfer(id, 0, options.to, options);
      return { bytes, resumedFrom: 0, path: undefined };
    }
    const target = options.to;
    const part = `${target}.part`;
    await mkdir(dirname(target), { recursive: true });
    if (options.resume === false) await rm(part, { force: true });
    const initial = await sizeOf(part);
    const maxResumes = options.maxResumes ?? 3;
    for (let resumes = 0; ; resumes++) {
      const offset = await sizeOf(part);
      try {
        const bytes = await this.transfer(id, offset, part, options);
        await rename(part, target);
        return { bytes, resumedFrom: initial, path: target };
      } catch (error) {
        if (!(error instanceof ConnectionError) || resumes >= maxResumes || options.signal?.aborted)
          throw error;
      }
    }
  }

  /** Streams the contents from `offset` into a path (append) or a Writable; returns the total file size. */
  private async transfer(
    id: string,
    offset: number,
    to: string | Writable,
    options: DownloadOptions,
  ): Promise<number> {
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
      if (file.decryptedSize === offset) return offset;
      return this.transfer(id, 0, to, options);
    }
    let start = 0;
    let total: number | undefined;
    if (response.status === 206) {
      const range = /bytes\s+(\d+)-(\d+)\/(\d+|\*)/.exec(response.headers["content-range"] ?? "");
      start = range ? Number(range[1]) : Number.NaN;
      total = range && range[3] !== "*" ? Number(range[3]) : undefined;
      if (start !== offset) {
        response.data.destroy();
        throw new RescaleError(`Server resumed ${path} at byte ${start}, asked for ${offset}`, {
          method: "GET",
          path,
        });
      }
    } else {
      const length = Number(response.headers["content-length"]);
      total =
        Number.isFinite(length) && response.headers["content-length"] !== undefined ? length : undefined;
    }
    let loaded = start;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        loaded += chunk.length;
        options.onProgress?.({ loaded, total });
        callback(null, chunk);
      },
    });
    const sink = typeof to === "string" ? createWriteStream(to, { flags: start > 0 ? "a" : "w" }) : to;
    try {
      await pipeline(response.data, counter, sink, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      if (options.signal?.aborted || !(error instanceof Error) || !isStreamBreak(error)) throw error;
      throw new ConnectionError(`Download of ${path} broke after ${loaded} bytes: ${error.message}`, {
        method: "GET",
        path,
        code: (error as NodeJS.ErrnoException).code ?? "ECONNRESET",
      });
    }
    if (total !== undefined && loaded !== total) {
      throw new ConnectionError(`Download of ${path} ended at ${loaded} of ${total} bytes`, {
        method: "GET",
        path,
        code: "ERR_INCOMPLETE",
      });
    }
    return loaded;
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
