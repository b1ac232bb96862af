import { describe, expect, it } from "vitest";
import { argmax, computeMetrics, MetricsInputError, rocAuc, rocCurve } from "../src/metrics.js";

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
    });
    expect(m.n).toBe(6);
    expect(m.accuracy).toBeCloseTo(4 / 6, 12);
  });

  it("computes per-class precision, recall, F1, support and macro F1", () => {
    expect(m.perClass).toEqual([
      { className: "A", precision: 0.5, recall: 0.5, f1: 0.5, support: 2 },
      { className: "B", precision: 0.5, recall: 0.5, f1: 0.5, support: 2 },
      { className: "C", precision: 1, recall: 1, f1: 1, support: 2 },
    ]);
    expect(m.macroF1).toBeCloseTo(2 / 3, 12);
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
    expect(m.perClass[1]).toEqual({ className: "B", precision: 0, recall: 0, f1: 0, support: 2 });
    expect(m.perClass[2]).toEqual({ className: "C", precision: 0, recall: 0, f1: 0, support: 0 });
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

describe("argmax", () => {
  it("returns the first index of the maximum", () => {
    expect(argmax([0.2, 0.4, 0.4])).toBe(1);
    expect(argmax([0.9])).toBe(0);
  });
});
