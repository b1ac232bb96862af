/**
 * Uploads the run's artifacts to Rescale through `@rescale-run/sdk` and records their file ids in `uploaded.json`.
 * Runs when the runner is on a Rescale workstation (`RESCALE_API_KEY` and `RESCALE_API_URL` are set there) or when
 * the caller passes a client (`--upload`).
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import { isRetryable, RateLimitError, RescaleClient, type RescaleError } from "@rescale-run/sdk";
import pRetry from "p-retry";
import { sha256File, writeFileAtomic } from "./artifacts.js";

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

export interface UploadRetryOptions {
  /** Attempts after the first, per file (default 4). */
  retries?: number;
  /** First backoff delay (default 1 s), doubling up to `maxTimeoutMs` (default 30 s). */
  minTimeoutMs?: number;
  maxTimeoutMs?: number;
}

export interface UploadArtifactsOptions {
  /** Files to upload, in order. */
  files: string[];
  /** Client to upload with (`--upload`); default one built from `RESCALE_API_KEY` + `RESCALE_API_URL`. */
  client?: RescaleClient;
  /** Where `uploaded.json` is written. */
  outDir: string;
  onProgress?: (progress: UploadProgress) => void;
  /** Receives one line per uploaded file (name and id); default stdout. Never given the API key. */
  log?: (line: string) => void;
  /** Environment to read the credentials from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  retry?: UploadRetryOptions;
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

/** The client for a workstation: both `RESCALE_API_KEY` and `RESCALE_API_URL` set, else null. */
export function workstationClient(env: NodeJS.ProcessEnv = process.env): RescaleClient | null {
  const apiKey = env.RESCALE_API_KEY;
  const baseUrl = env.RESCALE_API_URL;
  return apiKey && baseUrl ? new RescaleClient({ apiKey, baseUrl }) : null;
}

async function writeManifest(file: string, uploaded: UploadedFile[]): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(uploaded, null, 2)}\n`);
}

/**
 * Uploads one file. The SDK retries requests it can replay, but a multipart upload is a stream it cannot replay,
 * so a transient failure (5xx, 429, timeout, broken connection) is retried here by uploading the file again from
 * disk. A retry after an ambiguous failure (the server may have stored the file before failing) can leave an
 * orphan copy on Rescale; only the id finally returned is recorded.
 */
async function uploadOne(client: RescaleClient, file: string, options: UploadArtifactsOptions) {
  const { retries = 4, minTimeoutMs = 1000, maxTimeoutMs = 30_000 } = options.retry ?? {};
  const name = path.basename(file);
  return pRetry(
    () =>
      client.files.upload(file, {
        name,
        signal: options.signal,
        onProgress: (e) => options.onProgress?.({ file, loaded: e.loaded, total: e.total }),
      }),
    {
      retries,
      minTimeout: minTimeoutMs,
      maxTimeout: maxTimeoutMs,
      factor: 2,
      signal: options.signal,
      shouldRetry: (error) =>
        !options.signal?.aborted && isRetryable(error, { idempotent: true, replayable: true }),
      onFailedAttempt: async (error) => {
        if (error.retriesLeft > 0 && isRetryable(error, { idempotent: true, replayable: true })) {
          (options.log ?? console.log)(`upload of ${name} failed (${error.message}); retrying`);
          const wait = error instanceof RateLimitError ? ((error as RateLimitError).retryAfterMs ?? 0) : 0;
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(wait, maxTimeoutMs)));
        }
      },
    },
  );
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
  const client = options.client ?? workstationClient(options.env);
  if (!client) {
    return {
      status: "skipped",
      reason: "not on a Rescale workstation (RESCALE_API_KEY and RESCALE_API_URL unset) and no --upload",
    };
  }
  const log = options.log ?? console.log;
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
      id = (await uploadOne(client, file, options)).id;
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
