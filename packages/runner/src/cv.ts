import type { LayerFeatures } from "./features/cache.js";
import { FEATURE_LAYER_NAMES, FEATURE_LAYERS, type FeatureLayer } from "./features/engine.js";
import { featureKey } from "./features/extract.js";
import { averagePredictions, type FoldTask } from "./fold.js";
import { FoldPoolStoppedError, runFoldTasks } from "./fold-pool.js";
import { featureDim, type HeadConfig, type HeadModel, type HeadSolver, type LabelledMatrix } from "./head.js";
import type { ExactFoldTask } from "./logreg.js";
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

/** Every non-empty set of the three stages: each alone and their unions (what feeds the head matters most). */
export const STAGE_SETS: FeatureLayer[][] = [
  ["conv3"],
  ["conv4"],
  ["conv5"],
  ["conv3", "conv4"],
  ["conv3", "conv5"],
  ["conv4", "conv5"],
  ["conv3", "conv4", "conv5"],
];
/**
 * The exact solver's L2 path (mean-loss objective on standardised features; scikit-learn's C = 1 / (2 n l2), so
 * 0.03 is C ~ 0.02 for ~800 rows). On the BUSI dev set (5-fold CV over all 546 images, 80% training, orig + flip)
 * the held-out log loss was lowest at 0.1 for most stage sets and accuracy highest at 0.01-0.03; 0.3 and 1 were
 * worse for every stage set in both (docs/runner.md), so the path leaves them out (each L2 costs CV time).
 */
export const EXACT_L2_PATH = [0.1, 0.03, 0.01];
export const EXACT_CANDIDATES: CvCandidate[] = STAGE_SETS.flatMap((layers) =>
  EXACT_L2_PATH.map((l2) => ({ layers, l2, dropout: 0 })),
);

/** The exact solver's setting without cross-validation (--cv-folds 0): the best whole-set CV log loss measured. */
export const EXACT_DEFAULT: CvCandidate = { layers: ["conv3", "conv4", "conv5"], l2: 0.1, dropout: 0 };

/** The Adam head's candidates (each costs a full training per fold, so the grid stays small). */
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

export interface CvFoldScore {
  valLoss: number;
  accuracy: number;
  macroF1: number;
  macroAuc: number | null;
  /** Adam: epochs trained and the epoch early stopping restored. The exact solver has no epochs. */
  epochs?: number;
  bestEpoch?: number;
}

export interface CvScore {
  candidate: CvCandidate;
  name: string;
  /** Means over folds (k x repeats), on each fold's held-out images (predictions averaged over the evaluation views). */
  valLoss: number;
  accuracy: number;
  macroF1: number;
  macroAuc: number | null;
  folds: CvFoldScore[];
}

export interface CvResult {
  k: number;
  /** Repeats of the k folds, each with its own seeded folding (absent in checkpoints from before repeats: 1). */
  repeats?: number;
  solver?: HeadSolver;
  best: CvCandidate;
  scores: CvScore[];
  seconds: number;
}

/** An image of the training share with its views (all views train; held out, the first, original, view validates). */
export interface CvImage extends EvalImage {
  viewIds: string[];
}

/** Every training view of each image, in image order: the rows a head is fitted on. */
function trainingSamples(images: readonly CvImage[]): Sample[] {
  return images.flatMap((img) => img.viewIds.map((viewId) => ({ ...img, viewId })));
}

/** The held-out images as one matrix per evaluation view (same rows, the chosen layers). */
function evalViewMatrices(
  heldOut: readonly CvImage[],
  evalViewIds: readonly string[],
  layers: readonly FeatureLayer[],
  features: ReadonlyMap<string, LayerFeatures>,
) {
  return evalViewIds.map((viewId) =>
    buildMatrix(
      heldOut.map((img) => ({ ...img, viewId })),
      layers,
      features,
    ),
  );
}

/**
 * The exact solver's task for one split: every layer set at every L2 fitted on `training` (each image's views)
 * and scored on `heldOut`, predictions averaged over `evalViewIds`. Cross-validation and the benchmarks' folds
 * are built by it; `runExactFold` (or a fold worker) solves it.
 */
export function exactFoldTask(options: {
  training: readonly CvImage[];
  heldOut: readonly CvImage[];
  evalViewIds: readonly string[];
  features: ReadonlyMap<string, LayerFeatures>;
  numClasses: number;
  layerSets: FeatureLayer[][];
  l2s: number[];
}): ExactFoldTask {
  return {
    kind: "exact",
    numClasses: options.numClasses,
    train: buildMatrix(trainingSamples(options.training), FEATURE_LAYER_NAMES, options.features),
    evalViews: evalViewMatrices(options.heldOut, options.evalViewIds, FEATURE_LAYER_NAMES, options.features),
    layerSets: options.layerSets,
    l2s: options.l2s,
  };
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
  /** The Adam head's settings (ignored by the exact solver, which needs none). */
  base: Omit<HeadConfig, "layers" | "l2" | "dropout">;
  /** "adam" (default): one head training per candidate and fold; "exact": every candidate of a fold in one task. */
  solver?: HeadSolver;
  /** Default: EXACT_CANDIDATES for the exact solver, DEFAULT_CANDIDATES for Adam. */
  candidates?: CvCandidate[];
  /** Worker threads training folds in parallel (default 1: this thread). Results do not depend on it. */
  workers?: number;
  /** Views whose predictions are averaged to score a held-out image (test-time augmentation). Default: the first. */
  evalViewIds?: string[];
  k?: number;
  /** Repeats of the k-fold split, repeat r folded with seed + r (default 1). */
  repeats?: number;
  seed: number;
  onCandidate?: (score: CvScore) => void;
  /** Stops cross-validation (running fold workers are terminated); it rejects with CrossValidationStoppedError. */
  signal?: AbortSignal;
}

/** The fold of every image in each repeat: one folding per repeat, shared by every candidate. */
export function repeatedFolds(
  images: readonly CvImage[],
  k: number,
  repeats: number,
  seed: number,
): { foldings: number[][]; k: number } {
  const foldings = Array.from({ length: repeats }, (_, r) => stratifiedFolds(images, k, seed + r));
  return { foldings: foldings.map((f) => f.folds), k: foldings[0]?.k ?? k };
}

/** The exact solver's candidates, grouped into (layer sets) x (L2 path) as one exact fold task solves them. */
function exactGrid(candidates: readonly CvCandidate[]): { layerSets: FeatureLayer[][]; l2s: number[] } {
  const layerSets: FeatureLayer[][] = [];
  const l2s: number[] = [];
  for (const c of candidates) {
    if (!layerSets.some((s) => s.join("+") === c.layers.join("+"))) layerSets.push(c.layers);
    if (!l2s.includes(c.l2)) l2s.push(c.l2);
  }
  return { layerSets, l2s };
}

/**
 * Stratified k-fold cross-validation (repeated) on the training share only. Adam: for each candidate, train on
 * k-1 folds (every view), early-stop on the held-out fold's original views. Exact: one task per fold solves
 * every (layer set, L2) to its optimum. Either way the held-out fold is scored with its predictions averaged over
 * the evaluation views, every candidate sees the same folds, and the best candidate has the lowest mean held-out
 * log loss. Features are cached, so this costs head training only.
 */
export async function crossValidate(options: CrossValidateOptions): Promise<CvResult> {
  const started = performance.now();
  const solver = options.solver ?? "adam";
  const exact = solver === "exact";
  const given = options.candidates ?? (exact ? EXACT_CANDIDATES : DEFAULT_CANDIDATES);
  // The exact solver scores the full (layer sets) x (L2 path) grid of the candidates given.
  const grid = exactGrid(given);
  const candidates = exact
    ? grid.layerSets.flatMap((layers) => grid.l2s.map((l2) => ({ layers, l2, dropout: 0 })))
    : given;
  const repeats = options.repeats ?? 1;
  const { foldings, k } = repeatedFolds(options.images, options.k ?? 5, repeats, options.seed);
  const splits = repeats * k;
  const numClasses = options.classNames.length;
  const evalViewIds = options.evalViewIds ?? options.images[0]?.viewIds.slice(0, 1) ?? [];
  const inFold = (split: number, held: boolean) => {
    const folds = foldings[Math.floor(split / k)]!;
    return options.images.filter((_, i) => (folds[i] === split % k) === held);
  };
  const heldOut = Array.from({ length: splits }, (_, split) => inFold(split, true));
  // Exact: task s solves every candidate on split s. Adam: task i trains candidate floor(i / splits) on split i mod splits.
  const makeTask = (index: number): FoldTask => {
    if (exact) {
      return exactFoldTask({
        training: inFold(index, false),
        heldOut: heldOut[index]!,
        evalViewIds,
        features: options.features,
        numClasses,
        layerSets: grid.layerSets,
        l2s: grid.l2s,
      });
    }
    const candidate = candidates[Math.floor(index / splits)]!;
    const split = index % splits;
    const held = heldOut[split]!;
    return {
      config: { ...options.base, ...candidate },
      numClasses,
      // The first repeat keeps the seeds of unrepeated CV (seed + fold).
      seed: options.seed + split,
      train: buildMatrix(trainingSamples(inFold(split, false)), candidate.layers, options.features),
      val: buildMatrix(
        held.map((img) => ({ ...img, viewId: img.viewIds[0]! })),
        candidate.layers,
        options.features,
      ),
      evalViews: evalViewMatrices(held, evalViewIds, candidate.layers, options.features),
    };
  };

  const foldScores = candidates.map(() => new Array<CvFoldScore>(splits));
  const done = candidates.map(() => 0);
  const scores: CvScore[] = [];
  const scoreCompleted = () => {
    // Candidates are reported in order, each once all its folds are in.
    while (scores.length < candidates.length && done[scores.length] === splits) {
      const c = scores.length;
      const fs = foldScores[c]!;
      const mean = (pick: (f: CvFoldScore) => number) => fs.reduce((sum, f) => sum + pick(f), 0) / fs.length;
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
  const record = (
    c: number,
    split: number,
    probs: Float32Array,
    epochs?: { epochs: number; bestEpoch: number },
  ) => {
    const held = heldOut[split]!;
    const rows = held.map((_, i) => Array.from(probs.subarray(i * numClasses, (i + 1) * numClasses)));
    const yTrue = held.map((img) => img.label);
    const metrics = computeMetrics({ yTrue, probs: rows, classNames: options.classNames });
    foldScores[c]![split] = {
      valLoss: meanLogLoss(probs, yTrue, numClasses),
      accuracy: metrics.accuracy,
      macroF1: metrics.macroF1,
      macroAuc: metrics.macroAuc,
      ...epochs,
    };
    done[c]!++;
  };
  try {
    await runFoldTasks(exact ? splits : candidates.length * splits, makeTask, {
      workers: options.workers,
      signal: options.signal,
      onOutcome: (index, outcome) => {
        if (outcome.kind === "exact") {
          for (const [c, probs] of outcome.probs.entries()) record(c, index, probs);
        } else {
          record(Math.floor(index / splits), index % splits, outcome.probs, outcome);
        }
        scoreCompleted();
      },
    });
  } catch (error) {
    if (error instanceof FoldPoolStoppedError) throw new CrossValidationStoppedError();
    throw error;
  }
  const best = scores.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
  return { k, repeats, solver, best: best.candidate, scores, seconds: (performance.now() - started) / 1000 };
}

/**
 * Epochs for an Adam refit without validation: the median over the chosen candidate's folds of the epoch early
 * stopping restored (at least 1).
 */
export function refitEpochs(score: CvScore): number | undefined {
  const best = score.folds.map((f) => f.bestEpoch).filter((e): e is number => e !== undefined && e > 0);
  if (best.length === 0) return undefined;
  best.sort((a, b) => a - b);
  const mid = Math.floor(best.length / 2);
  return Math.max(1, Math.round(best.length % 2 ? best[mid]! : (best[mid - 1]! + best[mid]!) / 2));
}

export class CrossValidationStoppedError extends Error {
  constructor() {
    super("cross-validation stopped");
    this.name = "CrossValidationStoppedError";
  }
}
