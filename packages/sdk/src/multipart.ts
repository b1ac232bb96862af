/**
 * A streamed multipart/form-data body with one file field and an exact Content-Length, so uploads of any
 * size use constant memory (no form-data buffering, no chunked encoding needed).
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";

export interface ProgressEvent {
  /** Bytes of the file (not the multipart framing) sent so far. */
  loaded: number;
  /** File size in bytes, when known. */
  total: number | undefined;
}

export interface MultipartFile {
  field: string;
  filename: string;
  contentType?: string;
  source: Readable;
  /** Exact byte size of `source`; when given the body has an exact Content-Length. */
  size?: number;
  onProgress?: (event: ProgressEvent) => void;
}

export interface MultipartBody {
  stream: Readable;
  contentType: string;
  /** Exact body length, or undefined when the file size is unknown (chunked transfer). */
  contentLength: number | undefined;
}

/** Quotes a filename for Content-Disposition; non-ASCII names also get RFC 5987 `filename*`. */
export function contentDisposition(field: string, filename: string): string {
  const ascii = filename.replace(/[\r\n"\\]/g, "_").replace(/[^\x20-\x7e]/g, "_");
  const extended = /[^\x20-\x7e]/.test(filename) ? `; filename*=UTF-8''${encodeURIComponent(filename)}` : "";
  return `form-data; name="${field}"; filename="${ascii}"${extended}`;
}

export function multipartBody(file: MultipartFile): MultipartBody {
  const boundary = `----rescale-run-${randomBytes(12).toString("hex")}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: ${contentDisposition(file.field, file.filename)}\r\n` +
      `Content-Type: ${file.contentType ?? "application/octet-stream"}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const size = file.size;
  async function* frames(): AsyncGenerator<Buffer> {
    yield head;
    let loaded = 0;
    for await (const chunk of file.source) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      loaded += buffer.length;
      if (size !== undefined && loaded > size)
        throw new Error(`upload source grew beyond its size of ${size} bytes`);
      yield buffer;
      file.onProgress?.({ loaded, total: size });
    }
    if (size !== undefined && loaded !== size) {
      throw new Error(`upload source ended after ${loaded} of ${size} bytes (was the file changed?)`);
    }
    yield tail;
  }
  return {
    stream: Readable.from(frames(), { objectMode: false }),
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength: size === undefined ? undefined : head.length + size + tail.length,
  };
}
