import { createHash, randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RawApi } from "./raw-api.js";
import { type LatencySummary, summarizeLatencies } from "./stats.js";

export interface LoadPhaseResult {
  requests: number;
  errors: number;
  /** First few error messages (no keys: RawApi never puts the key in a message). */
  errorSamples: string[];
  wallMs: number;
  requestsPerSecond: number;
  latency: LatencySummary;
  /** Every request's latency, for merging rounds. */
  samplesMs: number[];
}

export interface UploadPhaseResult extends LoadPhaseResult {
  bytesEach: number;
  megabytesPerSecond: number;
  /** Uploads whose stored sha256 differs from what was sent. */
  checksumMismatches: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value?: T; error?: string }> {
  const started = performance.now();
  try {
    const value = await fn();
    return { ms: performance.now() - started, value };
  } catch (err) {
    return { ms: performance.now() - started, error: (err as Error).message };
  }
}

function phaseResult(results: { ms: number; error?: string }[], wallMs: number): LoadPhaseResult {
  const errors = results.filter((r) => r.error !== undefined);
  return {
    requests: results.length,
    errors: errors.length,
    errorSamples: errors.slice(0, 3).map((e) => e.error!),
    wallMs,
    requestsPerSecond: results.length / (wallMs / 1000),
    latency: summarizeLatencies(results.map((r) => r.ms)),
    samplesMs: results.map((r) => r.ms),
  };
}

/** `count` status polls of one job, all in flight at once. A poll counts as an error unless it is a 200 list. */
export async function concurrentStatusPolls(
  api: RawApi,
  jobId: string,
  count: number,
): Promise<LoadPhaseResult> {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: count }, () =>
      timed(async () => {
        const res = await api.request<{ results?: unknown[] }>("GET", `/api/v2/jobs/${jobId}/statuses/`);
        if (res.status !== 200 || !Array.isArray(res.body?.results)) throw new Error(`status ${res.status}`);
      }),
    ),
  );
  return phaseResult(results, performance.now() - started);
}

/**
 * `count` uploads of distinct random files of `bytesEach`, all in flight at once; each stored file's sha256
 * (from `fileChecksums`) is compared with what was sent.
 */
export async function concurrentUploads(
  api: RawApi,
  dir: string,
  count: number,
  bytesEach: number,
): Promise<UploadPhaseResult> {
  const files: { path: string; sha256: string }[] = [];
  for (let i = 0; i < count; i++) {
    const data = randomBytes(bytesEach);
    const path = join(dir, `upload-${i}.bin`);
    await writeFile(path, data);
    files.push({ path, sha256: createHash("sha256").update(data).digest("hex") });
  }
  let checksumMismatches = 0;
  const started = performance.now();
  const results = await Promise.all(
    files.map((file) =>
      timed(async () => {
        const stored = (await api.upload(file.path)) as {
          decryptedSize: number;
          fileChecksums?: { hashFunction: string; fileHash: string }[];
        };
        const sha = stored.fileChecksums?.find((c) => c.hashFunction === "sha256")?.fileHash;
        if (stored.decryptedSize !== bytesEach || sha !== file.sha256) checksumMismatches++;
      }),
    ),
  );
  const wallMs = performance.now() - started;
  return {
    ...phaseResult(results, wallMs),
    bytesEach,
    megabytesPerSecond: (count * bytesEach) / 2 ** 20 / (wallMs / 1000),
    checksumMismatches,
  };
}
