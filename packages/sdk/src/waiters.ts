/**
 * Waiting for jobs: one poller (backoff + jitter + timeout + AbortSignal + progress callback) behind every wait,
 * and a pure classification of a job's status history. "Completed" is only a success when its statusReason
 * says so.
 */
import { JobFailedError, TimeoutError } from "./errors.js";
import { newestFirst } from "./resources/jobs.js";
import type { ClusterStatusEntry, JobStatusEntry } from "./schemas.js";
import { abortableSleep, throwIfAborted } from "./sleep.js";
import { isRetryable } from "./transport.js";
import {
  type ClusterStatusName,
  type JobStatusName,
  type OtherJobStatusName,
  STOPPING_REASONS,
} from "./wire.js";

export type JobPhase = "pending" | "starting" | "running" | "stopping" | "succeeded" | "failed" | "stopped";

export interface JobOutcome {
  phase: JobPhase;
  /** True once the job is Completed (whatever the reason). */
  terminal: boolean;
  succeeded: boolean;
  /** Newest status, e.g. "Executing"; undefined before the first. */
  status: string | undefined;
  statusReason: string | undefined;
  statusDate: Date | undefined;
}

type StatusLike = Pick<JobStatusEntry, "status"> & { statusReason?: string | null; statusDate?: Date | null };

/** Whether an entry has the named status; compared trimmed and case-blind, as Rescale's spelling is not checked. */
function hasStatus(entry: Pick<StatusLike, "status">, name: JobStatusName | OtherJobStatusName): boolean {
  return entry.status.trim().toLowerCase() === name.toLowerCase();
}
const isStopEntry = (entry: StatusLike) => hasStatus(entry, "Stopping") || hasStatus(entry, "Force Stop");

const SUCCESS_REASON = /success/i;
/** Rescale records a failed run on the Stopping entry (STOPPING_REASONS.runFailed), then Completed. */
const RUN_FAILED_REASON = /failed/i;
/** A stop the user asked for (STOPPING_REASONS.userTerminated on Rescale; "Stopped by user" on older local data). */
const USER_STOP_REASON = new RegExp(
  `${STOPPING_REASONS.userTerminated}|stopped by user|terminated by user`,
  "i",
);

/**
 * THE classification of a job's status history (any order; sorted newest first by date). Pure; every caller
 * (waiters, CLI list/status/logs/submit) uses it. Rules, in order:
 * - no status yet: "pending" (a saved job has none; `Pending` is the first status after submit);
 * - Completed: "failed" when a Stopping entry (or the Completed one) says a run failed; else "succeeded" when the
 *   Completed reason says success; else "stopped" when the user stopped it ("User Terminated" on an entry, a
 *   Force Stop, or a Stopping + Completed that give no reason at all); else "failed" (e.g. walltime exceeded,
 *   no compute resources: Completed does NOT mean success);
 * - Executing: "running"; Stopping / Force Stop: "stopping"; Pending: "pending"; anything else: "starting".
 */
export function classifyJobOutcome(statuses: readonly StatusLike[]): JobOutcome {
  const ordered = newestFirst(statuses);
  const newest = ordered[0];
  const base = {
    status: newest?.status,
    statusReason: newest?.statusReason ?? undefined,
    statusDate: newest?.statusDate ?? undefined,
  };
  if (!newest) return { ...base, phase: "pending", terminal: false, succeeded: false };
  if (hasStatus(newest, "Completed")) {
    const reason = newest.statusReason ?? "";
    const stopEntries = ordered.filter(isStopEntry);
    const failedStop = stopEntries.find((entry) => RUN_FAILED_REASON.test(entry.statusReason ?? ""));
    if (failedStop || (!SUCCESS_REASON.test(reason) && RUN_FAILED_REASON.test(reason))) {
      const statusReason = failedStop?.statusReason ?? base.statusReason;
      return {
        ...base,
        statusReason: statusReason ?? undefined,
        phase: "failed",
        terminal: true,
        succeeded: false,
      };
    }
    if (SUCCESS_REASON.test(reason)) return { ...base, phase: "succeeded", terminal: true, succeeded: true };
    const stopReason = stopEntries.find((entry) => entry.statusReason)?.statusReason ?? undefined;
    // Every end passes through Stopping on Rescale, so a Stopping entry alone says nothing: its reason does
    // ("User Terminated"). A Force Stop is the user's; an end where no entry gives any reason is taken as a stop.
    const stopped =
      USER_STOP_REASON.test(reason) ||
      USER_STOP_REASON.test(stopReason ?? "") ||
      stopEntries.some((entry) => hasStatus(entry, "Force Stop")) ||
      (stopEntries.length > 0 && !reason && !stopReason);
    return {
      ...base,
      statusReason: base.statusReason ?? stopReason,
      phase: stopped ? "stopped" : "failed",
      terminal: true,
      succeeded: false,
    };
  }
  if (hasStatus(newest, "Executing")) return { ...base, phase: "running", terminal: false, succeeded: false };
  if (isStopEntry(newest)) return { ...base, phase: "stopping", terminal: false, succeeded: false };
  if (hasStatus(newest, "Pending")) return { ...base, phase: "pending", terminal: false, succeeded: false };
  return { ...base, phase: "starting", terminal: false, succeeded: false };
}

export interface PollOptions {
  /** Give up after this long (TimeoutError). Default: no limit. */
  timeoutMs?: number;
  /** First delay between polls. Default 5 s. */
  minDelayMs?: number;
  /** Delay ceiling. Default 30 s. */
  maxDelayMs?: number;
  /** Delay growth per poll. Default 1.5. */
  factor?: number;
  /** Random spread of each delay, 0..1 (0.2 = +-20 %). Default 0.2. */
  jitter?: number;
  signal?: AbortSignal;
  /** Transient errors (5xx, 429, connection, timeout) tolerated in a row before giving up. Default 5. */
  maxConsecutiveErrors?: number;
}

export interface PollStep<T> {
  done: boolean;
  value: T;
}

/** Delay before poll `attempt` (1-based): exponential from minDelayMs, capped, with jitter. */
export function pollDelay(
  attempt: number,
  options: PollOptions = {},
  random: () => number = Math.random,
): number {
  const min = options.minDelayMs ?? 5000;
  const max = options.maxDelayMs ?? 30_000;
  const base = Math.min(max, min * (options.factor ?? 1.5) ** Math.max(0, attempt - 1));
  const jitter = options.jitter ?? 0.2;
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))));
}

/** Calls `check` until it reports done; tolerates transient API errors; honours timeout and abort. */
export async function poll<T>(
  check: (attempt: number) => Promise<PollStep<T>>,
  options: PollOptions & { describe?: () => string } = {},
): Promise<T> {
  const started = Date.now();
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : started + options.timeoutMs;
  let consecutiveErrors = 0;
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal);
    try {
      const step = await check(attempt);
      consecutiveErrors = 0;
      if (step.done) return step.value;
    } catch (error) {
      const transient = isRetryable(error, { idempotent: true, replayable: true });
      consecutiveErrors++;
      if (!transient || consecutiveErrors > (options.maxConsecutiveErrors ?? 5)) throw error;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const waited = Math.round((Date.now() - started) / 1000);
      throw new TimeoutError(
        `Gave up waiting after ${waited} s${options.describe ? `: ${options.describe()}` : ""}.`,
      );
    }
    await abortableSleep(Math.min(pollDelay(attempt, options), remaining), options.signal);
  }
}

/** What a waiter needs from the jobs resource (so tests and other clients can pass their own). */
export interface JobStatusSource {
  statuses(jobId: string, options?: { signal?: AbortSignal }): Promise<JobStatusEntry[]>;
  clusterStatuses(jobId: string, options?: { signal?: AbortSignal }): Promise<ClusterStatusEntry[]>;
}

export interface PollProgress {
  jobId: string;
  attempt: number;
  elapsedMs: number;
  outcome: JobOutcome;
  /** Newest cluster status, when the waiter reads them. */
  clusterStatus?: string;
}

export interface WaitOptions extends PollOptions {
  onPoll?: (progress: PollProgress) => void;
}

export interface WaitResult {
  outcome: JobOutcome;
  statuses: JobStatusEntry[];
}

export type StatusTarget =
  | string
  | readonly string[]
  | ((outcome: JobOutcome, statuses: JobStatusEntry[]) => boolean);

/**
 * Waits until the job's newest status matches `target` (a status name, several, or a predicate). A job that
 * ends (Completed) without matching rejects with JobFailedError.
 */
export async function waitForJobStatus(
  jobs: JobStatusSource,
  jobId: string,
  target: StatusTarget,
  options: WaitOptions = {},
): Promise<WaitResult> {
  const matches = toMatcher(target);
  const started = Date.now();
  let last: JobOutcome | undefined;
  return poll<WaitResult>(
    async (attempt) => {
      const statuses = await jobs.statuses(jobId, { signal: options.signal });
      const outcome = classifyJobOutcome(statuses);
      last = outcome;
      options.onPoll?.({ jobId, attempt, elapsedMs: Date.now() - started, outcome });
      if (matches(outcome, statuses)) return { done: true, value: { outcome, statuses } };
      if (outcome.terminal) throw jobEnded(jobId, outcome, "before reaching the awaited status");
      return { done: false, value: { outcome, statuses } };
    },
    { ...options, describe: () => `job ${jobId} is ${last?.status ?? "without status"}` },
  );
}

export interface ActiveResult extends WaitResult {
  clusterStatus: string | undefined;
}

/**
 * Waits until the job is Executing and its cluster Started (what the web UI shows as "Active" for a
 * workstation). Rejects with JobFailedError when the job ends unsuccessfully first; resolves with the terminal
 * outcome when it already finished successfully.
 */
export async function waitUntilActive(
  jobs: JobStatusSource,
  jobId: string,
  options: WaitOptions = {},
): Promise<ActiveResult> {
  const started = Date.now();
  let last = "";
  return poll<ActiveResult>(
    async (attempt) => {
      const statuses = await jobs.statuses(jobId, { signal: options.signal });
      const outcome = classifyJobOutcome(statuses);
      let clusterStatus: string | undefined;
      if (outcome.phase === "running") {
        clusterStatus = (await jobs.clusterStatuses(jobId, { signal: options.signal }))[0]?.status;
      }
      last = `job ${jobId} is ${outcome.status ?? "without status"}${clusterStatus ? `, cluster ${clusterStatus}` : ""}`;
      options.onPoll?.({ jobId, attempt, elapsedMs: Date.now() - started, outcome, clusterStatus });
      if (outcome.terminal && !outcome.succeeded) throw jobEnded(jobId, outcome, "before becoming active");
      const active =
        outcome.phase === "running" &&
        (clusterStatus === undefined || clusterStatus === ("Started" satisfies ClusterStatusName));
      const value = { outcome, statuses, clusterStatus };
      return { done: active || outcome.terminal, value };
    },
    { ...options, describe: () => last },
  );
}

/**
 * Waits until the job is Completed and returns its classified outcome (succeeded, failed or stopped).
 * With `throwOnFailure`, anything but success rejects with JobFailedError.
 */
export async function waitUntilFinished(
  jobs: JobStatusSource,
  jobId: string,
  options: WaitOptions & { throwOnFailure?: boolean } = {},
): Promise<WaitResult> {
  const result = await waitForJobStatus(jobs, jobId, (outcome) => outcome.terminal, options);
  if (options.throwOnFailure && !result.outcome.succeeded) throw jobEnded(jobId, result.outcome, "");
  return result;
}

function toMatcher(target: StatusTarget): (outcome: JobOutcome, statuses: JobStatusEntry[]) => boolean {
  if (typeof target === "function") return target;
  const wanted = new Set((typeof target === "string" ? [target] : target).map((s) => s.toLowerCase()));
  return (outcome) => wanted.has((outcome.status ?? "").toLowerCase());
}

function jobEnded(jobId: string, outcome: JobOutcome, when: string): JobFailedError {
  const reason = outcome.statusReason ? `: ${outcome.statusReason}` : "";
  return new JobFailedError(
    `Job ${jobId} ${outcome.phase === "stopped" ? "was stopped" : "failed"}${when ? ` ${when}` : ""}${reason}`,
    {
      jobId,
      statusReason: outcome.statusReason,
    },
  );
}
