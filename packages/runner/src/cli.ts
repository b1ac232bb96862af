import yargs, { type Argv } from "yargs";
import {
  DEVICE_CHOICES,
  type DevicePreference,
  decideDevice,
  describeDevice,
  describeProbe,
  probeDevice,
} from "./device.js";
import { EXIT_CODES, RunInterruptedError, UserInputError } from "./errors.js";
import { type ExportOnnxResult, exportOnnx } from "./export-onnx.js";
import { FEATURE_LAYER_NAMES, type FeatureLayer } from "./features/engine.js";
import { ENGINE_CHOICES, type EnginePreference } from "./features/select.js";
import { FINE_TUNE_DEPTHS, type FineTuneDepth } from "./finetune-depth.js";
import {
  DEFAULT_HEAD_EPOCHS,
  DEFAULT_LEARNING_RATES,
  HEAD_KINDS,
  HEAD_SOLVERS,
  type HeadKind,
  type HeadSolver,
} from "./head.js";
import { type PredictResult, predict } from "./predict.js";
import { createProgress } from "./progress.js";
import { checkTrainOptions, FINAL_FITS, type FinalFit, JOB_OWNED_RUNNER_FLAGS } from "./rules.js";
import { type TrainOptions, type TrainResult, train } from "./train.js";

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** The human summary of a finished training run (stdout without --json). */
export function trainSummary(result: TrainResult): string {
  const m = result.metrics;
  const r = result.report;
  const ci = m.confidenceIntervals;
  const range = (i: { low: number; high: number } | null | undefined) =>
    i ? ` (95% CI ${i.low.toFixed(3)}-${i.high.toFixed(3)})` : "";
  const lines = [
    r.test.heldOut
      ? ""
      : "test split NOT held out (--final-fit all trained on it): its figures are no measure",
    `test accuracy ${m.accuracy.toFixed(3)}${range(ci?.accuracy)}  macro AUC ${m.macroAuc?.toFixed(3) ?? "n/a"}${range(ci?.macroAuc)}  (${m.n} images)`,
    `balanced accuracy ${m.balancedAccuracy.toFixed(3)}  macro F1 ${m.macroF1.toFixed(3)}  kappa ${m.cohenKappa?.toFixed(3) ?? "n/a"}  log loss ${m.logLoss.toFixed(3)}`,
    ...m.perClass.map(
      (c) =>
        `  ${c.className}: sensitivity ${c.recall.toFixed(3)}  specificity ${c.specificity.toFixed(3)}  ` +
        `precision ${c.precision.toFixed(3)}  F1 ${c.f1.toFixed(3)}  (n ${c.support})`,
    ),
    `device ${describeDevice(r.device)}`,
    `engine ${r.engine.description}`,
    "chosen" in r.crossValidation
      ? `head ${r.crossValidation.chosen} (${r.crossValidation.k}-fold x ${r.crossValidation.repeats} CV, ${r.crossValidation.solver})`
      : "",
    `saved model fitted on ${r.finalFit.images} (${r.finalFit.count} images)`,
    r.dataset.skipped.length > 0
      ? `skipped ${r.dataset.skipped.length} file(s) (unreadable, or the same image in two classes): see run.json`
      : "",
    `outputs in ${result.outDir} (artifacts.zip)`,
    result.upload.status === "uploaded"
      ? `uploaded: ${result.upload.files.map((f) => `${f.name}=${f.id}`).join(", ")}`
      : "",
    result.upload.status === "failed"
      ? `WARNING: the upload failed (${result.upload.reason}); the training succeeded and its artifacts are kept in ${result.outDir}`
      : "",
  ];
  return `${lines.filter(Boolean).join("\n")}\n`;
}

function predictTable(result: PredictResult): string {
  const header = ["file", "class", ...result.classNames];
  const rows = result.predictions.map((p) => [
    p.file,
    p.className,
    ...result.classNames.map((c) => p.probabilities[c]!.toFixed(4)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}

/** Options of every command (before or after the command name). */
function globalOptions<T>(y: Argv<T>) {
  return y
    .option("engine", { choices: ENGINE_CHOICES, default: "auto", describe: "feature engine" })
    .option("device", {
      choices: DEVICE_CHOICES,
      default: "auto",
      describe:
        "where features and fine-tuning run: auto = a hardware GPU (WebGPU over Vulkan) when one exists, else the CPU; gpu = fail with the reason if there is none",
    })
    .option("threads", { type: "number", describe: "threads for feature extraction (default: all cores)" })
    .option("cache-dir", { type: "string", describe: "cache root (default $XDG_CACHE_HOME/rescale-run)" })
    .option("json", { type: "boolean", default: false, describe: "print the result as JSON" });
}

/** The options of `train`: the runner's CLI and `checkTrainArgs` (what `submit` checks) parse the same ones. */
function trainOptions<T>(y: Argv<T>) {
  return y
    .option("data", {
      type: "string",
      demandOption: true,
      describe: "dataset folder, one subfolder per class",
    })
    .option("out", { type: "string", default: "outputs", describe: "output folder" })
    .option("epochs", {
      type: "number",
      default: DEFAULT_HEAD_EPOCHS,
      describe:
        "head training epochs; the learning rate decays to 0 over them (early stopping may end sooner)",
    })
    .option("batch-size", { type: "number", default: 32 })
    .option("learning-rate", {
      type: "number",
      describe: `peak learning rate (default ${DEFAULT_LEARNING_RATES.dense} for the dense head, ${DEFAULT_LEARNING_RATES.flatten} for flatten)`,
    })
    .option("patience", { type: "number", default: 10, describe: "early-stopping patience (epochs)" })
    .option("start-from-epoch", {
      type: "number",
      describe:
        "early stopping watches the validation loss only after this epoch (default: half of --epochs)",
    })
    .option("seed", { type: "number", default: 42 })
    .option("views", { type: "number", default: 2, describe: "augmented views per training image (1-6)" })
    .option("tta", {
      type: "number",
      default: 2,
      describe:
        "test-time augmentation: average the predictions over this many views (1 = original image only, 2 = + its mirror image)",
    })
    .option("head", { choices: HEAD_KINDS, default: "dense" })
    .option("layers", { type: "array", choices: FEATURE_LAYER_NAMES, describe: "fix the feature layers" })
    .option("solver", {
      choices: HEAD_SOLVERS,
      describe:
        "exact: the dense head's optimum by L-BFGS, no epochs (default for --head dense); adam: mini-batch epochs (--head flatten)",
    })
    .option("cv-folds", { type: "number", default: 5, describe: "cross-validation folds (0 = off)" })
    .option("cv-repeats", {
      type: "number",
      default: 1,
      describe: "repeats of the k-fold cross-validation, each with its own folds",
    })
    .option("final-fit", {
      choices: FINAL_FITS,
      default: "train+val",
      describe:
        "what the saved model is fitted on after CV: train+val (test split held out and measured) or all (test split too: for use, its test figures are no measure)",
    })
    .option("resume", { type: "boolean", default: false, describe: "continue a stopped run in --out" })
    .option("upload", {
      type: "boolean",
      describe: "upload artifacts to Rescale (default: only on a workstation)",
    })
    .option("profile", { type: "string", describe: "Rescale profile for --upload" })
    .option("fine-tune", {
      type: "boolean",
      default: false,
      describe: "fine-tune the ResNet backbone with the head after head training (needs the GPU)",
    })
    .option("fine-tune-depth", {
      choices: FINE_TUNE_DEPTHS,
      default: "all" as FineTuneDepth,
      describe: "the stages --fine-tune trains: every convolution, res4+res5, or res5",
    })
    .option("time-limit", { type: "number", describe: "seconds before a clean stop (walltime)" })
    .option("export-onnx", {
      type: "boolean",
      default: false,
      describe:
        "also write model/model.onnx (backbone + head, about 95 MB; `rescale-runner export` does it later)",
    })
    .option("quiet", {
      type: "boolean",
      default: false,
      describe:
        "no dataset, cross-validation and epoch lines (they are printed to stderr whether or not it is a terminal)",
    });
}

/** What yargs hands the `train` handler (global and train options). */
interface ParsedTrainArgs {
  data: string;
  out: string;
  epochs: number;
  "batch-size": number;
  "learning-rate"?: number;
  patience: number;
  "start-from-epoch"?: number;
  seed: number;
  views: number;
  tta: number;
  head: string;
  layers?: (string | number)[];
  solver?: string;
  "cv-folds": number;
  "cv-repeats": number;
  "final-fit": string;
  resume: boolean;
  upload?: boolean;
  profile?: string;
  "fine-tune": boolean;
  "fine-tune-depth": string;
  "time-limit"?: number;
  "export-onnx": boolean;
  engine: string;
  device: string;
  threads?: number;
  "cache-dir"?: string;
}

/** Parsed `train` flags as TrainOptions (without progress). */
function trainValues(args: ParsedTrainArgs): Omit<TrainOptions, "progress"> {
  return {
    data: args.data,
    out: args.out,
    epochs: args.epochs,
    batchSize: args["batch-size"],
    learningRate: args["learning-rate"],
    patience: args.patience,
    startFromEpoch: args["start-from-epoch"],
    seed: args.seed,
    views: args.views,
    tta: args.tta,
    head: args.head as HeadKind,
    layers: args.layers as FeatureLayer[] | undefined,
    cvFolds: args["cv-folds"],
    cvRepeats: args["cv-repeats"],
    solver: args.solver as HeadSolver | undefined,
    finalFit: args["final-fit"] as FinalFit,
    resume: args.resume,
    upload: args.upload ?? "auto",
    profile: args.profile,
    fineTune: args["fine-tune"],
    fineTuneDepth: args["fine-tune-depth"] as FineTuneDepth,
    timeLimitSeconds: args["time-limit"],
    exportOnnx: args["export-onnx"],
    engine: args.engine as EnginePreference,
    device: args.device as DevicePreference,
    threads: args.threads,
    cacheDir: args["cache-dir"],
  };
}

/**
 * Checks extra `rescale-runner train` arguments as the runner will (known flags, valid values) without training:
 * `submit` calls it before uploading anything. Flags the job sets itself are refused. Throws UserInputError.
 */
export function checkTrainArgs(extra: readonly string[]): void {
  const owned = extra.find((a) => JOB_OWNED_RUNNER_FLAGS.some((f) => a === f || a.startsWith(`${f}=`)));
  if (owned) {
    throw new UserInputError(
      `${owned.split("=")[0]} is set by the job itself and cannot be passed to the runner`,
    );
  }
  const parsed = globalOptions(yargs(["train", "--data", "<job dataset>", ...extra]))
    .strict()
    .command("train", "", trainOptions)
    .fail((message, error) => {
      throw error ?? new UserInputError(`runner option: ${message}`);
    })
    .exitProcess(false)
    .help(false)
    .version(false)
    .parseSync() as unknown as ParsedTrainArgs;
  checkTrainOptions(trainValues(parsed));
}

/**
 * What `predict` says besides the table (stderr) and its exit code. Any unreadable image is a failure (exit 2),
 * even when the others were classified: a script must not take a partial table for a complete one. Masks and
 * non-images named explicitly are skipped with a note, not failures.
 */
export function predictOutcome(result: PredictResult): { stderr: string; exitCode: number } {
  const lines = [
    ...result.notes.map((note) => `note: ${note}`),
    ...result.skipped.map((s) => `skipped ${s.file}: ${s.reason}`),
    ...result.failed.map((f) => `error: ${f.file}: ${f.reason}`),
  ];
  const total = result.failed.length + result.predictions.length;
  if (result.failed.length > 0)
    lines.push(`error: ${result.failed.length} of ${total} image(s) could not be classified`);
  return {
    stderr: lines.map((l) => `${l}\n`).join(""),
    exitCode: result.failed.length > 0 ? EXIT_CODES.userInput : EXIT_CODES.ok,
  };
}

function exportSummary(result: ExportOnnxResult): string {
  const lines = [
    `wrote ${result.path} (${(result.bytes / 1e6).toFixed(1)} MB)`,
    `input "image": float32 [n, 224, 224, 3], RGB 0..255; output "probabilities": [${result.classNames.join(", ")}]`,
    `views averaged in the graph: ${result.graphViews.join(" + ")}`,
    result.viewsNotInGraph.length > 0
      ? `note: predict also averages ${result.viewsNotInGraph.join(", ")}, which the graph does not`
      : "",
  ];
  return `${lines.filter(Boolean).join("\n")}\n`;
}

/**
 * `rescale-runner train|predict|export`. Returns the exit code: 0 ok, 2 user error (message only), 75 stopped by
 * SIGTERM / walltime after a checkpoint (resume with --resume), 1 unexpected error (with stack).
 */
export async function runRunnerCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let exitCode: number = EXIT_CODES.ok;
  const fail = (error: unknown) => {
    if (error instanceof RunInterruptedError) {
      io.stderr(`${error.message}\n`);
      exitCode = EXIT_CODES.interrupted;
    } else if (error instanceof UserInputError) {
      io.stderr(`error: ${error.message}\n`);
      exitCode = EXIT_CODES.userInput;
    } else {
      io.stderr(
        `internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      exitCode = EXIT_CODES.internal;
    }
  };
  const parser = globalOptions(yargs(argv))
    .scriptName("rescale-runner")
    .strict()
    .demandCommand(1, "name a command: train, predict, export or device")
    .command("train", "train a classifier on an image-folder dataset", trainOptions, async (args) => {
      // SIGTERM (a job's walltime or Stop) and Ctrl-C stop the run cleanly: checkpoint, exit 75, --resume.
      const stop = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => stop.abort(signal);
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      try {
        const result = await train({
          // yargs types a command handler without the parent's options; they are there at run time.
          ...trainValues(args as unknown as ParsedTrainArgs),
          progress: createProgress({ quiet: args.quiet }),
          signal: stop.signal,
        });
        io.stdout(
          args.json
            ? `${JSON.stringify({ ...result.report, upload: result.upload }, null, 2)}\n`
            : trainSummary(result),
        );
      } catch (error) {
        fail(error);
      } finally {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
      }
    })
    .command(
      "predict <images..>",
      "classify images (files or folders) with a trained model",
      (y) =>
        y
          .positional("images", { type: "string", array: true, demandOption: true })
          .option("model", { type: "string", default: "outputs", describe: "training --out folder" }),
      async (args) => {
        try {
          const result = await predict({
            inputs: args.images as string[],
            model: args.model,
            engine: args.engine as EnginePreference,
            device: args.device as DevicePreference,
            threads: args.threads,
            cacheDir: args["cache-dir"],
          });
          if (result.predictions.length > 0 || args.json) {
            io.stdout(args.json ? `${JSON.stringify(result, null, 2)}\n` : predictTable(result));
          }
          const outcome = predictOutcome(result);
          io.stderr(outcome.stderr);
          exitCode = outcome.exitCode;
        } catch (error) {
          fail(error);
        }
      },
    )
    .command(
      "export",
      "write a trained model as one ONNX file (backbone + head, preprocessing inside) for onnxruntime",
      (y) =>
        y
          .option("model", { type: "string", default: "outputs", describe: "training --out folder" })
          .option("out", { type: "string", describe: "file to write (default <model>/model/model.onnx)" })
          .example("$0 export --model ./outputs", "writes ./outputs/model/model.onnx (about 95 MB)")
          .epilog(
            "Input 'image': float32 [n, 224, 224, 3] RGB 0..255 (the image stretched to 224x224); output " +
              "'probabilities': [n, classes]. Class names and preprocessing are in the file's metadata; " +
              "docs/runner.md has a Python example.",
          ),
      async (args) => {
        try {
          io.stderr(`exporting the model in ${args.model} to ONNX (about 95 MB; a few seconds)...\n`);
          const result = await exportOnnx({ model: args.model, out: args.out });
          io.stdout(args.json ? `${JSON.stringify(result, null, 2)}\n` : exportSummary(result));
        } catch (error) {
          fail(error);
        }
      },
    )
    .command(
      "device",
      "say what the GPU check finds (Vulkan loader, GPU device nodes, WebGPU adapter) and which device --device would use",
      (y) => y,
      async (args) => {
        try {
          const probe = await probeDevice(true);
          const preference = args.device as DevicePreference;
          let decision: string;
          let choice: ReturnType<typeof decideDevice> | undefined;
          try {
            choice = decideDevice(preference, probe);
            decision = describeDevice(choice);
          } catch (error) {
            decision = (error as Error).message;
            exitCode = EXIT_CODES.userInput;
          }
          io.stdout(
            args.json
              ? `${JSON.stringify({ probe, preference, choice: choice ?? null, decision }, null, 2)}\n`
              : `${[...describeProbe(probe), `--device ${preference}: ${decision.replace(/^--device gpu: /, "")}`].join("\n")}\n`,
          );
        } catch (error) {
          fail(error);
        }
      },
    )
    .fail((message, error) => {
      // Throwing stops yargs from running the command handler after a validation failure.
      throw error ?? new UserInputError(`${message}\nRun rescale-runner --help for usage.`);
    })
    .exitProcess(false)
    .wrap(Math.min(110, process.stdout.columns || 110))
    .help();
  try {
    await parser.parseAsync();
  } catch (error) {
    fail(error);
  }
  return exitCode;
}
