/**
 * Exit codes of `rescale-run`, documented in docs/cli.md. Scripts may rely on them.
 */
export const ExitCode = {
  /** The command did what was asked (for `submit`: the job completed successfully). */
  Success: 0,
  /** The job ran and did not succeed ("Completed" with a failure reason, stopped, walltime exceeded). */
  JobFailed: 1,
  /** Bad flags or input: nothing was uploaded or created. */
  Usage: 2,
  /** The API key is missing, invalid or not allowed to do this. */
  Auth: 3,
  /** The job, file, core type or profile does not exist. */
  NotFound: 4,
  /** The platform could not be reached or answered with a server error after retries. */
  Unavailable: 5,
  /** A bug in rescale-run (rerun with --debug and report it). */
  Internal: 70,
  /** Interrupted with Ctrl-C (a job being waited on keeps running; see the printed re-attach hint). */
  Interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
