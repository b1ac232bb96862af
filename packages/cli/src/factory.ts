/**
 * What a command is and what it gets, in the manner of the GitHub CLI (pkg/cmdutil/factory.go): each command
 * declares its flags once (their types and defaults; its typed options follow from them) and runs with a factory
 * that provides its dependencies (the process edges, the printer, the platform, the runner, the clock), the costly
 * ones made on first use. Commands import this module, never cli.ts; tests build a factory of their own.
 */
import type { ArgumentsCamelCase, Argv } from "yargs";
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
    target: () => (target ??= openTarget(edges)),
    runner: loadRunner,
    now: Date.now,
    close: async () => {
      // A platform that failed to open has nothing to close (its error is the command's).
      const opened = await target?.catch(() => undefined);
      await opened?.close();
    },
  };
}

/** A command: its yargs definition, and its run function over the options that definition parses. */
export interface CommandSpec<Options = object> {
  command: string | string[];
  describe: string;
  /** The flags, their types, defaults and checks: the one place a command's options are declared. */
  builder?: (y: Argv) => Argv<Options>;
  /** Resolves to an exit code, or to nothing for success. */
  run?(options: ArgumentsCamelCase<Options>, factory: Factory): Promise<unknown>;
  subcommands?: AnyCommandSpec[];
}

// biome-ignore lint/suspicious/noExplicitAny: a list of commands holds each with its own options type
export type AnyCommandSpec = CommandSpec<any>;

/** A command whose options' type is inferred from its builder. */
export const defineCommand = <Options>(spec: CommandSpec<Options>): CommandSpec<Options> => spec;
