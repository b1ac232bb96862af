import path from "node:path";
import { writeHistory } from "../artifacts.js";
import { Checkpointing, EpochProgress, HistoryRecorder } from "../callbacks.js";
import { saveHead } from "../checkpoint.js";
import { buildMatrix, candidateName, type Sample } from "../cv.js";
import type { DatasetImage } from "../dataset.js";
import { UserInputError } from "../errors.js";
import type { LayerFeatures } from "../features/cache.js";
import type { FeatureEngine } from "../features/engine.js";
import { extractFeatures } from "../features/extract.js";
import { engineOrSelect } from "../features/select.js";
import {
  type HeadConfig,
  type HeadModel,
  type HeadTrainingState,
  type TrainHeadResult,
  trainHead,
} from "../head.js";
import { type ExactHeadResult, fitExactHead } from "../logreg.js";
import { PREPROCESS_VERSION } from "../preprocess.js";
import type { RunReport } from "../train.js";
import type { RunContext } from "./context.js";
import type { RunData } from "./dataset.js";
import type { RunFeatures } from "./features.js";
import type { ModelChoice } from "./model-choice.js";

/** The training stage's result: the saved model and what evaluation runs it with. */
export interface TrainedModel {
  /** The head's training: the exact solver's iterations or Adam's epochs as its history. */
  headResult: TrainHeadResult;
  /** The exact solver's solution (undefined for Adam). */
  exactFit: ExactHeadResult | undefined;
  /** The head as saved (after fine-tuning when it ran). */
  head: HeadModel;
  /** Rows of the final fit (images x training views). */
  fitRows: number;
  /** The engine and features the test split is scored with: the fine-tuned backbone's when fine-tuning ran. */
  evalEngine: FeatureEngine;
  evalFeatures: Map<string, LayerFeatures>;
  fineTune: RunReport["fineTune"];
  /** `<out>/model`: head.json (+ the fine-tuned backbone, model.onnx with --export-onnx). */
  modelDir: string;
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

/** The exact solver's iterations as a history: training objective and accuracy (no validation split in the refit). */
function exactResult(fit: ExactHeadResult): TrainHeadResult {
  return {
    model: fit.model,
    history: fit.solution.trace.map((t, i) => ({
      epoch: i + 1,
      loss: t.objective,
      dataLoss: t.dataLoss,
      accuracy: t.accuracy,
      valLoss: Number.NaN,
      valAccuracy: Number.NaN,
    })),
    bestEpoch: fit.solution.iterations,
    stopReason: "max-epochs",
  };
}

/**
 * Stage 4: fits the head with the chosen settings on the fit images (exactly, or Adam epochs checkpointed one by
 * one so a stopped run resumes), optionally fine-tunes the backbone with it on the GPU, and saves the model.
 */
export async function trainingStage(
  ctx: RunContext & { data: RunData; features: RunFeatures; choice: ModelChoice },
): Promise<TrainedModel> {
  const { options, plan, data, progress, checkpoint, seed, out } = ctx;
  const { config, adamEpochs } = ctx.choice;
  const numClasses = data.classNames.length;
  const sample = (img: DatasetImage, viewId: string): Sample => ({ ...img, viewId });
  const fitMatrix = buildMatrix(
    data.fitImages.flatMap((img) => plan.views.map((v) => sample(img, v.id))),
    config.layers,
    ctx.features.features,
  );
  const exactFit = plan.solver === "exact" ? fitExactHead(config, fitMatrix, numClasses) : undefined;
  if (exactFit) {
    const { iterations, objective, gradientMax } = exactFit.solution;
    progress.log(
      `head: ${candidateName(config)} fitted exactly on ${data.fitImages.length} images (${fitMatrix.n} rows): ` +
        `${iterations} L-BFGS iterations, objective ${objective.toFixed(5)}, largest gradient ${gradientMax.toExponential(1)}`,
    );
  }
  const saved = options.resume && !exactFit ? await checkpoint.loadState() : undefined;
  if (saved) {
    if (saved.meta.fingerprint !== data.dataset.fingerprint || saved.meta.seed !== seed) {
      throw new UserInputError(
        "--resume: the checkpoint was made with other data or another seed; use a new --out folder.",
      );
    }
    if (JSON.stringify(saved.meta.config) !== JSON.stringify(config)) {
      throw new UserInputError(
        "--resume: the checkpoint was made with other head options; use the same flags.",
      );
    }
    progress.log(`resuming head training after epoch ${saved.state.epoch}`);
  }
  const meta = { fingerprint: data.dataset.fingerprint, seed, config, finished: false };
  const headResult: TrainHeadResult = exactFit
    ? exactResult(exactFit)
    : saved?.meta.finished === true
      ? finishedResult(config, numClasses, saved.state)
      : await trainHead(config, fitMatrix, undefined, {
          numClasses,
          seed,
          epochs: adamEpochs,
          resume: saved?.state,
          signal: ctx.signal,
          callbacks: [
            new Checkpointing<HeadTrainingState>((state) => checkpoint.saveState(meta, state)),
            new HistoryRecorder((history, bestEpoch) => writeHistory(out, history, bestEpoch)),
            new EpochProgress(
              progress,
              (r) =>
                `epoch ${r.epoch}: loss ${r.loss.toFixed(4)} acc ${r.accuracy.toFixed(3)} ` +
                `val_loss ${r.valLoss.toFixed(4)} val_acc ${r.valAccuracy.toFixed(3)}`,
            ),
          ],
        });
  if (headResult.stopReason === "interrupted") throw ctx.interrupted();
  const finalState = exactFit ? undefined : await checkpoint.loadState();
  if (finalState) await checkpoint.saveState({ ...meta, finished: true }, finalState.state);

  const modelDir = path.join(out, "model");
  let head = headResult.model;
  let evalEngine = ctx.features.engine;
  let evalFeatures = ctx.features.features;
  let fineTune: RunReport["fineTune"] = { ran: false, reason: "not requested (--fine-tune)" };
  if (options.fineTune) {
    // GPU only (openRun checks): TF.js on the WebGPU backend. The fine-tuned backbone is saved under model/ with
    // the Keras layer and weight names, so the same feature engine (ONNX on WebGPU, or on the CPU at predict
    // time) evaluates and predicts with it.
    const { initBackend } = await import("../backend.js");
    await initBackend("webgpu");
    const { fineTuneBackbone } = await import("../finetune.js");
    const tuned = await fineTuneBackbone({
      depth: options.fineTuneDepth ?? "all",
      checkpointDir: path.join(checkpoint.dir, "finetune"),
      resume: options.resume === true,
      head,
      train: data.train,
      val: data.val,
      views: plan.views,
      outDir: modelDir,
      seed,
      limitInputPixels: options.limitInputPixels,
      progress,
      signal: ctx.signal,
    });
    // Stopped (walltime / SIGTERM): the epochs done are checkpointed; --resume continues the fine-tuning.
    if (tuned.stopped) throw ctx.interrupted();
    head = tuned.head;
    const tunedSelection = await engineOrSelect(undefined, {
      ...options,
      device: ctx.device,
      modelDir: tuned.backboneDir,
    });
    const tunedEngine = tunedSelection.engine;
    ctx.onClose(() => tunedEngine.dispose());
    evalEngine = tunedEngine;
    const testJobs = data.test.map((image) => ({ image, views: plan.ttaViews }));
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
  await saveHead(modelDir, head, {
    classNames: data.classNames,
    engineCacheKey: evalEngine.cacheKey,
    preprocessVersion: PREPROCESS_VERSION,
    ttaViews: plan.ttaViews.map((v) => v.id),
    ...(evalEngine === ctx.features.engine ? {} : { backbone: "backbone" }),
  });
  if (options.exportOnnx) {
    const { exportOnnx } = await import("../export-onnx.js");
    const exported = await exportOnnx({ model: modelDir });
    progress.log(`exported ${exported.path} (${(exported.bytes / 1e6).toFixed(1)} MB)`);
  }
  ctx.lap("head");
  return { headResult, exactFit, head, fitRows: fitMatrix.n, evalEngine, evalFeatures, fineTune, modelDir };
}
