/**
 * Classification metrics on a held-out split, as scikit-learn's classification_report plus what clinicians ask:
 * accuracy, balanced accuracy, per-class precision / recall (sensitivity) / specificity / F1 / support with macro and
 * weighted averages, log loss, confusion matrix (counts and row-normalised), one-vs-rest ROC AUC (Mann-Whitney, ties
 * counted as one half) and precision-recall curves with average precision, Cohen's kappa, and percentile-bootstrap
 * 95% confidence intervals for accuracy and macro AUC. Everything here is pure and seeded: numbers in, a
 * JSON-serialisable report (metrics.json) out.
 */
import { Rng } from "./rng.js";

/** The `schema` field of metrics.json (the runner's other documents: artifacts.ts SCHEMAS). */
export const METRICS_SCHEMA = "rescale-run/metrics@1";
/** Bootstrap resamples for the confidence intervals, and their seed (fixed: the interval belongs to the test set). */
export const DEFAULT_BOOTSTRAP_RESAMPLES = 1000;
export const BOOTSTRAP_SEED = 20240601;

/** Thrown for malformed metric inputs (mismatched lengths, labels out of range, rows that are not distributions). */
export class MetricsInputError extends Error {
  override readonly name = "MetricsInputError";
}

export interface ComputeMetricsInput {
  /** True class index per sample, into `classNames`. */
  yTrue: number[];
  /** Predicted probabilities per sample, one column per class; each row sums to 1. */
  probs: number[][];
  /** Class names; index i names column i of `probs`. */
  classNames: string[];
  /** Bootstrap resamples for the confidence intervals (default 1000; 0 leaves them out). */
  bootstrapResamples?: number;
}

export interface ClassMetrics {
  className: string;
  /** TP / (TP + FP); 0 when the class is never predicted. */
  precision: number;
  /** TP / (TP + FN); 0 when the class never occurs in `yTrue`. */
  recall: number;
  /** TN / (TN + FP): how often a sample of another class is not called this one; 0 when every sample is this class. */
  specificity: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  f1: number;
  /** Number of samples of this class in `yTrue`. */
  support: number;
}

/** Averages of the per-class figures (scikit-learn's "macro avg" and "weighted avg" rows). */
export interface AveragedMetrics {
  precision: number;
  recall: number;
  specificity: number;
  f1: number;
}

export interface PrPoint {
  recall: number;
  precision: number;
  /** Score at or above which a sample counts as positive; `null` for the closing (recall 0, precision 1) point. */
  threshold: number | null;
}

export interface ClassPrecisionRecall {
  className: string;
  /**
   * Average precision, sum over thresholds of (R_n - R_{n-1}) P_n (scikit-learn's average_precision_score, no
   * interpolation); `null` when the class never occurs in `yTrue`.
   */
  averagePrecision: number | null;
  /** Points by decreasing threshold, then (recall 0, precision 1) last, as precision_recall_curve; `null` with AP. */
  curve: PrPoint[] | null;
}

export interface Interval {
  low: number;
  high: number;
}

export interface ConfidenceIntervals {
  /** 0.95. */
  level: number;
  method: string;
  resamples: number;
  seed: number;
  accuracy: Interval;
  /** `null` when `macroAuc` is null or fewer than half the resamples had every AUC class on both sides. */
  macroAuc: Interval | null;
  /** Resamples in which every class of `macroAucClasses` had positives and negatives (the others are skipped). */
  macroAucResamples: number;
}

export interface ConfusionMatrix {
  /** Names of the rows (true class) and of the columns (predicted class), in the same order. */
  classNames: string[];
  /** `matrix[t][p]` counts samples of true class `t` predicted as class `p`. */
  matrix: number[][];
  /** `matrix` with each row divided by its sum (the row's recall on the diagonal); a row of zeros for an empty class. */
  normalized: number[][];
}

export interface RocPoint {
  fpr: number;
  tpr: number;
  /** Score at or above which a sample counts as positive; `null` for the (0, 0) start, above every score. */
  threshold: number | null;
}

export interface ClassAuc {
  className: string;
  /** One-vs-rest ROC AUC; `null` when it is undefined (see `reason`). */
  auc: number | null;
  /** Why `auc` is null, e.g. the class never occurs in `yTrue`. */
  reason?: string;
  /** ROC curve, one point per distinct score, from (0, 0) to (1, 1); `null` when `auc` is null. */
  curve: RocPoint[] | null;
}

export interface Metrics {
  schema: typeof METRICS_SCHEMA;
  /** Number of samples. */
  n: number;
  accuracy: number;
  /** Mean recall over the classes that occur in `yTrue` (scikit-learn's balanced_accuracy_score). */
  balancedAccuracy: number;
  /** Mean negative log-probability of the true class, probabilities clamped at 1e-12 (natural log). */
  logLoss: number;
  perClass: ClassMetrics[];
  /** Unweighted mean of the per-class F1 over every class in `classNames` (= macroAvg.f1). */
  macroF1: number;
  /** Unweighted means of the per-class figures over every class in `classNames`. */
  macroAvg: AveragedMetrics;
  /** Means of the per-class figures weighted by support. */
  weightedAvg: AveragedMetrics;
  confusionMatrix: ConfusionMatrix;
  /** One-vs-rest ROC AUC per class. */
  roc: ClassAuc[];
  /** One-vs-rest precision-recall curve and average precision per class. */
  precisionRecall: ClassPrecisionRecall[];
  /** Mean of the defined per-class AUCs; `null` when none is defined. */
  macroAuc: number | null;
  /** Classes whose AUC enters `macroAuc`. */
  macroAucClasses: string[];
  /** Cohen's kappa between true and predicted labels; `null` when chance agreement is 1 (undefined). */
  cohenKappa: number | null;
  /** Percentile-bootstrap intervals over the samples; absent when `bootstrapResamples` is 0. */
  confidenceIntervals?: ConfidenceIntervals;
}

/** Index of the largest value; the first one wins a tie, so predictions are deterministic. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) {
    if (values[i]! > values[best]!) best = i;
  }
  return best;
}

/**
 * Mean negative log-probability of each row's true class (probabilities clamped at 1e-12); `probs` is n x classes,
 * row-major, one row per label.
 */
export function meanLogLoss(probs: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number {
  let loss = 0;
  for (let i = 0; i < labels.length; i++) {
    loss -= Math.log(Math.max(probs[i * numClasses + labels[i]!]!, 1e-12)) / labels.length;
  }
  return loss;
}

const ROW_SUM_TOLERANCE = 1e-3;

function validate({ yTrue, probs, classNames }: ComputeMetricsInput): void {
  const k = classNames.length;
  if (k < 2) throw new MetricsInputError(`metrics need at least 2 classes, got ${k}`);
  if (new Set(classNames).size !== k) throw new MetricsInputError("class names must be unique");
  if (yTrue.length === 0) throw new MetricsInputError("metrics need at least one sample, got none");
  if (probs.length !== yTrue.length) {
    throw new MetricsInputError(`yTrue has ${yTrue.length} labels but probs has ${probs.length} rows`);
  }
  yTrue.forEach((label, i) => {
    if (!Number.isInteger(label) || label < 0 || label >= k) {
      throw new MetricsInputError(`yTrue[${i}] = ${label} is not a class index in 0..${k - 1}`);
    }
  });
  probs.forEach((row, i) => {
    if (row.length !== k) throw new MetricsInputError(`probs[${i}] has ${row.length} columns, expected ${k}`);
    let sum = 0;
    for (const p of row) {
      if (!Number.isFinite(p) || p < 0 || p > 1) {
        throw new MetricsInputError(`probs[${i}] contains ${p}, which is not a probability`);
      }
      sum += p;
    }
    if (Math.abs(sum - 1) > ROW_SUM_TOLERANCE) {
      throw new MetricsInputError(`probs[${i}] sums to ${sum}, expected 1 (softmax output)`);
    }
  });
}

const ratio = (num: number, den: number): number => (den === 0 ? 0 : num / den);

/**
 * Average ranks (1-based) of `values`, ties sharing the mean of the ranks they span.
 * Mann-Whitney's U with these ranks counts a tied positive/negative pair as one half.
 */
function averageRanks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && values[order[end + 1]!] === values[order[start]!]) end++;
    const rank = (start + end) / 2 + 1;
    for (let j = start; j <= end; j++) ranks[order[j]!] = rank;
    start = end + 1;
  }
  return ranks;
}

/**
 * Area under the ROC curve of `scores` for the binary labels `positive`, by the rank (Mann-Whitney U) formula:
 * AUC = (R+ - n+(n+ + 1)/2) / (n+ n-), R+ the sum of the positives' average ranks. Returns null when either class
 * is empty.
 */
export function rocAuc(scores: readonly number[], positive: readonly boolean[]): number | null {
  const ranks = averageRanks(scores);
  let nPos = 0;
  let rankSum = 0;
  positive.forEach((isPos, i) => {
    if (isPos) {
      nPos++;
      rankSum += ranks[i]!;
    }
  });
  const nNeg = scores.length - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * ROC curve points, lowering the threshold through each distinct score (tied scores enter together, which makes
 * the trapezoidal area under these points equal to {@link rocAuc}). Assumes both classes are present.
 */
export function rocCurve(scores: readonly number[], positive: readonly boolean[]): RocPoint[] {
  const nPos = positive.filter(Boolean).length;
  const nNeg = positive.length - nPos;
  return [
    { fpr: 0, tpr: 0, threshold: null },
    ...thresholdSweep(scores, positive).map(({ tp, fp, threshold }) => ({
      fpr: fp / nNeg,
      tpr: tp / nPos,
      threshold,
    })),
  ];
}

/**
 * True and false positives when everything scoring at or above each distinct score counts as positive, the
 * threshold lowered from the highest score (tied scores enter together): the steps of ROC and precision-recall curves.
 */
function thresholdSweep(
  scores: readonly number[],
  positive: readonly boolean[],
): { tp: number; fp: number; threshold: number }[] {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const steps: { tp: number; fp: number; threshold: number }[] = [];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; i++) {
    const idx = order[i]!;
    if (positive[idx]) tp++;
    else fp++;
    const next = order[i + 1];
    if (next === undefined || scores[next] !== scores[idx]) steps.push({ tp, fp, threshold: scores[idx]! });
  }
  return steps;
}

function oneVsRest(yTrue: number[], probs: number[][], classNames: string[], c: number): ClassAuc {
  const className = classNames[c]!;
  const positive = yTrue.map((y) => y === c);
  const scores = probs.map((row) => row[c]!);
  const auc = rocAuc(scores, positive);
  if (auc === null) {
    const reason = positive.some(Boolean)
      ? `every sample is "${className}"; one-vs-rest AUC needs samples of other classes`
      : `no sample of "${className}" in the true labels; one-vs-rest AUC needs at least one`;
    return { className, auc: null, reason, curve: null };
  }
  return { className, auc, curve: rocCurve(scores, positive) };
}

/**
 * Precision-recall points lowering the threshold through each distinct score (ties enter together) until full
 * recall, then the closing (recall 0, precision 1) point, and the average precision over them, as scikit-learn's
 * precision_recall_curve / average_precision_score. `null` AP and curve when there is no positive.
 */
export function precisionRecallCurve(
  scores: readonly number[],
  positive: readonly boolean[],
): { averagePrecision: number | null; curve: PrPoint[] | null } {
  const nPos = positive.filter(Boolean).length;
  if (nPos === 0) return { averagePrecision: null, curve: null };
  const points: PrPoint[] = [];
  let ap = 0;
  let lastRecall = 0;
  for (const { tp, fp, threshold } of thresholdSweep(scores, positive)) {
    const recall = tp / nPos;
    const precision = tp / (tp + fp);
    ap += (recall - lastRecall) * precision;
    lastRecall = recall;
    points.push({ recall, precision, threshold });
    // As scikit-learn, stop at full recall: lower thresholds only add false positives.
    if (tp === nPos) break;
  }
  points.push({ recall: 0, precision: 1, threshold: null });
  return { averagePrecision: ap, curve: points };
}

/** The q-quantile (0..1) of sorted values, linear between neighbours (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * One class's scores sorted ascending in groups of tied scores, so the one-vs-rest AUC of any resample (given as a
 * count per sample) is one pass: each positive beats the negatives below its group and ties half of its own.
 */
export function tiedGroups(scores: readonly number[]): number[][] {
  const order = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  const groups: number[][] = [];
  for (const i of order) {
    const last = groups[groups.length - 1];
    if (last && scores[last[0]!] === scores[i]) last.push(i);
    else groups.push([i]);
  }
  return groups;
}

/** Mann-Whitney AUC of a resample: `count[i]` copies of sample i. Same value as {@link rocAuc} on the copies. */
export function resampledAuc(
  groups: readonly number[][],
  positive: readonly boolean[],
  count: Int32Array,
): number | null {
  let negBelow = 0;
  let nPos = 0;
  let u = 0;
  for (const group of groups) {
    let pos = 0;
    let neg = 0;
    for (const i of group) {
      if (positive[i]) pos += count[i]!;
      else neg += count[i]!;
    }
    u += pos * (negBelow + neg / 2);
    negBelow += neg;
    nPos += pos;
  }
  return nPos === 0 || negBelow === 0 ? null : u / (nPos * negBelow);
}

/**
 * Percentile bootstrap over the samples: `resamples` draws of n samples with replacement (seeded), accuracy and
 * macro AUC (over `aucClasses`) of each, the 2.5th and 97.5th percentiles. A resample where some AUC class lacks
 * positives or negatives is skipped for the AUC interval (and counted).
 */
function bootstrapIntervals(
  yTrue: readonly number[],
  yPred: readonly number[],
  probs: readonly (readonly number[])[],
  aucClasses: readonly number[],
  resamples: number,
): ConfidenceIntervals {
  const rng = new Rng(BOOTSTRAP_SEED);
  const n = yTrue.length;
  const perClass = aucClasses.map((c) => ({
    groups: tiedGroups(probs.map((row) => row[c]!)),
    positive: yTrue.map((y) => y === c),
  }));
  const accuracies: number[] = [];
  const aucs: number[] = [];
  const count = new Int32Array(n);
  for (let b = 0; b < resamples; b++) {
    count.fill(0);
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const j = Math.floor(rng.next() * n);
      count[j]!++;
      if (yTrue[j] === yPred[j]) correct++;
    }
    accuracies.push(correct / n);
    if (perClass.length === 0) continue;
    let sum = 0;
    let defined = true;
    for (const { groups, positive } of perClass) {
      const auc = resampledAuc(groups, positive, count);
      if (auc === null) {
        defined = false;
        break;
      }
      sum += auc;
    }
    if (defined) aucs.push(sum / perClass.length);
  }
  const interval = (values: number[]): Interval => {
    const sorted = [...values].sort((a, b) => a - b);
    return { low: quantile(sorted, 0.025), high: quantile(sorted, 0.975) };
  };
  return {
    level: 0.95,
    method: "percentile bootstrap over test samples (resampled with replacement)",
    resamples,
    seed: BOOTSTRAP_SEED,
    accuracy: interval(accuracies),
    macroAuc: aucs.length > 0 && aucs.length >= resamples / 2 ? interval(aucs) : null,
    macroAucResamples: aucs.length,
  };
}

/**
 * Computes the classification report of a held-out split. The predicted class of a sample is the argmax of its
 * probabilities (first class wins ties). Classes absent from `yTrue` still get a row: precision / recall / F1 of 0
 * rather than NaN, AUC `null` with a reason.
 *
 * @throws {MetricsInputError} on mismatched lengths, labels out of range, or rows that are not distributions.
 */
export function computeMetrics(input: ComputeMetricsInput): Metrics {
  validate(input);
  const { yTrue, probs, classNames } = input;
  const k = classNames.length;
  const n = yTrue.length;
  const yPred = probs.map(argmax);

  const matrix = classNames.map(() => new Array<number>(k).fill(0));
  yTrue.forEach((t, i) => {
    matrix[t]![yPred[i]!]!++;
  });
  const rowSums = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const colSums = classNames.map((_, p) => matrix.reduce((a, row) => a + row[p]!, 0));
  const correct = matrix.reduce((a, row, i) => a + row[i]!, 0);

  const perClass = classNames.map((className, c): ClassMetrics => {
    const tp = matrix[c]![c]!;
    const fp = colSums[c]! - tp;
    const tn = n - rowSums[c]! - fp;
    const precision = ratio(tp, colSums[c]!);
    const recall = ratio(tp, rowSums[c]!);
    const specificity = ratio(tn, tn + fp);
    const f1 = ratio(2 * precision * recall, precision + recall);
    return { className, precision, recall, specificity, f1, support: rowSums[c]! };
  });
  const average = (weight: (m: ClassMetrics) => number): AveragedMetrics => {
    const total = perClass.reduce((a, m) => a + weight(m), 0);
    const mean = (pick: (m: ClassMetrics) => number) =>
      ratio(
        perClass.reduce((a, m) => a + weight(m) * pick(m), 0),
        total,
      );
    return {
      precision: mean((m) => m.precision),
      recall: mean((m) => m.recall),
      specificity: mean((m) => m.specificity),
      f1: mean((m) => m.f1),
    };
  };
  const present = perClass.filter((m) => m.support > 0);

  const roc = classNames.map((_, c) => oneVsRest(yTrue, probs, classNames, c));
  const defined = roc.filter((r): r is ClassAuc & { auc: number } => r.auc !== null);
  const precisionRecall = classNames.map((className, c): ClassPrecisionRecall => {
    const pr = precisionRecallCurve(
      probs.map((row) => row[c]!),
      yTrue.map((y) => y === c),
    );
    return { className, ...pr };
  });

  const observed = correct / n;
  const chance = rowSums.reduce((a, r, c) => a + r * colSums[c]!, 0) / (n * n);
  const resamples = input.bootstrapResamples ?? DEFAULT_BOOTSTRAP_RESAMPLES;
  if (!Number.isInteger(resamples) || resamples < 0) {
    throw new MetricsInputError(`bootstrapResamples must be a non-negative integer, got ${resamples}`);
  }

  return {
    schema: METRICS_SCHEMA,
    n,
    accuracy: observed,
    balancedAccuracy: present.reduce((a, m) => a + m.recall, 0) / present.length,
    logLoss: meanLogLoss(probs.flat(), yTrue, k),
    perClass,
    macroF1: perClass.reduce((a, m) => a + m.f1, 0) / k,
    macroAvg: average(() => 1),
    weightedAvg: average((m) => m.support),
    confusionMatrix: {
      classNames: [...classNames],
      matrix,
      normalized: matrix.map((row, t) => row.map((count) => ratio(count, rowSums[t]!))),
    },
    roc,
    precisionRecall,
    macroAuc: defined.length === 0 ? null : defined.reduce((a, r) => a + r.auc, 0) / defined.length,
    macroAucClasses: defined.map((r) => r.className),
    cohenKappa: chance === 1 ? null : (observed - chance) / (1 - chance),
    ...(resamples > 0
      ? {
          confidenceIntervals: bootstrapIntervals(
            yTrue,
            yPred,
            probs,
            defined.map((r) => classNames.indexOf(r.className)),
            resamples,
          ),
        }
      : {}),
  };
}
