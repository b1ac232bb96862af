import { describe, expect, it } from "vitest";
import {
  argmax,
  computeMetrics,
  DEFAULT_BOOTSTRAP_RESAMPLES,
  MetricsInputError,
  precisionRecallCurve,
  quantile,
  resampledAuc,
  rocAuc,
  rocCurve,
  tiedGroups,
} from "../src/metrics.js";

/** Trapezoidal area under ROC points, to cross-check the rank formula. */
function trapezoid(points: { fpr: number; tpr: number }[]): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    area += ((points[i]!.fpr - points[i - 1]!.fpr) * (points[i]!.tpr + points[i - 1]!.tpr)) / 2;
  }
  return area;
}

describe("computeMetrics on a hand-worked example", () => {
  // Classes A, B, C; two samples each. Predictions (argmax, first wins ties):
  //   0: true A [0.7,0.2,0.1] -> A      3: true B [0.4,0.4,0.2] -> A (tie A/B, A first)
  //   1: true A [0.3,0.6,0.1] -> B      4: true C [0.1,0.3,0.6] -> C
  //   2: true B [0.2,0.5,0.3] -> B      5: true C [0.2,0.2,0.6] -> C
  // Confusion (rows true): A [1,1,0], B [1,1,0], C [0,0,2]. Accuracy 4/6.
  // Precision/recall/F1: A 1/2,1/2,1/2; B 1/2,1/2,1/2; C 1,1,1 -> macro F1 = 2/3.
  // Kappa: p_o = 4/6, p_e = (2*2+2*2+2*2)/36 = 1/3 -> (2/3-1/3)/(2/3) = 1/2.
  // AUC A: positives 0.7, 0.3 vs negatives 0.2,0.4,0.1,0.2 -> 4 + 3 wins of 8 pairs = 7/8.
  // AUC B: positives 0.5, 0.4 vs negatives 0.2,0.6,0.3,0.2 -> 3 + 3 wins of 8 = 6/8.
  // AUC C: positives 0.6, 0.6 vs negatives 0.1,0.1,0.3,0.2 -> 8/8. Macro = (0.875+0.75+1)/3 = 0.875.
  const input = {
    yTrue: [0, 0, 1, 1, 2, 2],
    probs: [
      [0.7, 0.2, 0.1],
      [0.3, 0.6, 0.1],
      [0.2, 0.5, 0.3],
      [0.4, 0.4, 0.2],
      [0.1, 0.3, 0.6],
      [0.2, 0.2, 0.6],
    ],
    classNames: ["A", "B", "C"],
  };
  const m = computeMetrics(input);

  it("counts the confusion matrix with true classes as rows", () => {
    expect(m.confusionMatrix).toEqual({
      classNames: ["A", "B", "C"],
      matrix: [
        [1, 1, 0],
        [1, 1, 0],
        [0, 0, 2],
      ],
      normalized: [
        [0.5, 0.5, 0],
        [0.5, 0.5, 0],
        [0, 0, 1],
      ],
    });
    expect(m.n).toBe(6);
    expect(m.accuracy).toBeCloseTo(4 / 6, 12);
  });

  it("computes per-class precision, recall, specificity, F1, support and macro F1", () => {
    // Specificity TN / (TN + FP): A has FP 1 (sample 3), TN 3 (samples 2, 4, 5) -> 3/4; B likewise; C: 4/4.
    expect(m.perClass).toEqual([
      { className: "A", precision: 0.5, recall: 0.5, specificity: 0.75, f1: 0.5, support: 2 },
      { className: "B", precision: 0.5, recall: 0.5, specificity: 0.75, f1: 0.5, support: 2 },
      { className: "C", precision: 1, recall: 1, specificity: 1, f1: 1, support: 2 },
    ]);
    expect(m.macroF1).toBeCloseTo(2 / 3, 12);
  });

  it("computes macro and weighted averages, balanced accuracy and log loss", () => {
    expect(m.macroAvg.precision).toBeCloseTo(2 / 3, 12);
    expect(m.macroAvg.recall).toBeCloseTo(2 / 3, 12);
    expect(m.macroAvg.specificity).toBeCloseTo(2.5 / 3, 12);
    expect(m.macroAvg.f1).toBeCloseTo(m.macroF1, 12);
    // Equal supports: the weighted averages equal the macro ones.
    for (const key of ["precision", "recall", "specificity", "f1"] as const) {
      expect(m.weightedAvg[key]).toBeCloseTo(m.macroAvg[key], 12);
    }
    expect(m.balancedAccuracy).toBeCloseTo(2 / 3, 12);
    // True-class probabilities 0.7, 0.3, 0.5, 0.4, 0.6, 0.6 (scikit-learn's log_loss, natural log).
    const expected = -(Math.log(0.7) + Math.log(0.3) + Math.log(0.5) + Math.log(0.4) + 2 * Math.log(0.6)) / 6;
    expect(m.logLoss).toBeCloseTo(expected, 12);
    expect(m.schema).toBe("rescale-run/metrics@1");
  });

  it("computes precision-recall curves and average precision as scikit-learn", () => {
    // Class A scores descending: 0.7 P (R 1/2, P 1), 0.4 N (R 1/2, P 1/2), 0.3 P (R 1, P 2/3): full recall, stop.
    // AP = 1/2 * 1 + 0 * 1/2 + 1/2 * 2/3 = 5/6 (average_precision_score([1,1,0,0,0,0], [.7,.3,.2,.4,.1,.2])).
    expect(m.precisionRecall[0]).toEqual({
      className: "A",
      averagePrecision: 0.5 + 1 / 3,
      curve: [
        { recall: 0.5, precision: 1, threshold: 0.7 },
        { recall: 0.5, precision: 0.5, threshold: 0.4 },
        { recall: 1, precision: 2 / 3, threshold: 0.3 },
        { recall: 0, precision: 1, threshold: null },
      ],
    });
    // Class C: its two positives share the top score 0.6 -> one point at (1, 1), AP 1.
    expect(m.precisionRecall[2]!.averagePrecision).toBe(1);
    expect(precisionRecallCurve([0.2, 0.4], [false, false])).toEqual({ averagePrecision: null, curve: null });
  });

  it("computes Cohen's kappa", () => {
    expect(m.cohenKappa).toBeCloseTo(0.5, 12);
  });

  it("computes one-vs-rest AUC per class and the macro AUC", () => {
    expect(m.roc.map((r) => r.auc)).toEqual([0.875, 0.75, 1]);
    expect(m.macroAuc).toBeCloseTo(0.875, 12);
    expect(m.macroAucClasses).toEqual(["A", "B", "C"]);
  });

  it("returns ROC points whose trapezoidal area equals the AUC", () => {
    // Class A scores sorted: 0.7 P, 0.4 N, 0.3 P, 0.2 N, 0.2 N (tied: one step), 0.1 N.
    expect(m.roc[0]!.curve).toEqual([
      { fpr: 0, tpr: 0, threshold: null },
      { fpr: 0, tpr: 0.5, threshold: 0.7 },
      { fpr: 0.25, tpr: 0.5, threshold: 0.4 },
      { fpr: 0.25, tpr: 1, threshold: 0.3 },
      { fpr: 0.75, tpr: 1, threshold: 0.2 },
      { fpr: 1, tpr: 1, threshold: 0.1 },
    ]);
    for (const r of m.roc) expect(trapezoid(r.curve!)).toBeCloseTo(r.auc!, 12);
  });

  it("is JSON-serialisable without loss", () => {
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });
});

describe("rocAuc with ties", () => {
  it("counts a tied positive/negative pair as one half", () => {
    // Positive 0.5 vs negatives 0.5, 0.5, 0.2: 1/2 + 1/2 + 1 = 2 of 3 pairs.
    expect(rocAuc([0.5, 0.5, 0.5, 0.2], [true, false, false, false])).toBeCloseTo(2 / 3, 12);
    // All scores equal: every pair is a tie -> 1/2.
    expect(rocAuc([0.3, 0.3, 0.3, 0.3], [true, false, true, false])).toBe(0.5);
  });

  it("matches the trapezoidal area when ties straddle the classes", () => {
    const scores = [0.9, 0.8, 0.8, 0.8, 0.4, 0.4, 0.1];
    const positive = [true, true, false, true, false, true, false];
    // Pairs: 0.9 beats 3; 0.8 (x2) each beats 0.4,0.1 and ties 0.8 -> 2.5 each; 0.4 ties 0.4, beats 0.1 -> 1.5.
    const expected = (3 + 2.5 + 2.5 + 1.5) / (4 * 3);
    expect(rocAuc(scores, positive)).toBeCloseTo(expected, 12);
    expect(trapezoid(rocCurve(scores, positive))).toBeCloseTo(expected, 12);
  });

  it("returns null when a side is empty", () => {
    expect(rocAuc([0.1, 0.2], [false, false])).toBeNull();
    expect(rocAuc([0.1, 0.2], [true, true])).toBeNull();
  });
});

describe("computeMetrics edge cases", () => {
  it("gives precision 0 (not NaN) for a class never predicted and AUC null for a class absent from yTrue", () => {
    // true A,A,B,B; predicted A,A,A,C. B never predicted, C never true.
    // Confusion: A [2,0,0], B [1,0,1], C [0,0,0]. Accuracy 1/2.
    // A: precision 2/3, recall 1, F1 0.8. B: 0,0,0. C: precision 0/1, recall 0/0 -> 0. Macro F1 0.8/3.
    // AUC A: 0.8,0.6 vs 0.5,0.3 -> 1. AUC B: 0.4,0.2 vs 0.1,0.3 -> (2 + 1)/4. C: null.
    // Kappa: rows [2,2,0], cols [3,0,1]; p_e = 6/16 -> (0.5-0.375)/0.625 = 0.2.
    const m = computeMetrics({
      yTrue: [0, 0, 1, 1],
      probs: [
        [0.8, 0.1, 0.1],
        [0.6, 0.3, 0.1],
        [0.5, 0.4, 0.1],
        [0.3, 0.2, 0.5],
      ],
      classNames: ["A", "B", "C"],
    });
    expect(m.accuracy).toBe(0.5);
    expect(m.perClass[0]!.precision).toBeCloseTo(2 / 3, 12);
    expect(m.perClass[0]!.f1).toBeCloseTo(0.8, 12);
    // Specificity: B is never predicted (FP 0, TN 2) -> 1; C is predicted once wrongly (FP 1, TN 3) -> 3/4.
    expect(m.perClass[1]).toEqual({
      className: "B",
      precision: 0,
      recall: 0,
      specificity: 1,
      f1: 0,
      support: 2,
    });
    expect(m.perClass[2]).toEqual({
      className: "C",
      precision: 0,
      recall: 0,
      specificity: 0.75,
      f1: 0,
      support: 0,
    });
    // Balanced accuracy averages the recall of the classes that occur (A 1, B 0), as scikit-learn.
    expect(m.balancedAccuracy).toBe(0.5);
    // Weighted by support (2, 2, 0): precision (2/3 * 2 + 0 * 2) / 4.
    expect(m.weightedAvg.precision).toBeCloseTo(1 / 3, 12);
    expect(m.precisionRecall[2]).toEqual({ className: "C", averagePrecision: null, curve: null });
    expect(m.macroF1).toBeCloseTo(0.8 / 3, 12);
    expect(m.roc[0]!.auc).toBe(1);
    expect(m.roc[1]!.auc).toBe(0.75);
    expect(m.roc[2]).toMatchObject({ className: "C", auc: null, curve: null });
    expect(m.roc[2]!.reason).toMatch(/no sample of "C"/);
    expect(m.macroAuc).toBeCloseTo(0.875, 12);
    expect(m.macroAucClasses).toEqual(["A", "B"]);
    expect(m.cohenKappa).toBeCloseTo(0.2, 12);
    expect(JSON.stringify(m)).not.toContain("NaN");
  });

  it("returns null kappa and AUC when a single class is both true and predicted everywhere", () => {
    const m = computeMetrics({
      yTrue: [0, 0],
      probs: [
        [1, 0],
        [0.9, 0.1],
      ],
      classNames: ["A", "B"],
    });
    expect(m.accuracy).toBe(1);
    expect(m.cohenKappa).toBeNull();
    expect(m.roc[0]!.reason).toMatch(/every sample is "A"/);
    expect(m.macroAuc).toBeNull();
    expect(m.macroAucClasses).toEqual([]);
  });

  it("rejects malformed input with a MetricsInputError naming the problem", () => {
    const names = ["A", "B"];
    const bad =
      (yTrue: number[], probs: number[][], classNames = names) =>
      () =>
        computeMetrics({ yTrue, probs, classNames });
    expect(bad([], [])).toThrow(/at least one sample/);
    expect(bad([0], [[0.5, 0.5]], ["A"])).toThrow(/at least 2 classes/);
    expect(bad([0], [[0.5, 0.5]], ["A", "A"])).toThrow(/unique/);
    expect(bad([0, 1], [[0.5, 0.5]])).toThrow(/2 labels but probs has 1 rows/);
    expect(bad([2], [[0.5, 0.5]])).toThrow(/yTrue\[0\] = 2 is not a class index/);
    expect(bad([0.5], [[0.5, 0.5]])).toThrow(MetricsInputError);
    expect(bad([0], [[1, 0, 0]])).toThrow(/3 columns, expected 2/);
    expect(bad([0], [[0.7, 0.7]])).toThrow(/sums to 1.4/);
    expect(bad([0], [[Number.NaN, 1]])).toThrow(/not a probability/);
  });

  it("accepts float32 softmax rows that sum to 1 within rounding", () => {
    const row = Array.from(new Float32Array([0.1, 0.2, 0.7000001]));
    expect(() => computeMetrics({ yTrue: [2], probs: [row], classNames: ["a", "b", "c"] })).not.toThrow();
  });
});

describe("bootstrap confidence intervals", () => {
  /** n samples, the first `correct` of them right; class 0 / 1 alternate; scores say how sure the model is. */
  function twoClass(n: number, correct: number) {
    const yTrue = Array.from({ length: n }, (_, i) => i % 2);
    const probs = yTrue.map((y, i) => {
      const sure = 0.55 + (0.4 * ((i * 37) % n)) / n;
      const p = i < correct ? sure : 1 - sure;
      return y === 0 ? [p, 1 - p] : [1 - p, p];
    });
    return { yTrue, probs, classNames: ["neg", "pos"] };
  }

  it("brackets accuracy about as wide as the normal approximation, seeded and repeatable", () => {
    // n = 400, accuracy 0.75: standard error sqrt(0.75 * 0.25 / 400) = 0.02165, 95% half-width 0.0424.
    const input = twoClass(400, 300);
    const m = computeMetrics(input);
    const ci = m.confidenceIntervals!;
    expect(ci).toMatchObject({ level: 0.95, resamples: DEFAULT_BOOTSTRAP_RESAMPLES });
    expect(m.accuracy).toBe(0.75);
    expect(ci.accuracy.low).toBeGreaterThan(0.75 - 0.0424 - 0.01);
    expect(ci.accuracy.low).toBeLessThan(0.75 - 0.0424 + 0.01);
    expect(ci.accuracy.high).toBeGreaterThan(0.75 + 0.0424 - 0.01);
    expect(ci.accuracy.high).toBeLessThan(0.75 + 0.0424 + 0.01);
    expect(ci.macroAuc!.low).toBeLessThan(m.macroAuc!);
    expect(ci.macroAuc!.high).toBeGreaterThan(m.macroAuc!);
    expect(ci.macroAucResamples).toBe(1000);
    expect(computeMetrics(input).confidenceIntervals).toEqual(ci);
  });

  it("is a single point when every resample is the same, and left out with 0 resamples", () => {
    const input = twoClass(20, 20);
    const ci = computeMetrics(input).confidenceIntervals!;
    expect(ci.accuracy).toEqual({ low: 1, high: 1 });
    expect(ci.macroAuc).toEqual({ low: 1, high: 1 });
    expect(computeMetrics({ ...input, bootstrapResamples: 0 }).confidenceIntervals).toBeUndefined();
    expect(() => computeMetrics({ ...input, bootstrapResamples: -1 })).toThrow(MetricsInputError);
  });

  it("uses numpy's linear percentile", () => {
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(quantile([5], 0.975)).toBe(5);
  });
});

describe("argmax", () => {
  it("returns the first index of the maximum", () => {
    expect(argmax([0.2, 0.4, 0.4])).toBe(1);
    expect(argmax([0.9])).toBe(0);
  });
});

describe("bootstrap AUC", () => {
  it("equals rocAuc on the resampled copies", () => {
    const scores = [0.9, 0.8, 0.8, 0.4, 0.4, 0.1];
    const positive = [true, false, true, true, false, false];
    // Sample 0 twice, sample 3 left out: positives 0.9, 0.9, 0.8 vs negatives 0.8, 0.4, 0.1 -> 3 + 3 + 2.5 of 9.
    const count = Int32Array.from([2, 1, 1, 0, 1, 1]);
    const copies = [0, 0, 1, 2, 4, 5];
    const auc = resampledAuc(tiedGroups(scores), positive, count);
    expect(auc).toBeCloseTo(8.5 / 9, 12);
    expect(auc).toBeCloseTo(
      rocAuc(
        copies.map((i) => scores[i]!),
        copies.map((i) => positive[i]!),
      )!,
      12,
    );
    expect(resampledAuc(tiedGroups(scores), positive, Int32Array.from([1, 0, 1, 1, 0, 0]))).toBeNull();
  });
});
