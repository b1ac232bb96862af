/**
 * Progress output for long stages: a single self-overwriting status line on a TTY, and `log` lines (one per
 * stage / epoch). Everything is silent when `quiet` (the default when stderr is not a TTY).
 */
export interface Progress {
  /** Overwrites the status line (TTY only). */
  update(text: string): void;
  /** A permanent line (clears the status line first). */
  log(text: string): void;
}

export function createProgress(options: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const quiet = options.quiet ?? !stream.isTTY;
  const tty = Boolean(stream.isTTY);
  let statusShown = false;
  const clear = () => {
    if (statusShown) stream.write("\r\x1b[2K");
    statusShown = false;
  };
  return {
    update(text) {
      if (quiet || !tty) return;
      stream.write(`\r\x1b[2K${text}`);
      statusShown = true;
    },
    log(text) {
      if (quiet) return;
      clear();
      stream.write(`${text}\n`);
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
