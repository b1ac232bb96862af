import type { LayerFeatures } from "./features/cache.js";
import { FEATURE_LAYERS, type FeatureLayer } from "./features/engine.js";
import { featureKey } from "./features/extract.js";
import { featureDim, type HeadConfig, type LabelledMatrix, predictHead, trainHead } from "./head.js";
import { computeMetrics } from "./metrics.js";
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
 * loss 0.75 against 0.56-0.60 here on the BUSI dev set.
 */
export const REGULARISATION_CHOICES = [
  { l2: 0.05, dropout: 0.2 },
  { l2: 0.2, dropout: 0.2 },
];
export const DEFAULT_CANDIDATES: CvCandidate[] = LAYER_CHOICES.flatMap((layers) =>
  REGULARISATION_CHOICES.map((reg) => ({ layers, ...reg })),
);

export const candidateName = (c: CvCandidate) => `${c.layers.join("+")} l2=${c.l2} dropout=${c.dropout}`;

export interface CvScore {
  candidate: CvCandidate;
  name: string;
  /** Means over folds, on each fold's held-out images (original view). */
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

/** An image of the training share with its views (all views train; the first, original, view validates). */
export interface CvImage {
  file: string;
  hash: string;
  label: number;
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
  k?: number;
  seed: number;
  onCandidate?: (score: CvScore) => void;
  shouldStop?: () => boolean;
}

/**
 * Stratified k-fold cross-validation on the training share only: for each candidate, train on k-1 folds (every
 * view), early-stop and score on the held-out fold (original view). The best candidate has the lowest mean
 * held-out log loss. Features are cached, so this costs head training only.
 */
export async function crossValidate(options: CrossValidateOptions): Promise<CvResult> {
  const started = performance.now();
  const candidates = options.candidates ?? DEFAULT_CANDIDATES;
  const { folds, k } = stratifiedFolds(options.images, options.k ?? 5, options.seed);
  const numClasses = options.classNames.length;
  const scores: CvScore[] = [];
  for (const candidate of candidates) {
    const config: HeadConfig = { ...options.base, ...candidate };
    const foldScores: CvScore["folds"] = [];
    for (let fold = 0; fold < k; fold++) {
      if (options.shouldStop?.()) throw new CrossValidationStoppedError();
      const trainSamples: Sample[] = [];
      const valSamples: Sample[] = [];
      for (const [i, img] of options.images.entries()) {
        if (folds[i] === fold) valSamples.push({ ...img, viewId: img.viewIds[0]! });
        else for (const viewId of img.viewIds) trainSamples.push({ ...img, viewId });
      }
      const train = buildMatrix(trainSamples, candidate.layers, options.features);
      const val = buildMatrix(valSamples, candidate.layers, options.features);
      const result = await trainHead(config, train, val, { numClasses, seed: options.seed + fold });
      const probs = predictHead(result.model, val);
      const rows = Array.from({ length: val.n }, (_, i) =>
        Array.from(probs.subarray(i * numClasses, (i + 1) * numClasses)),
      );
      const metrics = computeMetrics({
        yTrue: Array.from(val.y),
        probs: rows,
        classNames: options.classNames,
      });
      let valLoss = 0;
      for (let i = 0; i < val.n; i++) valLoss -= Math.log(Math.max(rows[i]![val.y[i]!]!, 1e-12)) / val.n;
      foldScores.push({
        valLoss,
        accuracy: metrics.accuracy,
        macroF1: metrics.macroF1,
        macroAuc: metrics.macroAuc,
        epochs: result.history.length,
      });
    }
    const mean = (pick: (f: CvScore["folds"][number]) => number) =>
      foldScores.reduce((sum, f) => sum + pick(f), 0) / foldScores.length;
    const aucs = foldScores.map((f) => f.macroAuc).filter((a): a is number => a !== null);
    const score: CvScore = {
      candidate,
      name: candidateName(candidate),
      valLoss: mean((f) => f.valLoss),
      accuracy: mean((f) => f.accuracy),
      macroF1: mean((f) => f.macroF1),
      macroAuc: aucs.length > 0 ? aucs.reduce((a, b) => a + b, 0) / aucs.length : null,
      folds: foldScores,
    };
    scores.push(score);
    options.onCandidate?.(score);
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
