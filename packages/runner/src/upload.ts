/**
 * Uploads the run's artifacts to Rescale through `@rescale-run/sdk` and records their file ids in `uploaded.json`.
 * Runs when the runner is on a Rescale workstation (`RESCALE_API_KEY` and `RESCALE_API_URL` are set there) or when
 * the caller passes a client (`--upload`).
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import { RescaleClient, type RescaleError, type RetryOptions } from "@rescale-run/sdk";
import { sha256File } from "./artifacts.js";
import { writeFileAtomic } from "./atomic-write.js";

/** One uploaded artifact, as written to `uploaded.json`. */
export interface UploadedFile {
  /** Local path that was uploaded. */
  path: string;
  /** File name on Rescale. */
  name: string;
  /** Rescale file id. */
  id: string;
  size: number;
  /** Hex SHA-256 of the local file, to verify a later download. */
  sha256: string;
}

export interface UploadProgress {
  file: string;
  loaded: number;
  total: number | undefined;
}

export interface UploadArtifactsOptions {
  /** Files to upload, in order. */
  files: string[];
  /**
   * Client to upload with (`--upload`); default one built from `RESCALE_API_KEY` + `RESCALE_API_URL`. The SDK
   * retries a transient failure (5xx, 429, timeout, broken connection) by re-reading the file from disk.
   */
  client?: RescaleClient;
  /** Where `uploaded.json` is written. */
  outDir: string;
  onProgress?: (progress: UploadProgress) => void;
  /** Receives one line per uploaded file (name and id); default stdout. Never given the API key. */
  log?: (line: string) => void;
  /** Environment to read the credentials from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Retry policy of the client built from the environment (a client passed in keeps its own). */
  retry?: RetryOptions;
  signal?: AbortSignal;
}

export type UploadResult =
  | { status: "uploaded"; files: UploadedFile[]; manifest: string }
  | { status: "skipped"; reason: string };

/** Some files could not be uploaded; those before it were, and are listed in `uploaded.json`. */
export class UploadError extends Error {
  constructor(
    message: string,
    readonly uploaded: UploadedFile[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "UploadError";
  }
}

/**
 * The client for a workstation: both `RESCALE_API_KEY` and `RESCALE_API_URL` set, else null. Its retries are
 * reported through `log` (the SDK redacts the key from them).
 */
export function workstationClient(
  env: NodeJS.ProcessEnv = process.env,
  options: { retry?: RetryOptions; log?: (line: string) => void } = {},
): RescaleClient | null {
  const apiKey = env.RESCALE_API_KEY;
  const baseUrl = env.RESCALE_API_URL;
  if (!apiKey || !baseUrl) return null;
  const log = options.log;
  return new RescaleClient({ apiKey, baseUrl, retry: options.retry, logger: log && { warn: (m) => log(m) } });
}

async function writeManifest(file: string, uploaded: UploadedFile[]): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(uploaded, null, 2)}\n`);
}

/**
 * Uploads `files` one by one with `client` (or the workstation's credentials), prints each file id, and writes
 * `outDir/uploaded.json` (`[{ path, name, id, size, sha256 }]`, rewritten after every file so a failure keeps
 * what was uploaded). Returns `{ status: "skipped" }` when there is neither a client nor credentials.
 *
 * @throws {UploadError} when a file cannot be read or still fails after the retries; `cause` is the SDK's error
 * (its message and fields are redacted: the API key never appears in them).
 */
export async function uploadArtifacts(options: UploadArtifactsOptions): Promise<UploadResult> {
  const log = options.log ?? console.log;
  const client = options.client ?? workstationClient(options.env, { retry: options.retry, log });
  if (!client) {
    return {
      status: "skipped",
      reason: "not on a Rescale workstation (RESCALE_API_KEY and RESCALE_API_URL unset) and no --upload",
    };
  }
  const manifest = path.join(options.outDir, "uploaded.json");
  const uploaded: UploadedFile[] = [];
  for (const file of options.files) {
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (error) {
      throw new UploadError(`cannot upload ${file}: ${(error as Error).message}`, uploaded, { cause: error });
    }
    const sha256 = await sha256File(file);
    let id: string;
    try {
      const uploadedFile = await client.files.upload(file, {
        name: path.basename(file),
        signal: options.signal,
        onProgress: (e) => options.onProgress?.({ file, loaded: e.loaded, total: e.total }),
      });
      id = uploadedFile.id;
    } catch (error) {
      await writeManifest(manifest, uploaded);
      const reason = (error as RescaleError).message ?? String(error);
      throw new UploadError(`upload of ${file} to ${client.baseUrl} failed: ${reason}`, uploaded, {
        cause: error,
      });
    }
    const entry: UploadedFile = { path: file, name: path.basename(file), id, size, sha256 };
    uploaded.push(entry);
    await writeManifest(manifest, uploaded);
    log(`uploaded ${entry.name} (${size} bytes) -> file id ${id}`);
  }
  return { status: "uploaded", files: uploaded, manifest };
}
