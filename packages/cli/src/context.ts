import type { CliIo } from "./io.js";
import type { Output } from "./output.js";

/** Flags every command accepts. */
export interface GlobalArgs {
  json: boolean;
  profile?: string;
  local: boolean;
  debug: boolean;
  color?: boolean;
}

/** What a command handler gets: the process edges, the printer, the global flags and an abort signal (Ctrl-C). */
export interface CommandContext {
  io: CliIo;
  out: Output;
  globals: GlobalArgs;
  /** Aborted on the first Ctrl-C (SIGINT); commands that wait turn it into a detach. */
  signal: AbortSignal;
}
