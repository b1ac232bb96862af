/**
 * What a command is and what it gets, in the manner of the GitHub CLI (pkg/cmdutil/factory.go): each command
 * parses argv into its own typed options in one place and runs with a factory that provides its dependencies (the
 * process edges, the printer, the platform, the runner, the clock), the costly ones made on first use. Commands
 * import this module, never cli.ts; tests build a factory of their own.
 */
import type { Argv } from "yargs";
import type { CliIo } from "./io.js";
import type { Output } from "./output.js";
import { loadRunner, type RunnerModule } from "./runner-module.js";
import { openTarget, type Target } from "./target.js";

/** Flags every command accepts. */
export interface GlobalOptions {
  json: boolean;
  profile?: string;
  local: boolean;
  debug: boolean;
  color?: boolean;
}

export interface Factory {
  io: CliIo;
  out: Output;
  globals: GlobalOptions;
  /** Aborted on the first Ctrl-C (SIGINT); commands that wait turn it into a detach. */
  signal: AbortSignal;
  /** The platform the global options select (target.ts), opened on the first call and closed after the command. */
  target(): Promise<Target>;
  /** @rescale-run/runner, loaded on the first call (it pulls in TensorFlow.js and sharp). */
  runner(): Promise<RunnerModule>;
  /** Milliseconds since the epoch. */
  now(): number;
}

/** A factory and the function that releases what it made (the platform, when one was opened). */
export function createFactory(
  edges: Pick<Factory, "io" | "out" | "globals" | "signal">,
): Factory & { close(): Promise<void> } {
  let target: Promise<Target> | undefined;
  return {
    ...edges,
    target: () => {
      target ??= openTarget(edges);
      return target;
    },
    runner: loadRunner,
    now: Date.now,
    close: async () => {
      // A platform that failed to open has nothing to close (its error is the command's).
      const opened = await target?.catch(() => undefined);
      await opened?.close();
    },
  };
}

/** A command: its yargs definition, its options read from the parsed argv, and its run function. */
export interface CommandSpec<Options = Record<string, never>> {
  command: string | string[];
  describe: string;
  builder?: (y: Argv) => Argv;
  /** The parsed argv as this command's options: the one place a command reads argv. */
  options?(argv: Record<string, unknown>): Options;
  /** Resolves to an exit code, or to nothing for success. */
  run?(options: Options, factory: Factory): Promise<unknown>;
  subcommands?: CommandSpec<unknown>[];
}
