import type { SCHEMAS } from "./artifacts.js";
import type { CvResult } from "./cv.js";
import type { DeviceChoice, DevicePreference } from "./device.js";
import type { FeatureEngine, FeatureLayer } from "./features/engine.js";
import type { ExtractStats } from "./features/extract.js";
import type { EnginePreference } from "./features/select.js";
import type { FineTuneDepth } from "./finetune-depth.js";
import type { HeadConfig, HeadKind, HeadSolver, TrainHeadResult } from "./head.js";
import type { Metrics } from "./metrics.js";
import type { Progress } from "./progress.js";
import type { FinalFit } from "./rules.js";
import { artifactsStage } from "./stages/artifacts.js";
import { openRun } from "./stages/context.js";
import { datasetStage } from "./stages/dataset.js";
import { evaluationStage } from "./stages/evaluation.js";
import { featuresStage } from "./stages/features.js";
import { modelChoiceStage } from "./stages/model-choice.js";
import { trainingStage } from "./stages/training.js";
import { uploadStage } from "./stages/upload.js";
import type { UploadResult } from "./upload.js";

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
  /**
   * Stop the run cleanly (checkpoint first) when aborted; a string reason (the CLI's "SIGTERM") is what the
   * RunInterruptedError names, otherwise "aborted".
   */
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

/**
 * The training pipeline, one stage after another (stages/*.ts), each reading the shared run context and what the
 * stages before it returned: dataset -> features (cached) -> model choice (cross-validation) -> training (head,
 * checkpointed; fine-tuning) -> evaluation -> artifacts -> upload. Every output lands in `options.out`.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const run = await openRun(options);
  try {
    const data = await datasetStage(run);
    const features = await featuresStage({ ...run, data });
    const choice = await modelChoiceStage({ ...run, data, features });
    const model = await trainingStage({ ...run, data, features, choice });
    const evaluation = await evaluationStage({ ...run, data, model });
    const artifacts = await artifactsStage({ ...run, data, features, choice, model, evaluation });
    const upload = await uploadStage({ ...run, artifacts });
    return {
      outDir: run.out,
      metrics: evaluation.metrics,
      report: artifacts.report,
      zip: artifacts.zip,
      upload,
    };
  } finally {
    await run.close();
  }
}
