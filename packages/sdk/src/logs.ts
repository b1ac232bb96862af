/**
 * A job's log: the live tail of a running job (the file found through `directory-contents`, read through the
 * tail endpoint) and the whole `process_output.log` of a finished one (its output file). A log that cannot be
 * read yet is said to be so, never silently empty.
 */
import { Writable } from "node:stream";
import { NotFoundError } from "./errors.js";
import type { FilesResource } from "./resources/files.js";
import type { JobsResource } from "./resources/jobs.js";
import { PROCESS_OUTPUT_LOG } from "./wire.js";

const DEFAULT_TAIL_LINES = 200;

export type LiveLog =
  | { available: true; path: string; lines: string[] }
  /** `reason` says why, e.g. "the job has no run yet" or "process_output.log is not in the run's files yet". */
  | { available: false; reason: string };

/**
 * The last lines of a running job's log. Never swallows a 404: a missing run, file or tail answers
 * `{ available: false, reason }`. `knownPath` skips the directory lookup once the file has been found.
 */
export async function readLiveLog(
  jobs: Pick<JobsResource, "runs" | "findRunFile" | "tail">,
  jobId: string,
  options: { lines?: number; file?: string; knownPath?: string; signal?: AbortSignal } = {},
): Promise<LiveLog & { runId?: string }> {
  const file = options.file ?? PROCESS_OUTPUT_LOG;
  const { signal } = options;
  try {
    const runs = await jobs.runs(jobId, { signal });
    const run = runs[runs.length - 1];
    if (!run) return { available: false, reason: "the job has no run yet" };
    const runId = String(run.id);
    const path = options.knownPath ?? (await jobs.findRunFile(jobId, runId, file, { signal }));
    if (!path) return { available: false, reason: `${file} is not in the run's files yet`, runId };
    const tail = await jobs.tail(jobId, runId, path, { lines: options.lines ?? DEFAULT_TAIL_LINES, signal });
    return { available: true, path, lines: tail.lines.map((l) => l.replace(/\r?\n$/, "")), runId };
  } catch (error) {
    if (error instanceof NotFoundError) {
      return { available: false, reason: "the log is not available yet (the platform answered 404)" };
    }
    throw error;
  }
}

/** The whole log of a finished job, from its output file; undefined when the job has no such file (yet). */
export async function readFinalLog(
  jobs: Pick<JobsResource, "files">,
  files: Pick<FilesResource, "download">,
  jobId: string,
  options: { file?: string; signal?: AbortSignal } = {},
): Promise<string[] | undefined> {
  const name = options.file ?? PROCESS_OUTPUT_LOG;
  const outputs = await jobs.files(jobId, { search: name, signal: options.signal });
  const file = outputs.find((f) => f.name === name);
  if (!file) return undefined;
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  await files.download(String(file.id), { to: sink, signal: options.signal });
  const lines = Buffer.concat(chunks).toString("utf8").split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
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

/**
 * Follows a running job's log across polls: each `poll()` returns only the lines not returned before, or
 * `{ available: false, reason }` while the log cannot be read (the caller says so instead of printing nothing).
 */
export class LogFollower {
  private seen: string[] = [];
  private path: string | undefined;

  constructor(
    private readonly jobs: Pick<JobsResource, "runs" | "findRunFile" | "tail">,
    private readonly jobId: string,
    private readonly options: { lines?: number; file?: string } = {},
  ) {}

  async poll(signal?: AbortSignal): Promise<LiveLog> {
    const log = await readLiveLog(this.jobs, this.jobId, { ...this.options, knownPath: this.path, signal });
    if (!log.available) {
      this.path = undefined;
      return log;
    }
    this.path = log.path;
    return { ...log, lines: this.take(log.lines) };
  }

  /** Lines of a complete log (e.g. the finished job's file) not yet returned by `poll`. */
  take(lines: readonly string[]): string[] {
    const fresh = newLines(this.seen, lines);
    this.seen = [...this.seen, ...fresh].slice(-(this.options.lines ?? DEFAULT_TAIL_LINES));
    return fresh;
  }
}
