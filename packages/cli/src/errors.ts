import { ExitCode, type ExitCodeValue } from "./exit-codes.js";

/** An error the CLI reports as one line plus an optional hint, with a chosen exit code. */
export class CliError extends Error {
  override readonly name: string = "CliError";
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** A user mistake in flags or input, found before anything was uploaded or created. */
export class UsageError extends CliError {
  override readonly name = "UsageError";
  constructor(message: string, hint?: string) {
    super(message, ExitCode.Usage, hint);
  }
}

export class NotFoundError extends CliError {
  override readonly name = "NotFoundError";
  constructor(message: string, hint?: string) {
    super(message, ExitCode.NotFound, hint);
  }
}

/** The job ran (or was stopped) and did not succeed. */
export class JobFailedError extends CliError {
  override readonly name = "JobFailedError";
  constructor(message: string, hint?: string) {
    super(message, ExitCode.JobFailed, hint);
  }
}

export class InterruptedError extends CliError {
  override readonly name = "InterruptedError";
  constructor(message: string, hint?: string) {
    super(message, ExitCode.Interrupted, hint);
  }
}

export interface DescribedError {
  message: string;
  hint?: string;
  exitCode: ExitCodeValue;
}

/**
 * Maps any thrown value to one line, a hint and an exit code. SDK errors are recognised by their class name
 * (one hierarchy in @rescale-run/sdk), so this module does not depend on how the SDK is bundled.
 */
export function describeError(err: unknown): DescribedError {
  if (err instanceof CliError) return { message: err.message, hint: err.hint, exitCode: err.exitCode };
  if (!(err instanceof Error)) return { message: String(err), exitCode: ExitCode.Internal };
  const names = classNames(err);
  const status = (err as { status?: unknown }).status;
  const has = (n: string) => names.includes(n);
  if (has("ProfileNotFoundError"))
    return {
      message: err.message,
      hint: "`rescale-run config list` shows the saved profiles; `rescale-run config set --profile NAME` saves one.",
      exitCode: ExitCode.NotFound,
    };
  if (has("InvalidBaseUrlError"))
    return {
      message: err.message,
      hint: "Fix RESCALE_API_URL or the profile's apibaseurl (`rescale-run config set`).",
      exitCode: ExitCode.Usage,
    };
  if (has("ConfigurationError"))
    return {
      message: err.message,
      hint: "Save a key with `rescale-run config set`, or set RESCALE_API_KEY; without either, commands use the local platform.",
      exitCode: ExitCode.Auth,
    };
  if (
    has("DatasetError") ||
    has("UserInputError") ||
    has("SyntheticDatasetError") ||
    has("LocalPlatformError")
  )
    return { message: err.message, exitCode: ExitCode.Usage };
  if (has("AuthenticationError") || status === 401)
    return {
      message: err.message,
      hint: "Check the API key: `rescale-run config` stores one, or set RESCALE_API_KEY.",
      exitCode: ExitCode.Auth,
    };
  if (has("PermissionError") || has("PermissionDeniedError") || status === 403)
    return { message: err.message, hint: "This key is not allowed to do that.", exitCode: ExitCode.Auth };
  if (has("NotFoundError") || status === 404) return { message: err.message, exitCode: ExitCode.NotFound };
  if (has("ValidationError") || status === 400)
    return { message: err.message, hint: "The platform refused the request.", exitCode: ExitCode.Usage };
  if (has("WalltimeError") || has("WalltimeParseError") || err.name === "RangeError")
    return { message: err.message, exitCode: ExitCode.Usage };
  if (
    has("ConnectionError") ||
    has("TimeoutError") ||
    has("ServerError") ||
    has("RateLimitError") ||
    has("ResponseShapeError")
  )
    return {
      message: err.message,
      hint: "The platform is unreachable or failing; retry later (rescale-run already retried).",
      exitCode: ExitCode.Unavailable,
    };
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    const where = (err as NodeJS.ErrnoException).path;
    return {
      message: `The disk is full${where ? ` writing ${where}` : ""} (${code}).`,
      hint: `Free space on the disk holding ${where ?? "the output folder"} (or pass --out on another disk); a job's outputs stay on the platform: \`rescale-run download <job>\` fetches them again.`,
      exitCode: ExitCode.Usage,
    };
  }
  if (code === "ENOENT" || code === "EACCES" || code === "EISDIR" || code === "ENOTDIR")
    return { message: err.message, exitCode: ExitCode.Usage };
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "ETIMEDOUT")
    return { message: err.message, exitCode: ExitCode.Unavailable };
  return {
    message: err.message,
    hint: "This looks like a bug in rescale-run: rerun with --debug for the stack trace.",
    exitCode: ExitCode.Internal,
  };
}

function classNames(err: Error): string[] {
  const names: string[] = [err.name];
  let proto: object | null = Object.getPrototypeOf(err);
  while (proto && proto !== Error.prototype) {
    const ctor = (proto as { constructor?: { name?: string } }).constructor;
    if (ctor?.name) names.push(ctor.name);
    proto = Object.getPrototypeOf(proto);
  }
  return names;
}
