import type { LayerFeatures } from "./features/cache.js";
import { FEATURE_LAYERS, type FeatureLayer } from "./features/engine.js";
import { featureKey } from "./features/extract.js";
import { averagePredictions, type FoldTask } from "./fold.js";
import { FoldPoolStoppedError, runFoldTasks } from "./fold-pool.js";
import { featureDim, type HeadConfig, type HeadModel, type LabelledMatrix } from "./head.js";
import { computeMetrics, meanLogLoss } from "./metrics.js";
import { Rng } from "./rng.js";

/** One training example: an image's view and its class. */
export interface Sample {
  file: string;
  hash: string;
  viewId: string;
  label: number;
}

/** Rows of the chosen layers' pooled features, concatenated in the order given. */
export function buildMatrix(
  samples: readonly Sample[],
  layers: readonly FeatureLayer[],
  features: ReadonlyMap<string, LayerFeatures>,
): LabelledMatrix {
  const d = featureDim(layers);
  const x = new Float32Array(samples.length * d);
  const y = new Int32Array(samples.length);
  for (const [i, s] of samples.entries()) {
    const f = features.get(featureKey(s.hash, s.viewId));
    if (!f) throw new Error(`no features for ${s.file} (view ${s.viewId})`);
    let offset = i * d;
    for (const layer of layers) {
      x.set(f[layer], offset);
      offset += FEATURE_LAYERS[layer].dim;
    }
    y[i] = s.label;
  }
  return { x, y, n: samples.length, d };
}

/** An image to classify with test-time augmentation: the head's probabilities averaged over its views. */
export interface EvalImage {
  file: string;
  hash: string;
  label: number;
}

/**
 * Class probabilities (n x classes, row-major) of each image averaged over the views `viewIds` (test-time
 * augmentation; one view id = plain prediction). Every (image, view) must be in `features`.
 */
export function predictOverViews(
  model: HeadModel,
  images: readonly EvalImage[],
  viewIds: readonly string[],
  features: ReadonlyMap<string, LayerFeatures>,
): Float32Array {
  return averagePredictions(
    model,
    viewIds.map((viewId) =>
      buildMatrix(
        images.map((img) => ({ ...img, viewId })),
        model.config.layers,
        features,
      ),
    ),
  );
}

/** A head setting cross-validation chooses among. */
export interface CvCandidate {
  layers: FeatureLayer[];
  l2: number;
  dropout: number;
}

export const LAYER_CHOICES: FeatureLayer[][] = [["conv5"], ["conv4", "conv5"], ["conv3", "conv4", "conv5"]];
/**
 * L2 strengths for the mean-loss objective on standardised features (in scikit-learn terms C = 1 / (2 n l2), about
 * 0.01 and 0.003 for BUSI's ~900 training rows). Weaker L2 (1e-4, 1e-3) gave overconfident heads: 5-fold CV log
 * loss 0.75 against 0.56-0.60 here on the BUSI dev set. With the head trained close to its optimum (cosine-decayed
 * learning rate), dropout 0.2 on top of L2 0.05 left the whole-set CV log loss where it was (bench/head.ts: 0.461
 * against 0.459; accuracy within noise either way) and costs 1.5x the training time, so the candidates leave it out.
 */
export const REGULARISATION_CHOICES = [
  { l2: 0.05, dropout: 0 },
  { l2: 0.2, dropout: 0 },
];
export const DEFAULT_CANDIDATES: CvCandidate[] = LAYER_CHOICES.flatMap((layers) =>
  REGULARISATION_CHOICES.map((reg) => ({ layers, ...reg })),
);

export const candidateName = (c: CvCandidate) => `${c.layers.join("+")} l2=${c.l2} dropout=${c.dropout}`;

export interface CvScore {
  candidate: CvCandidate;
  name: string;
  /** Means over folds, on each fold's held-out images (predictions averaged over the evaluation views). */
  valLoss: number;
  accuracy: number;
  macroF1: number;
  macroAuc: number | null;
  folds: { valLoss: number; accuracy: number; macroF1: number; macroAuc: number | null; epochs: number }[];
}

export interface CvResult {
  k: number;
  best: CvCandidate;
  scores: CvScore[];
  seconds: number;
}

/** An image of the training share with its views (all views train; held out, the first, original, view validates). */
export interface CvImage extends EvalImage {
  viewIds: string[];
}

/**
 * Seeded stratified k folds over images; images with identical content share a fold. Returns a fold per image.
 * k is lowered to the smallest class's count when a class is smaller than k.
 */
export function stratifiedFolds(
  images: readonly CvImage[],
  k: number,
  seed: number,
): { folds: number[]; k: number } {
  const rng = new Rng(seed);
  const classes = [...new Set(images.map((img) => img.label))].sort((a, b) => a - b);
  const groupsByClass = classes.map((label) => {
    const byHash = new Map<string, number[]>();
    for (const [i, img] of images.entries()) {
      if (img.label === label) byHash.set(img.hash, [...(byHash.get(img.hash) ?? []), i]);
    }
    return rng.shuffle([...byHash.values()]);
  });
  const effectiveK = Math.max(2, Math.min(k, ...groupsByClass.map((g) => g.length)));
  const folds = new Array<number>(images.length).fill(0);
  let next = 0;
  for (const groups of groupsByClass) {
    for (const group of groups) {
      for (const i of group) folds[i] = next % effectiveK;
      next++;
    }
  }
  return { folds, k: effectiveK };
}

export interface CrossValidateOptions {
  images: readonly CvImage[];
  features: ReadonlyMap<string, LayerFeatures>;
  classNames: string[];
  base: Omit<HeadConfig, "layers" | "l2" | "dropout">;
  candidates?: CvCandidate[];
  /** Worker threads training folds in parallel (default 1: this thread). Results do not depend on it. */
  workers?: number;
  /** Views whose predictions are averaged to score a held-out image (test-time augmentation). Default: the first. */
  evalViewIds?: string[];
  k?: number;
  seed: number;
  onCandidate?: (score: CvScore) => void;
  shouldStop?: () => boolean;
}

/**
 * Stratified k-fold cross-validation on the training share only: for each candidate, train on k-1 folds (every
 * view), early-stop on the held-out fold's original views and score its predictions averaged over the evaluation
 * views. The best candidate has the lowest mean
 * held-out log loss. Features are cached, so this costs head training only.
 */
export async function crossValidate(options: CrossValidateOptions): Promise<CvResult> {
  const started = performance.now();
  const candidates = options.candidates ?? DEFAULT_CANDIDATES;
  const { folds, k } = stratifiedFolds(options.images, options.k ?? 5, options.seed);
  const numClasses = options.classNames.length;
  const evalViewIds = options.evalViewIds ?? options.images[0]?.viewIds.slice(0, 1) ?? [];
  const heldOut = Array.from({ length: k }, (_, fold) => options.images.filter((_, i) => folds[i] === fold));
  // Task i trains candidate floor(i / k) on every fold but (i mod k).
  const makeTask = (index: number): FoldTask => {
    const candidate = candidates[Math.floor(index / k)]!;
    const fold = index % k;
    const trainSamples: Sample[] = [];
    for (const [i, img] of options.images.entries()) {
      if (folds[i] !== fold) for (const viewId of img.viewIds) trainSamples.push({ ...img, viewId });
    }
    const held = heldOut[fold]!;
    const matrixOf = (viewId: (img: CvImage) => string) =>
      buildMatrix(
        held.map((img) => ({ ...img, viewId: viewId(img) })),
        candidate.layers,
        options.features,
      );
    return {
      config: { ...options.base, ...candidate },
      numClasses,
      seed: options.seed + fold,
      train: buildMatrix(trainSamples, candidate.layers, options.features),
      val: matrixOf((img) => img.viewIds[0]!),
      evalViews: evalViewIds.map((viewId) => matrixOf(() => viewId)),
    };
  };

  const foldScores = candidates.map(() => new Array<CvScore["folds"][number]>(k));
  const done = candidates.map(() => 0);
  const scores: CvScore[] = [];
  const scoreCompleted = () => {
    // Candidates are reported in order, each once all its folds are in.
    while (scores.length < candidates.length && done[scores.length] === k) {
      const c = scores.length;
      const fs = foldScores[c]!;
      const mean = (pick: (f: CvScore["folds"][number]) => number) =>
        fs.reduce((sum, f) => sum + pick(f), 0) / fs.length;
      const aucs = fs.map((f) => f.macroAuc).filter((a): a is number => a !== null);
      const score: CvScore = {
        candidate: candidates[c]!,
        name: candidateName(candidates[c]!),
        valLoss: mean((f) => f.valLoss),
        accuracy: mean((f) => f.accuracy),
        macroF1: mean((f) => f.macroF1),
        macroAuc: aucs.length > 0 ? aucs.reduce((a, b) => a + b, 0) / aucs.length : null,
        folds: fs,
      };
      scores.push(score);
      options.onCandidate?.(score);
    }
  };
  try {
    await runFoldTasks(candidates.length * k, makeTask, {
      workers: options.workers,
      shouldStop: options.shouldStop,
      onOutcome: (index, outcome) => {
        const c = Math.floor(index / k);
        const held = heldOut[index % k]!;
        const rows = held.map((_, i) =>
          Array.from(outcome.probs.subarray(i * numClasses, (i + 1) * numClasses)),
        );
        const yTrue = held.map((img) => img.label);
        const metrics = computeMetrics({ yTrue, probs: rows, classNames: options.classNames });
        foldScores[c]![index % k] = {
          valLoss: meanLogLoss(outcome.probs, yTrue, numClasses),
          accuracy: metrics.accuracy,
          macroF1: metrics.macroF1,
          macroAuc: metrics.macroAuc,
          epochs: outcome.epochs,
        };
        done[c]!++;
        scoreCompleted();
      },
    });
  } catch (error) {
    if (error instanceof FoldPoolStoppedError) throw new CrossValidationStoppedError();
    throw error;
  }
  const best = scores.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
  return { k, best: best.candidate, scores, seconds: (performance.now() - started) / 1000 };
}

export class CrossValidationStoppedError extends Error {
  constructor() {
    super("cross-validation stopped");
    this.name = "CrossValidationStoppedError";
  }
}
