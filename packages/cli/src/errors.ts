import type { LocalPlatformError } from "@rescale-run/local";
import type { UserInputErrorKind } from "@rescale-run/runner/errors";
import type { RescaleErrorKind } from "@rescale-run/sdk";
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

export type DescribedError = { message: string; hint?: string; exitCode: ExitCodeValue };

/** Every kind the packages below the CLI give their errors (`kind` on the error). */
type ErrorKind = RescaleErrorKind | UserInputErrorKind | LocalPlatformError["kind"];

const INTERNAL = {
  exitCode: ExitCode.Internal,
  hint: "This looks like a bug in rescale-run: rerun with --debug for the stack trace.",
} as const;
const UNAVAILABLE = {
  exitCode: ExitCode.Unavailable,
  hint: "The platform is unreachable or failing; retry later (rescale-run already retried).",
} as const;
const USAGE = { exitCode: ExitCode.Usage } as const;
const VALIDATION = { exitCode: ExitCode.Usage, hint: "The platform refused the request." } as const;

/** Error kind -> exit code and hint: the one table the CLI maps the SDK's, the runner's and local's errors by. */
const BY_KIND: Record<ErrorKind, { exitCode: ExitCodeValue; hint?: string }> = {
  "profile-not-found": {
    exitCode: ExitCode.NotFound,
    hint: "`rescale-run config list` shows the saved profiles; `rescale-run config set --profile NAME` saves one.",
  },
  "invalid-base-url": {
    exitCode: ExitCode.Usage,
    hint: "Fix RESCALE_API_URL or the profile's apibaseurl (`rescale-run config set`).",
  },
  configuration: {
    exitCode: ExitCode.Auth,
    hint: "Save a key with `rescale-run config set`, or set RESCALE_API_KEY; without either, commands use the local platform.",
  },
  auth: {
    exitCode: ExitCode.Auth,
    hint: "Check the API key: `rescale-run config` stores one, or set RESCALE_API_KEY.",
  },
  permission: { exitCode: ExitCode.Auth, hint: "This key is not allowed to do that." },
  "not-found": { exitCode: ExitCode.NotFound },
  validation: VALIDATION,
  "project-required": VALIDATION,
  walltime: USAGE,
  "user-input": USAGE,
  dataset: USAGE,
  unsupported: USAGE,
  "local-platform": USAGE,
  connection: UNAVAILABLE,
  timeout: UNAVAILABLE,
  server: UNAVAILABLE,
  "rate-limit": UNAVAILABLE,
  "response-shape": UNAVAILABLE,
  // A job an SDK waiter watched ended unsuccessfully: the job's failure, as the CLI's own waits report it.
  "job-failed": { exitCode: ExitCode.JobFailed },
  // An undocumented 4xx, a client-side check: neither is expected to reach the CLI.
  conflict: INTERNAL,
  other: INTERNAL,
};

/** The `kind` of an error from the SDK, the runner or the local platform; undefined for anything else. */
export function errorKind(err: unknown): ErrorKind | undefined {
  const kind = (err as { kind?: unknown } | null)?.kind;
  return typeof kind === "string" && Object.hasOwn(BY_KIND, kind) ? (kind as ErrorKind) : undefined;
}

/**
 * Maps any thrown value to one line, a hint and an exit code: the CLI's own errors carry theirs; the SDK's, the
 * runner's and local's are looked up by `kind` (a string, so this does not depend on how each package is
 * bundled); Node's system errors by `code`; anything else is a bug.
 */
export function describeError(err: unknown): DescribedError {
  if (err instanceof CliError) return { message: err.message, hint: err.hint, exitCode: err.exitCode };
  if (!(err instanceof Error)) return { message: String(err), exitCode: ExitCode.Internal };
  const kind = errorKind(err);
  if (kind) return { message: err.message, ...BY_KIND[kind] };
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
  return { message: err.message, ...INTERNAL };
}
