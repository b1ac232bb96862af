/**
 * One head training of cross-validation (a candidate on one fold), run in the main thread or in a worker thread
 * (fold-worker.ts). Kept free of sharp and the feature engines so a worker loads only the head.
 */
import { type HeadConfig, type LabelledMatrix, type Matrix, predictHead, trainHead } from "./head.js";

export interface FoldTask {
  config: HeadConfig;
  numClasses: number;
  seed: number;
  train: LabelledMatrix;
  /** The held-out images' original views: early stopping. */
  val: LabelledMatrix;
  /** The held-out images, one matrix per evaluation view (same rows, same order). */
  evalViews: Matrix[];
}

export interface FoldOutcome {
  /** Held-out class probabilities averaged over the evaluation views (rows x classes). */
  probs: Float32Array;
  epochs: number;
}

/** Mean of the head's class probabilities over several views of the same rows. */
export function averagePredictions(
  model: Parameters<typeof predictHead>[0],
  views: readonly Matrix[],
): Float32Array {
  const first = views[0];
  if (!first) throw new RangeError("at least one view is needed to predict");
  const mean = new Float32Array(first.n * model.numClasses);
  for (const view of views) {
    const probs = predictHead(model, view);
    for (let i = 0; i < mean.length; i++) mean[i]! += probs[i]! / views.length;
  }
  return mean;
}

export async function runFold(task: FoldTask): Promise<FoldOutcome> {
  const result = await trainHead(task.config, task.train, task.val, {
    numClasses: task.numClasses,
    seed: task.seed,
  });
  return { probs: averagePredictions(result.model, task.evalViews), epochs: result.history.length };
}
