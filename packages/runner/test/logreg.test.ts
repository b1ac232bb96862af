import { describe, expect, it } from "vitest";
import { type HeadConfig, type LabelledMatrix, predictHead, standardisation } from "../src/head.js";
import { addGram, fitExactHead } from "../src/logreg.js";
import { Rng } from "../src/rng.js";

const config = (l2: number): HeadConfig => ({
  kind: "dense",
  solver: "exact",
  layers: ["conv5"],
  l2,
  dropout: 0,
  learningRate: 0,
  batchSize: 0,
  maxEpochs: 0,
  patience: 0,
  startFromEpoch: 0,
});

/** n rows of d features, C classes: the class shifts the first features, plus noise. */
function rows(n: number, d: number, C: number, seed: number): LabelledMatrix {
  const rng = new Rng(seed);
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 5 === 4 ? i % C : Math.floor((rng.next() * C) % C);
    for (let j = 0; j < d; j++) x[i * d + j] = (j < C && j === y[i] ? 1.5 : 0) + rng.next() * 2 - 1 + 3;
  }
  return { x, y, n, d };
}

/**
 * The gradient of the head's objective in the original feature space, computed independently of the solver:
 * mean balanced-weighted cross-entropy over standardised rows + l2 ||W||^2. Returns its largest component.
 */
function primalGradientMax(m: LabelledMatrix, l2: number, model: ReturnType<typeof fitExactHead>["model"]) {
  const C = model.numClasses;
  const { mean, std } = standardisation(m);
  const w = model.weights[0]!.data;
  const b = model.weights[1]!.data;
  const counts = new Array<number>(C).fill(0);
  for (const label of m.y) counts[label]!++;
  const gw = new Float64Array(m.d * C);
  const gb = new Float64Array(C);
  for (let i = 0; i < m.n; i++) {
    const z = Array.from({ length: m.d }, (_, j) => (m.x[i * m.d + j]! - mean[j]!) / std[j]!);
    const logits = Array.from(
      { length: C },
      (_, c) => b[c]! + z.reduce((s, v, j) => s + v * w[j * C + c]!, 0),
    );
    const max = Math.max(...logits);
    const e = logits.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, v) => a + v, 0);
    const weight = m.n / (C * counts[m.y[i]!]!);
    for (let c = 0; c < C; c++) {
      const g = (weight * (e[c]! / sum - (c === m.y[i] ? 1 : 0))) / m.n;
      gb[c]! += g;
      for (let j = 0; j < m.d; j++) gw[j * C + c]! += z[j]! * g;
    }
  }
  for (let i = 0; i < gw.length; i++) gw[i]! += 2 * l2 * w[i]!;
  return Math.max(...gw.map(Math.abs), ...gb.map(Math.abs));
}

describe("exact head solver", () => {
  it("matches a hand-computed optimum: two points, two classes", () => {
    // x = +1 (class 0) and -1 (class 1) standardise to z = +-1. By symmetry W = [u/2, -u/2], and the objective
    // log(1 + e^-u) + l2 u^2 / 2 is stationary where l2 u (1 + e^u) = 1. Solved by bisection here.
    const l2 = 0.1;
    let lo = 0;
    let hi = 10;
    for (let i = 0; i < 200; i++) {
      const mid = (lo + hi) / 2;
      if (l2 * mid * (1 + Math.exp(mid)) < 1) lo = mid;
      else hi = mid;
    }
    const m: LabelledMatrix = { x: Float32Array.of(1, -1), y: Int32Array.of(0, 1), n: 2, d: 1 };
    const { model, solution } = fitExactHead(config(l2), m, 2);
    const [w0, w1] = model.weights[0]!.data;
    expect(w0! - w1!).toBeCloseTo(lo, 4);
    expect(w0! + w1!).toBeCloseTo(0, 5);
    expect(solution.objective).toBeCloseTo(Math.log(1 + Math.exp(-lo)) + (l2 * lo * lo) / 2, 6);
    const probs = predictHead(model, m);
    expect(probs[0]!).toBeCloseTo(1 / (1 + Math.exp(-lo)), 4);
  });

  for (const [n, d] of [
    [40, 60],
    [60, 5],
  ] as const) {
    it(`reaches the optimum: the objective's gradient is ~0 in feature space (n ${n}, d ${d})`, () => {
      const m = rows(n, d, 3, n + d);
      for (const l2 of [0.3, 0.01]) {
        const { model, solution } = fitExactHead(config(l2), m, 3);
        expect(solution.gradientMax).toBeLessThan(1e-5);
        expect(primalGradientMax(m, l2, model)).toBeLessThan(1e-4);
      }
    });
  }

  it("is deterministic and the Gram matrix is symmetric Z Z^T", () => {
    const m = rows(13, 9, 3, 4);
    const a = fitExactHead(config(0.05), m, 3);
    const b = fitExactHead(config(0.05), m, 3);
    expect(a.model.weights[0]!.data).toEqual(b.model.weights[0]!.data);
    const k = new Float64Array(13 * 13);
    addGram(m, 2, 7, k);
    for (let i = 0; i < 13; i++) {
      for (let j = 0; j < 13; j++) {
        let s = 0;
        for (let c = 2; c < 7; c++) s += m.x[i * 9 + c]! * m.x[j * 9 + c]!;
        expect(k[i * 13 + j]).toBeCloseTo(s, 3);
      }
    }
  });
});
