/**
 * Errors the runner raises for problems the user can fix (bad data folder, bad flag, missing model); also
 * `@rescale-run/runner/errors`, which loads nothing else. The CLI prints `message` without a stack trace and exits
 * with `exitCode`.
 */
/** Which user mistake it is, for callers that map errors by kind (the CLI's exit codes) rather than by class. */
export type UserInputErrorKind = "user-input" | "dataset" | "unsupported";

export class UserInputError extends Error {
  readonly kind: UserInputErrorKind = "user-input";
  readonly exitCode: number = EXIT_CODES.userInput;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UserInputError";
  }
}

/** The dataset folder cannot be trained on (empty, single class, too few images per class). */
export class DatasetError extends UserInputError {
  override readonly kind: UserInputErrorKind = "dataset";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DatasetError";
  }
}

/** The requested backend or engine cannot run here (e.g. fine-tuning on wasm). */
export class UnsupportedError extends UserInputError {
  override readonly kind: UserInputErrorKind = "unsupported";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UnsupportedError";
  }
}

/** The run was stopped (SIGTERM, SIGINT or walltime) after saving a checkpoint; `--resume` continues it. */
export class RunInterruptedError extends Error {
  readonly exitCode: number = EXIT_CODES.interrupted;
  constructor(
    readonly reason: string,
    readonly checkpointDir: string,
  ) {
    super(`Run stopped (${reason}); checkpoint saved in ${checkpointDir}. Continue it with --resume.`);
    this.name = "RunInterruptedError";
  }
}

/** Exit codes of `rescale-runner` (documented in docs/runner.md). */
export const EXIT_CODES = {
  ok: 0,
  /** Unexpected internal error (a bug or an environment failure); the stack is printed. */
  internal: 1,
  /** Bad flags, bad dataset, unsupported option: the message says what to fix. */
  userInput: 2,
  /** Stopped by SIGTERM / SIGINT / walltime after writing a checkpoint: resume with --resume. */
  interrupted: 75,
} as const;
