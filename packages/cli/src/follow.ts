/**
 * Watching a job: a status line while it starts, its training log streamed while it runs (the SDK's
 * LogFollower: the log found through directory-contents, read through the tail endpoint), and its outcome when
 * it ends (the SDK's one classification, `classifyJobOutcome`). Rescale has no push API: this polls.
 */
import {
  classifyJobOutcome,
  type JobOutcome,
  type JobStatusEntry,
  LogFollower,
  PROCESS_OUTPUT_LOG,
  poll,
  type RescaleClient,
  readFinalLog,
} from "@rescale-run/sdk";

/** The line the bootstrap script prints when the runner exits (see bootstrap.ts). */
const RUNNER_EXIT = /^\[rescale-run\] runner exited with status (\d+)/;

export interface FollowOptions {
  pollMs: number;
  signal: AbortSignal;
  /** Called once per new log line. Omit to skip log streaming. */
  onLine?: (line: string) => void;
  onStatus?: (latest: JobStatusEntry | undefined, elapsedMs: number) => void;
  /** Called when the log cannot be read yet, each time the reason changes (e.g. "the job has no run yet"). */
  onLogUnavailable?: (reason: string) => void;
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
  outcome: JobOutcome;
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
  const log = new LogFollower(client.jobs, jobId);
  let runnerExit: number | undefined;
  let runnerExitSeenAt = 0;
  let stopRequested = false;
  let latest: JobStatusEntry | undefined;
  let outcome = classifyJobOutcome([]);
  let unavailable: string | undefined;
  const emit = (lines: string[]) => {
    for (const line of lines) {
      const m = RUNNER_EXIT.exec(line);
      if (m) {
        runnerExit = Number(m[1]);
        runnerExitSeenAt = Date.now();
      }
      options.onLine?.(line);
    }
  };
  const result = (detached: boolean) => ({ latest, outcome, runnerExit, detached, stopRequested });
  const step = async () => {
    const statuses = await client.jobs.statuses(jobId, { signal: options.signal });
    latest = statuses[0];
    outcome = classifyJobOutcome(statuses);
    options.onStatus?.(latest, Date.now() - started);
    if (outcome.terminal) {
      if (options.onLine) {
        const final = await readFinalLog(client.jobs, client.files, jobId, { signal: options.signal });
        if (final) emit(log.take(final));
        else options.onLogUnavailable?.(`the job has no ${PROCESS_OUTPUT_LOG}`);
      }
      return { done: true, value: result(false) };
    }
    const executing = outcome.phase === "running";
    if (executing && options.untilActive) return { done: true, value: result(false) };
    if ((executing || outcome.phase === "stopping") && options.onLine) {
      const live = await log.poll(options.signal);
      if (live.available) {
        unavailable = undefined;
        emit(live.lines);
      } else if (live.reason !== unavailable) {
        unavailable = live.reason;
        options.onLogUnavailable?.(live.reason);
      }
    }
    const graceOver = Date.now() - runnerExitSeenAt >= (options.stopGraceMs ?? 0);
    if (runnerExit !== undefined && options.stopAfterRunnerExit && !stopRequested && graceOver) {
      stopRequested = true;
      options.onStopRequested?.();
      await client.jobs.stop(jobId, { signal: options.signal }).catch(() => {});
    }
    return { done: false, value: result(false) };
  };
  try {
    // The SDK's poller: a fixed interval here, transient API errors (5xx, 429, resets) tolerated.
    return await poll(step, {
      minDelayMs: options.pollMs,
      maxDelayMs: options.pollMs,
      jitter: 0,
      signal: options.signal,
    });
  } catch (err) {
    if (options.signal.aborted) return result(true);
    throw err;
  }
}
