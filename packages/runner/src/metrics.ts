/**
 * Classification metrics on a held-out split: accuracy, per-class precision / recall / F1, macro F1, confusion
 * matrix, one-vs-rest ROC AUC (Mann-Whitney, ties counted as one half) with curve points, and Cohen's kappa.
 * Everything here is pure: numbers in, a JSON-serialisable report out.
 */

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
}

export interface ClassMetrics {
  className: string;
  /** TP / (TP + FP); 0 when the class is never predicted. */
  precision: number;
  /** TP / (TP + FN); 0 when the class never occurs in `yTrue`. */
  recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  f1: number;
  /** Number of samples of this class in `yTrue`. */
  support: number;
}

export interface ConfusionMatrix {
  /** Names of the rows (true class) and of the columns (predicted class), in the same order. */
  classNames: string[];
  /** `matrix[t][p]` counts samples of true class `t` predicted as class `p`. */
  matrix: number[][];
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
  /** Number of samples. */
  n: number;
  accuracy: number;
  perClass: ClassMetrics[];
  /** Unweighted mean of the per-class F1 over every class in `classNames`. */
  macroF1: number;
  confusionMatrix: ConfusionMatrix;
  /** One-vs-rest ROC AUC per class. */
  roc: ClassAuc[];
  /** Mean of the defined per-class AUCs; `null` when none is defined. */
  macroAuc: number | null;
  /** Classes whose AUC enters `macroAuc`. */
  macroAucClasses: string[];
  /** Cohen's kappa between true and predicted labels; `null` when chance agreement is 1 (undefined). */
  cohenKappa: number | null;
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
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const nPos = positive.filter(Boolean).length;
  const nNeg = positive.length - nPos;
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: null }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; i++) {
    const idx = order[i]!;
    if (positive[idx]) tp++;
    else fp++;
    const next = order[i + 1];
    if (next === undefined || scores[next] !== scores[idx]) {
      points.push({ fpr: fp / nNeg, tpr: tp / nPos, threshold: scores[idx]! });
    }
  }
  return points;
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
    const precision = ratio(tp, colSums[c]!);
    const recall = ratio(tp, rowSums[c]!);
    const f1 = ratio(2 * precision * recall, precision + recall);
    return { className, precision, recall, f1, support: rowSums[c]! };
  });

  const roc = classNames.map((_, c) => oneVsRest(yTrue, probs, classNames, c));
  const defined = roc.filter((r): r is ClassAuc & { auc: number } => r.auc !== null);

  const observed = correct / n;
  const chance = rowSums.reduce((a, r, c) => a + r * colSums[c]!, 0) / (n * n);

  return {
    n,
    accuracy: observed,
    perClass,
    macroF1: perClass.reduce((a, m) => a + m.f1, 0) / k,
    confusionMatrix: { classNames: [...classNames], matrix },
    roc,
    macroAuc: defined.length === 0 ? null : defined.reduce((a, r) => a + r.auc, 0) / defined.length,
    macroAucClasses: defined.map((r) => r.className),
    cohenKappa: chance === 1 ? null : (observed - chance) / (1 - chance),
  };
}
