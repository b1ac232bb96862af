import { readFileSync } from "node:fs";
import yargs, { type Argv } from "yargs";
import { compareCommand } from "./commands/compare.js";
import { configCommand } from "./commands/config.js";
import { coretypesCommand } from "./commands/coretypes.js";
import {
  connectCommand,
  downloadCommand,
  listCommand,
  logsCommand,
  statusCommand,
  stopCommand,
} from "./commands/jobs.js";
import { localCommand } from "./commands/local.js";
import { openCommand } from "./commands/open.js";
import { projectsCommand } from "./commands/projects.js";
import { RUNNER_COMMANDS, runnerCommands, runRunnerCommand } from "./commands/runner.js";
import { softwareCommand } from "./commands/software.js";
import { submitCommand } from "./commands/submit.js";
import { uiCommand } from "./commands/ui.js";
import { CliError, describeError, UsageError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";
import { type AnyCommandSpec, createFactory, type Factory, type GlobalOptions } from "./factory.js";
import { abortOnStopSignals, type CliIo, processIo } from "./io.js";
import { Output } from "./output.js";

/** The command chosen by the parsed argv, with its options: what is left is to run it. */
type Action = (factory: Factory) => Promise<unknown>;

const COMMANDS: AnyCommandSpec[] = [
  submitCommand,
  coretypesCommand,
  listCommand,
  statusCommand,
  logsCommand,
  connectCommand,
  stopCommand,
  downloadCommand,
  compareCommand,
  softwareCommand,
  projectsCommand,
  ...runnerCommands,
  localCommand,
  configCommand,
  openCommand,
  uiCommand,
];

export const EPILOGUE = `Target: --profile NAME or RESCALE_API_KEY selects Rescale; otherwise the local platform on this machine
(a daemon started with \`rescale-run local start\`, or one started for the command).

Exit codes: 0 success, 1 job failed, 2 usage error, 3 authentication, 4 not found, 5 platform unreachable,
70 internal error, 130 interrupted. Docs: docs/cli.md`;

function register(y: Argv, spec: AnyCommandSpec, select: (action: Action) => void): Argv {
  return y.command(
    spec.command,
    spec.describe,
    (sub) => {
      let built = spec.builder ? spec.builder(sub) : sub;
      for (const child of spec.subcommands ?? []) built = register(built, child, select);
      if (spec.subcommands?.length && !spec.run)
        built = built.demandCommand(1, "Name a subcommand (see --help).");
      return built;
    },
    (options) => {
      if (spec.run) select((factory) => spec.run!(options, factory));
    },
  );
}

/** This package's version (package.json sits one level above both src/ and dist/). */
function packageVersion(): string {
  const file = new URL("../package.json", import.meta.url);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

/**
 * `--walltime -5h` would reach yargs as the option `--walltime` with no value and an unknown flag `-5h`. A token
 * that starts with "-" and a digit, right after a long option written without "=", is that option's value:
 * joined as `--walltime=-5h`, it gets the option's own validation message.
 */
export function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const next = argv[i + 1];
    if (/^--[^=-][^=]*$/.test(token) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${token}=${next}`);
      i++;
    } else {
      out.push(token);
    }
  }
  return out;
}

export function buildParser(argv: string[], select: (action: Action) => void, width = 110): Argv {
  let y: Argv = yargs(argv)
    .scriptName("rescale-run")
    .usage("$0 <command> [options]\n\nTrain a ResNet50 ultrasound classifier on Rescale or on this machine.")
    .option("json", {
      type: "boolean",
      default: false,
      describe: "Print the result as JSON on stdout",
      global: true,
    })
    .option("profile", {
      type: "string",
      describe: "Rescale profile from ~/.config/rescale/apiconfig (else RESCALE_API_KEY, else local)",
      global: true,
    })
    .option("local", {
      type: "boolean",
      describe: "Use the local platform even if a Rescale key is configured",
      global: true,
    })
    .option("color", {
      type: "boolean",
      describe: "Colour output (default: only on a terminal)",
      global: true,
    })
    .option("debug", {
      type: "boolean",
      default: false,
      describe: "Show stack traces of errors",
      global: true,
    })
    .conflicts("profile", "local")
    // Without this, `--walltime -5h` reads as the short flags -5 -h and prints help with exit 0.
    .parserConfiguration({ "short-option-groups": false })
    .strict()
    .recommendCommands()
    .demandCommand(1, "Name a command (see --help).")
    .help()
    .alias("h", "help")
    .version(packageVersion())
    .wrap(Math.min(width, 120))
    .epilogue(EPILOGUE)
    .example("$0 submit --cores 4 --walltime 8h", "Train on the demo dataset (local platform without a key)")
    .example(
      "$0 submit --data ./Dataset_BUSI_with_GT --core-type emerald --cores 4 --walltime 8h",
      "On Rescale",
    )
    .example(
      "$0 coretypes compare --cores 4 --walltime 8h",
      "Which core type is cheapest for 4 cores, 8 hours",
    )
    .exitProcess(false)
    .fail((message, error) => {
      if (error) throw error;
      throw new UsageError(
        message ?? "invalid arguments",
        "Run with --help to see the options and examples.",
      );
    }) as unknown as Argv;
  for (const spec of COMMANDS) y = register(y, spec, select);
  return y;
}

/**
 * Runs the CLI in this process and returns its exit code. `bin.ts` calls it with the real process; tests call it
 * with their own io (and nock) to assert the exact requests.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const first = argv[0];
  if (first && RUNNER_COMMANDS.includes(first)) {
    return runRunnerCommand(argv);
  }
  let action: Action | undefined;
  let parsed: Record<string, unknown> | undefined;
  let helpText = "";
  const debug = argv.includes("--debug");
  const out0 = new Output(io, { json: argv.includes("--json") });
  try {
    const args = joinNegativeValues(argv);
    const parser = buildParser(
      args,
      (selected) => {
        action = selected;
      },
      io.stdout.columns ?? 110,
    );
    await new Promise<void>((resolve, reject) => {
      parser.parse(args, {}, (err, result, output) => {
        parsed = result as Record<string, unknown>;
        helpText = output;
        if (err) reject(err);
        else resolve();
      });
    });
  } catch (err) {
    return report(out0, err, debug);
  }
  if (!action) {
    if (helpText) io.stdout.write(`${helpText}\n`);
    return ExitCode.Success;
  }
  const globals: GlobalOptions = {
    json: Boolean(parsed?.json),
    profile: parsed?.profile as string | undefined,
    local: Boolean(parsed?.local),
    debug: Boolean(parsed?.debug),
    color: parsed?.color as boolean | undefined,
  };
  const out = new Output(io, { json: globals.json, color: globals.color });
  const controller = new AbortController();
  const removeSignalHandlers = abortOnStopSignals(controller, ExitCode.Interrupted);
  const factory = createFactory({ io, out, globals, signal: controller.signal });
  try {
    const code = await action(factory).finally(factory.close);
    out.clearStatus();
    return typeof code === "number" ? code : ExitCode.Success;
  } catch (err) {
    // Whatever failed after a Ctrl-C (an upload cut short, a poll aborted) is the interruption, not a bug.
    if (controller.signal.aborted)
      return report(
        out,
        new CliError(
          `${(controller.signal.reason as Error).message}; nothing more was done.`,
          ExitCode.Interrupted,
        ),
        globals.debug,
      );
    return report(out, err, globals.debug);
  } finally {
    removeSignalHandlers();
  }
}

function report(out: Output, err: unknown, debug: boolean): number {
  const d = describeError(err);
  out.clearStatus();
  if (out.json) {
    out.io.stdout.write(
      `${JSON.stringify({ error: { message: d.message, hint: d.hint, exitCode: d.exitCode } }, null, 2)}\n`,
    );
  }
  out.note(`${out.c.red("error:")} ${d.message}`);
  if (d.hint) out.note(`${out.c.dim("hint:")} ${d.hint}`);
  if (debug && err instanceof Error && err.stack) out.note(err.stack);
  return d.exitCode;
}
