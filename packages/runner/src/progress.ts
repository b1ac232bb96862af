/**
 * Progress output for long stages, on stderr. Permanent `log` lines (dataset, stage, cross-validation and epoch
 * lines) are printed whether or not stderr is a terminal, as Keras does; `quiet` silences everything.
 * `update` is the status of a long stage (features 120/546 views, 14 img/s, ETA 32s): on a terminal one line
 * rewritten in place; elsewhere (a pipe, a job's log file) a plain line every few seconds or every 10% of the
 * stage, so a job's log shows where a minute-long extraction stands.
 */
export interface Progress {
  /** The status of a long stage; `step` (done of total) lets a non-terminal print at each 10%. */
  update(text: string, step?: { done: number; total: number }): void;
  /** A permanent line (clears the status line first). */
  log(text: string): void;
}

export interface ProgressOptions {
  quiet?: boolean;
  stream?: Pick<NodeJS.WriteStream, "write"> & { isTTY?: boolean };
  /** Off a terminal: the most time between two status lines of a stage (default 5 s). */
  intervalMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** Off a terminal, a status line is printed at least this often while a stage advances. */
export const STATUS_LINE_INTERVAL_MS = 5000;

export function createProgress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const quiet = options.quiet ?? false;
  const tty = Boolean(stream.isTTY);
  const interval = options.intervalMs ?? STATUS_LINE_INTERVAL_MS;
  const now = options.now ?? Date.now;
  let statusShown = false;
  let lastLineAt = now();
  let lastDecile = -1;
  const clear = () => {
    if (statusShown) stream.write("\r\x1b[2K");
    statusShown = false;
  };
  return {
    update(text, step) {
      if (quiet) return;
      if (tty) {
        stream.write(`\r\x1b[2K${text}`);
        statusShown = true;
        return;
      }
      const decile = step && step.total > 0 ? Math.floor((10 * step.done) / step.total) : -1;
      const t = now();
      if (decile > lastDecile || t - lastLineAt >= interval) {
        stream.write(`${text}\n`);
        lastLineAt = t;
      }
      if (decile >= 0) lastDecile = decile >= 10 ? -1 : decile;
    },
    log(text) {
      if (quiet) return;
      clear();
      stream.write(`${text}\n`);
      lastLineAt = now();
      lastDecile = -1;
    },
  };
}

export const silentProgress: Progress = { update() {}, log() {} };

/** "1m05s" style durations for ETAs. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}
