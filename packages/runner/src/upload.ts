/**
 * Uploads the run's artifacts to Rescale through `@rescale-run/sdk` and records their file ids in `uploaded.json`.
 * Runs inside a Rescale job (Rescale gives it `RESCALE_JOB_ID`, `RESCALE_API_KEY` and `RESCALE_API_BASE_URL`;
 * `RESCALE_API_URL` / `RESCALE_BASE_URL` are read as fallbacks) or when asked (`--upload`).
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import { DEFAULT_BASE_URL, RescaleClient, type RescaleError, type RetryOptions } from "@rescale-run/sdk";
import { writeFileAtomic } from "@rescale-run/sdk/atomic-write";
import { sha256File } from "./artifacts.js";

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
   * Client to upload with (`--upload`); default the job's (see `workstationClient`). The SDK
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
  | { status: "skipped"; reason: string }
  /** After a good training: the upload failed, the artifacts are kept on disk (a warning, not an error). */
  | { status: "failed"; reason: string; files: UploadedFile[] };

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

/** The platform URL a job is given: `RESCALE_API_BASE_URL` (Rescale's name), else the older names. */
export function jobApiBaseUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.RESCALE_API_BASE_URL || env.RESCALE_API_URL || env.RESCALE_BASE_URL || undefined;
}

/**
 * The client inside a Rescale job: `RESCALE_JOB_ID` and `RESCALE_API_KEY` set (the job's own key), the platform
 * from `RESCALE_API_BASE_URL` (fallbacks `RESCALE_API_URL`, `RESCALE_BASE_URL`, else the default platform); null
 * outside a job. A key in a user's shell without a job id is not taken as "inside a job". Its retries are
 * reported through `log` (the SDK redacts the key from them).
 */
export function workstationClient(
  env: NodeJS.ProcessEnv = process.env,
  options: { retry?: RetryOptions; log?: (line: string) => void } = {},
): RescaleClient | null {
  const apiKey = env.RESCALE_API_KEY;
  if (!apiKey || !env.RESCALE_JOB_ID) return null;
  const baseUrl = jobApiBaseUrl(env) ?? DEFAULT_BASE_URL;
  const log = options.log;
  return new RescaleClient({ apiKey, baseUrl, retry: options.retry, logger: log && { warn: (m) => log(m) } });
}

export interface UploadAfterTrainingOptions extends Omit<UploadArtifactsOptions, "client"> {
  /** true (`--upload`): with the profile or environment; false: never; "auto" (default): only inside a job. */
  mode: boolean | "auto";
  /** Rescale profile for `--upload`. */
  profile?: string;
}

/**
 * The upload step after a successful training. Uploads only inside a job or when asked; any failure (no
 * credentials for `--upload`, a rejected key, the platform down) is returned as `{ status: "failed" }` with what
 * did upload: the training succeeded and its artifacts stay on disk, so the caller warns instead of failing.
 */
export async function uploadAfterTraining(options: UploadAfterTrainingOptions): Promise<UploadResult> {
  if (options.mode === false) return { status: "skipped", reason: "--no-upload" };
  let client: RescaleClient | null;
  try {
    client =
      options.mode === true
        ? await RescaleClient.fromEnvironment({
            profile: options.profile,
            env: options.env,
            retry: options.retry,
          })
        : workstationClient(options.env, { retry: options.retry, log: options.log });
  } catch (error) {
    return { status: "failed", reason: (error as Error).message, files: [] };
  }
  if (!client) {
    return { status: "skipped", reason: "not inside a Rescale job (RESCALE_JOB_ID unset) and no --upload" };
  }
  try {
    return await uploadArtifacts({ ...options, client });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    const uploaded = error instanceof UploadError ? error.uploaded : [];
    return { status: "failed", reason: (error as Error).message, files: uploaded };
  }
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
      reason: "not inside a Rescale job (RESCALE_JOB_ID / RESCALE_API_KEY unset) and no --upload",
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
