/**
 * One head training of cross-validation (a candidate on one fold), run in the main thread or in a worker thread
 * (fold-worker.ts). Kept free of sharp and the feature engines so a worker loads only the head.
 */
import { type HeadConfig, type LabelledMatrix, type Matrix, predictHead, trainHead } from "./head.js";
import { type ExactFoldOutcome, type ExactFoldTask, runExactFold } from "./logreg.js";

/** A fold of the Adam head: one candidate on one split. */
export interface AdamFoldTask {
  kind?: "adam";
  config: HeadConfig;
  numClasses: number;
  seed: number;
  train: LabelledMatrix;
  /** The held-out images' original views: early stopping. */
  val: LabelledMatrix;
  /** The held-out images, one matrix per evaluation view (same rows, same order). */
  evalViews: Matrix[];
}

export interface AdamFoldOutcome {
  kind?: "adam";
  /** Held-out class probabilities averaged over the evaluation views (rows x classes). */
  probs: Float32Array;
  epochs: number;
  /** The epoch whose weights early stopping restored (what a refit without validation trains for). */
  bestEpoch: number;
}

/** A fold task: the Adam head's (one candidate) or the exact solver's (every candidate on the split). */
export type FoldTask = AdamFoldTask | ExactFoldTask;
export type FoldOutcome = AdamFoldOutcome | (ExactFoldOutcome & { kind: "exact" });

/** The typed arrays a task or outcome carries: moved, not copied, between threads. */
export function transferables(value: FoldTask | FoldOutcome): ArrayBuffer[] {
  const arrays: ArrayBufferView[] = [];
  if ("train" in value) {
    arrays.push(value.train.x, value.train.y, ...value.evalViews.map((v) => v.x));
    if ("val" in value) arrays.push(value.val.x, value.val.y);
  } else if (value.kind === "exact") {
    arrays.push(...value.probs);
  } else {
    arrays.push(value.probs);
  }
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
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
  if (task.kind === "exact") return { kind: "exact", ...runExactFold(task) };
  const result = await trainHead(task.config, task.train, task.val, {
    numClasses: task.numClasses,
    seed: task.seed,
  });
  return {
    probs: averagePredictions(result.model, task.evalViews),
    epochs: result.history.length,
    bestEpoch: result.bestEpoch,
  };
}
