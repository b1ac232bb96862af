/**
 * A finished job's output list, read when it is final. Right after Completed the list can still be incomplete
 * (files are synced as the cluster stops; Rescale's own tutorial waits for the cluster to be Stopped), so the
 * list counts as final once the cluster is Stopped, or when it has not changed over successive reads.
 */
import type { ClusterStatusEntry, RescaleFile } from "./schemas.js";
import { type PollOptions, poll } from "./waiters.js";

export interface FinalOutputsSource {
  files(jobId: string, options?: { signal?: AbortSignal }): Promise<RescaleFile[]>;
  clusterStatuses(jobId: string, options?: { signal?: AbortSignal }): Promise<ClusterStatusEntry[]>;
}

export interface FinalOutputsOptions extends PollOptions {
  /**
   * Reads in a row with the same names (and sizes) that make the list final without a Stopped cluster, when no
   * `expected` path is missing. Default 3.
   */
  stableReads?: number;
  /** Paths (relativePath or name) the caller expects; those still absent are reported as `missing`. */
  expected?: readonly string[];
}

export interface FinalOutputs {
  files: RescaleFile[];
  /** Why the list was taken as final, or "gave up" when the time ran out first. */
  final: "cluster stopped" | "stable" | "gave up";
  /** Expected paths not in the list. */
  missing: string[];
}

const pathOf = (file: RescaleFile) => file.relativePath || file.name;

/**
 * Reads the job's files until the list is final (cluster Stopped, or unchanged over `stableReads` reads) or
 * `timeoutMs` (default 120 s) passes; then resolves with what is there and what is missing. Never throws on the
 * time running out: the caller decides what an incomplete list means.
 */
export async function waitForFinalOutputs(
  jobs: FinalOutputsSource,
  jobId: string,
  options: FinalOutputsOptions = {},
): Promise<FinalOutputs> {
  const stableReads = Math.max(1, options.stableReads ?? 3);
  const expected = options.expected ?? [];
  const timeoutMs = options.timeoutMs ?? 120_000;
  const started = Date.now();
  let last: RescaleFile[] = [];
  let lastKey = "";
  let same = 0;
  const result = (files: RescaleFile[], final: FinalOutputs["final"]): FinalOutputs => {
    const present = new Set(files.flatMap((f) => [pathOf(f), f.name]));
    return { files, final, missing: expected.filter((p) => !present.has(p)) };
  };
  return poll<FinalOutputs>(
    async () => {
      const [cluster, files] = await Promise.all([
        jobs.clusterStatuses(jobId, { signal: options.signal }).catch(() => [] as ClusterStatusEntry[]),
        jobs.files(jobId, { signal: options.signal }),
      ]);
      last = files;
      if (cluster[0]?.status.trim().toLowerCase() === "stopped")
        return { done: true, value: result(files, "cluster stopped") };
      const key = files
        .map((f) => `${pathOf(f)}:${f.decryptedSize ?? ""}`)
        .sort()
        .join("\n");
      same = key === lastKey && files.length > 0 ? same + 1 : 1;
      lastKey = key;
      // A list that stopped changing is final only when nothing expected is missing: an early, partial list
      // can be stable too. With files missing it waits for the cluster to stop (or gives up, naming them).
      const complete = result(files, "stable").missing.length === 0;
      if (same >= stableReads && complete) return { done: true, value: result(files, "stable") };
      if (Date.now() - started >= timeoutMs) return { done: true, value: result(files, "gave up") };
      return { done: false, value: result(files, "gave up") };
    },
    { minDelayMs: 2000, maxDelayMs: 10_000, ...options, timeoutMs: undefined },
  ).catch((error) => {
    if (options.signal?.aborted) throw error;
    if (last.length === 0) throw error;
    return result(last, "gave up");
  });
}
