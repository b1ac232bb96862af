/**
 * Watching a job: a status line while it starts, its training log streamed from `process_output.log` through
 * the tail endpoint while it runs, and its outcome when it ends. Rescale has no push API: this polls.
 */
import { Writable } from "node:stream";
import { type JobStatusEntry, NotFoundError, type RescaleClient } from "@rescale-run/sdk";

export const PROCESS_OUTPUT_LOG = "process_output.log";
/** The line the bootstrap script prints when the runner exits (see bootstrap.ts). */
const RUNNER_EXIT = /^\[rescale-run\] runner exited with status (\d+)/;
const TAIL_LINES = 200;

export type Outcome = "succeeded" | "failed" | "running";

/** "Completed" is not success: only a Completed status whose reason says so is. */
export function outcomeOf(latest: JobStatusEntry | undefined): Outcome {
  if (!latest) return "running";
  const status = latest.status.toLowerCase();
  if (status === "completed") {
    return /success/i.test(latest.statusReason ?? "") ? "succeeded" : "failed";
  }
  if (status === "force stop") return "failed";
  return "running";
}

/**
 * The lines of `tail` (the file's last lines now) that come after what `seen` (the last lines printed) ends
 * with. Matches the longest suffix of `seen` found in `tail`, so a repeat of the same poll prints nothing.
 */
export function newLines(seen: readonly string[], tail: readonly string[]): string[] {
  if (seen.length === 0) return [...tail];
  for (let end = tail.length; end > 0; end--) {
    const k = Math.min(end, seen.length);
    let match = true;
    for (let i = 1; i <= k; i++) {
      if (tail[end - i] !== seen[seen.length - i]) {
        match = false;
        break;
      }
    }
    if (match && (k === seen.length || k === end)) return tail.slice(end);
  }
  return [...tail];
}

export interface FollowOptions {
  pollMs: number;
  signal: AbortSignal;
  /** Called once per new log line. Omit to skip log streaming. */
  onLine?: (line: string) => void;
  onStatus?: (latest: JobStatusEntry | undefined, elapsedMs: number) => void;
  /** Return when the job is Executing (do not wait for the end). */
  untilActive?: boolean;
  /**
   * A workstation that outlives its command (Rescale's runForever): stop it when the runner has exited and the
   * job is still running `stopGraceMs` later (a platform that ends the job with its command needs no stop).
   */
  stopAfterRunnerExit?: boolean;
  stopGraceMs?: number;
  onStopRequested?: () => void;
}

export interface FollowResult {
  latest: JobStatusEntry | undefined;
  outcome: Outcome;
  /** Exit status the bootstrap script reported for the runner, when seen in the log. */
  runnerExit?: number;
  /** True when the wait was interrupted (Ctrl-C): the job goes on. */
  detached: boolean;
  /** True when this wait stopped the workstation after the runner exited. */
  stopRequested: boolean;
}

export async function followJob(
  client: RescaleClient,
  jobId: string,
  options: FollowOptions,
): Promise<FollowResult> {
  const started = Date.now();
  let seen: string[] = [];
  let runnerExit: number | undefined;
  let runnerExitSeenAt = 0;
  let stopRequested = false;
  let latest: JobStatusEntry | undefined;
  const emit = (lines: string[]) => {
    for (const line of lines) {
      const m = RUNNER_EXIT.exec(line);
      if (m) {
        runnerExit = Number(m[1]);
        runnerExitSeenAt = Date.now();
      }
      options.onLine?.(line);
    }
    seen = [...seen, ...lines].slice(-TAIL_LINES);
  };
  try {
    for (;;) {
      const statuses = await client.jobs.statuses(jobId, { signal: options.signal });
      latest = statuses[0];
      options.onStatus?.(latest, Date.now() - started);
      const outcome = outcomeOf(latest);
      if (outcome !== "running") {
        if (options.onLine) emit(newLines(seen, await finalLog(client, jobId, options.signal)));
        return { latest, outcome, runnerExit, detached: false, stopRequested };
      }
      const executing = latest?.status === "Executing";
      if (executing && options.untilActive)
        return { latest, outcome, runnerExit, detached: false, stopRequested };
      if (executing && options.onLine) emit(newLines(seen, await tailLog(client, jobId, options.signal)));
      const graceOver = Date.now() - runnerExitSeenAt >= (options.stopGraceMs ?? 0);
      if (runnerExit !== undefined && options.stopAfterRunnerExit && !stopRequested && graceOver) {
        stopRequested = true;
        options.onStopRequested?.();
        await client.jobs.stop(jobId, { signal: options.signal }).catch(() => {});
      }
      await sleep(options.pollMs, options.signal);
    }
  } catch (err) {
    if (options.signal.aborted)
      return { latest, outcome: "running", runnerExit, detached: true, stopRequested };
    throw err;
  }
}

/** The last lines of the running job's log; empty while no run or no log exists yet. */
export async function tailLog(client: RescaleClient, jobId: string, signal?: AbortSignal): Promise<string[]> {
  try {
    const runs = await client.jobs.runs(jobId, { signal });
    const run = runs[runs.length - 1];
    if (!run) return [];
    const tail = await client.jobs.tail(jobId, String(run.id), PROCESS_OUTPUT_LOG, {
      lines: TAIL_LINES,
      signal,
    });
    return tail.lines.map((l) => l.replace(/\r?\n$/, ""));
  } catch (err) {
    if (err instanceof NotFoundError) return [];
    throw err;
  }
}

/** The whole log of a finished job, from its output file (empty when it has none). */
export async function finalLog(
  client: RescaleClient,
  jobId: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const files = await client.jobs.files(jobId, { search: PROCESS_OUTPUT_LOG, signal });
  const file = files.find((f) => f.name === PROCESS_OUTPUT_LOG);
  if (!file) return [];
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  await client.files.download(String(file.id), { to: sink, signal });
  const text = Buffer.concat(chunks).toString("utf8");
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
