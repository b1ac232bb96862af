/** A problem the user can fix (bad option, busy port or data directory, damaged file); the message says how. */
export class LocalPlatformError extends Error {
  override name = "LocalPlatformError";
  /** What callers map errors by (the CLI: a usage error, exit 2), instead of the class name. */
  readonly kind = "local-platform" as const;
}

/** The local key file is unreadable or damaged (the message says which file and what to do). */
export class LocalConfigError extends LocalPlatformError {
  override name = "LocalConfigError";
}
