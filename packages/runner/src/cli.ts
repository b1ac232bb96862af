import yargs from "yargs";
import { BACKEND_CHOICES, type BackendPreference } from "./backend.js";
import { EXIT_CODES, RunInterruptedError, UserInputError } from "./errors.js";
import { FEATURE_LAYER_NAMES, type FeatureLayer } from "./features/engine.js";
import { ENGINE_CHOICES, type EnginePreference } from "./features/select.js";
import { DEFAULT_HEAD_EPOCHS, DEFAULT_LEARNING_RATES, HEAD_KINDS, type HeadKind } from "./head.js";
import { type PredictResult, predict } from "./predict.js";
import { createProgress } from "./progress.js";
import { type TrainResult, train } from "./train.js";

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

function trainSummary(result: TrainResult): string {
  const m = result.metrics;
  const r = result.report;
  const lines = [
    `test accuracy ${m.accuracy.toFixed(3)}  macro F1 ${m.macroF1.toFixed(3)}  macro AUC ${m.macroAuc?.toFixed(3) ?? "n/a"}  (${m.n} images)`,
    `engine ${r.engine.description}`,
    "chosen" in r.crossValidation ? `head ${r.crossValidation.chosen} (${r.crossValidation.k}-fold CV)` : "",
    r.dataset.skipped.length > 0
      ? `skipped ${r.dataset.skipped.length} unreadable file(s): see run.json`
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
  const failed = result.failed.map((f) => `${f.file}: ${f.reason}`);
  return `${[line(header), ...rows.map(line), ...failed].join("\n")}\n`;
}

/**
 * `rescale-runner train|predict`. Returns the exit code: 0 ok, 2 user error (message only), 75 stopped by
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
  const parser = yargs(argv)
    .scriptName("rescale-runner")
    .strict()
    .demandCommand(1, "name a command: train or predict")
    .option("engine", { choices: ENGINE_CHOICES, default: "auto", describe: "feature engine" })
    .option("backend", { choices: BACKEND_CHOICES, default: "auto", describe: "TF.js backend (tfjs engine)" })
    .option("threads", { type: "number", describe: "threads for feature extraction (default: all cores)" })
    .option("cache-dir", { type: "string", describe: "cache root (default $XDG_CACHE_HOME/rescale-run)" })
    .option("json", { type: "boolean", default: false, describe: "print the result as JSON" })
    .command(
      "train",
      "train a classifier on an image-folder dataset",
      (y) =>
        y
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
          .option("views", {
            type: "number",
            default: 2,
            describe: "augmented views per training image (1-6)",
          })
          .option("tta", {
            type: "number",
            default: 2,
            describe:
              "test-time augmentation: average the predictions over this many views (1 = original image only, 2 = + its mirror image)",
          })
          .option("head", { choices: HEAD_KINDS, default: "dense" })
          .option("layers", {
            type: "array",
            choices: FEATURE_LAYER_NAMES,
            describe: "fix the feature layers",
          })
          .option("cv-folds", { type: "number", default: 5, describe: "cross-validation folds (0 = off)" })
          .option("resume", { type: "boolean", default: false, describe: "continue a stopped run in --out" })
          .option("upload", {
            type: "boolean",
            describe: "upload artifacts to Rescale (default: only on a workstation)",
          })
          .option("profile", { type: "string", describe: "Rescale profile for --upload" })
          .option("fine-tune", {
            type: "boolean",
            default: false,
            describe: "fine-tune ResNet stage 5 (GPU only)",
          })
          .option("time-limit", { type: "number", describe: "seconds before a clean stop (walltime)" })
          .option("quiet", {
            type: "boolean",
            describe:
              "no progress lines (default: quiet when stderr is not a terminal; --no-quiet forces them)",
          }),
      async (args) => {
        try {
          const result = await train({
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
            resume: args.resume,
            upload: args.upload ?? "auto",
            profile: args.profile,
            fineTune: args["fine-tune"],
            timeLimitSeconds: args["time-limit"],
            engine: args.engine as EnginePreference,
            backend: args.backend as BackendPreference,
            threads: args.threads,
            cacheDir: args["cache-dir"],
            progress: createProgress({ quiet: args.quiet }),
          });
          io.stdout(
            args.json
              ? `${JSON.stringify({ ...result.report, upload: result.upload }, null, 2)}\n`
              : trainSummary(result),
          );
        } catch (error) {
          fail(error);
        }
      },
    )
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
            backend: args.backend as BackendPreference,
            threads: args.threads,
            cacheDir: args["cache-dir"],
          });
          io.stdout(args.json ? `${JSON.stringify(result, null, 2)}\n` : predictTable(result));
          if (result.predictions.length === 0) exitCode = EXIT_CODES.userInput;
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
