import type { Readable, Writable } from "node:stream";

/** The process edges a command touches; tests pass their own to run the CLI in-process. */
export interface CliIo {
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
  };
}

/** The signals that end a command: Ctrl-C, a closed terminal, `kill`. */
const STOP_SIGNALS = ["SIGINT", "SIGHUP", "SIGTERM"] as const;

/**
 * Turns Ctrl-C, a closed terminal (SIGHUP) and SIGTERM into an abort of `controller`, so a command ends the way
 * it does on Ctrl-C: its in-process platform stops its jobs and temporary directories are removed, instead of
 * node dying on the spot with the job's processes left running. A second signal exits at once (130).
 * Returns the function that removes the handlers.
 */
export function abortOnStopSignals(controller: AbortController, exitCode: number): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === "SIGHUP") {
      // the terminal is gone: writing to it must not throw and cut the cleanup short
      for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
    }
    if (controller.signal.aborted) process.exit(exitCode);
    controller.abort(new Error(signal === "SIGINT" ? "interrupted" : `interrupted by ${signal}`));
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  };
}
