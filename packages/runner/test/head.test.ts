import { describe, expect, it } from "vitest";
import type { StopReason } from "../src/callbacks.js";
import {
  addOuterProduct,
  addOuterProducts,
  addProduct,
  addProducts,
  DEFAULT_LEARNING_RATES,
  HEAD_KINDS,
  type HeadConfig,
  type LabelledMatrix,
  learningRateAt,
  trainHead,
} from "../src/head.js";
import { Rng } from "../src/rng.js";
import type { NamedArray } from "../src/tensors.js";

/** n rows of 2 features for two classes: the class shifts feature 0 by +-1, plus noise. */
function twoClassRows(n: number, seed: number, flipLabels = false): LabelledMatrix {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    x[i * 2] = (label === 0 ? -1 : 1) + (rng.next() - 0.5);
    x[i * 2 + 1] = rng.next() - 0.5;
    y[i] = flipLabels ? 1 - label : label;
  }
  return { x, y, n, d: 2 };
}

const config = (overrides: Partial<HeadConfig>): HeadConfig => ({
  kind: "dense",
  layers: ["conv5"],
  l2: 0,
  dropout: 0,
  learningRate: 0.05,
  batchSize: 8,
  maxEpochs: 40,
  patience: 3,
  startFromEpoch: 0,
  ...overrides,
});

describe("head training schedule", () => {
  it("decays the learning rate along a cosine from its peak towards 0", () => {
    const c = { learningRate: 0.004, maxEpochs: 60 };
    expect(learningRateAt(c, 1)).toBeCloseTo(0.004, 12);
    expect(learningRateAt(c, 31)).toBeCloseTo(0.002, 12);
    expect(learningRateAt(c, 16)).toBeCloseTo(0.002 * (1 + Math.SQRT1_2), 12);
    expect(learningRateAt(c, 60)).toBeGreaterThan(0);
    expect(learningRateAt(c, 60)).toBeLessThan(0.004 * 0.001);
    for (let epoch = 2; epoch <= 60; epoch++) {
      expect(learningRateAt(c, epoch)).toBeLessThan(learningRateAt(c, epoch - 1));
    }
  });

  // The validation labels are the opposite of the training labels: every epoch of learning makes its loss worse.
  const train = twoClassRows(40, 1);
  const worsening = twoClassRows(20, 2, true);

  it("stops early on a validation loss that only gets worse, restoring the first watched epoch", async () => {
    const result = await trainHead(config({}), train, worsening, { numClasses: 2, seed: 3 });
    expect(result.stopReason).toBe("early-stopping");
    expect(result.bestEpoch).toBe(1);
    expect(result.history).toHaveLength(1 + 3);
  });

  it("does not watch the validation loss before startFromEpoch", async () => {
    const result = await trainHead(config({ startFromEpoch: 10 }), train, worsening, {
      numClasses: 2,
      seed: 3,
    });
    expect(result.stopReason).toBe("early-stopping");
    expect(result.bestEpoch).toBe(11);
    expect(result.history).toHaveLength(11 + 3);
    const first = result.history[0]!;
    expect(result.history[10]!.valLoss).toBeGreaterThan(first.valLoss);
  });
});

describe("trainHead with callbacks and an AbortSignal", () => {
  const watchedFrom2 = config({ maxEpochs: 30, patience: 4, startFromEpoch: 2 });

  it("returns the weights of the best epoch early stopping saw, not the last epoch's", async () => {
    const seen: NamedArray[][] = [];
    const result = await trainHead(watchedFrom2, twoClassRows(40, 1), twoClassRows(20, 2, true), {
      numClasses: 2,
      seed: 3,
      callbacks: [{ onEpochEnd: (_r, loop) => void seen.push(loop.getWeights()) }],
    });
    expect(result.stopReason).toBe("early-stopping");
    expect(result.bestEpoch).toBe(3); // the first watched epoch: every later one is worse
    expect(result.history).toHaveLength(3 + 4);
    expect(seen).toHaveLength(7);
    expect(result.model.weights).toEqual(seen[2]);
    expect(result.model.weights).not.toEqual(seen[6]);
  });

  it("stops between epochs once aborted, after the callbacks saw the epoch in progress", async () => {
    const controller = new AbortController();
    const ended: StopReason[] = [];
    const epochs: number[] = [];
    const result = await trainHead(watchedFrom2, twoClassRows(40, 1), undefined, {
      numClasses: 2,
      seed: 3,
      signal: controller.signal,
      callbacks: [
        {
          onEpochEnd: (r) => {
            epochs.push(r.epoch);
            if (r.epoch === 3) controller.abort();
          },
          onTrainEnd: (_loop, reason) => void ended.push(reason),
        },
      ],
    });
    expect(result.stopReason).toBe("interrupted");
    expect(epochs).toEqual([1, 2, 3]);
    expect(result.history).toHaveLength(3);
    expect(ended).toEqual(["interrupted"]);
  });
});

describe("head kinds", () => {
  const train = twoClassRows(60, 4);
  const val = twoClassRows(30, 5);

  for (const kind of HEAD_KINDS) {
    it(`the ${kind} head learns a separable problem, and the same seed gives the same weights`, async () => {
      const c = config({
        kind,
        learningRate: DEFAULT_LEARNING_RATES[kind],
        dropout: kind === "flatten" ? 0.2 : 0,
        maxEpochs: 30,
        startFromEpoch: 15,
        l2: 1e-3,
      });
      const first = await trainHead(c, train, val, { numClasses: 2, seed: 7 });
      const second = await trainHead(c, train, val, { numClasses: 2, seed: 7 });
      const best = first.history[first.bestEpoch - 1]!;
      expect(best.valAccuracy).toBeGreaterThanOrEqual(0.9);
      expect(best.valLoss).toBeLessThan(Math.log(2) / 2); // half the loss of a coin toss
      expect(second.model.weights).toEqual(first.model.weights);
    });
  }
});

describe("head hot loops", () => {
  const random = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.next() * 4 - 2);

  // 7 rows: one block of four, then three rows one by one; 3 classes take the blocked path, 4 and 2 do not.
  for (const C of [3, 4, 2]) {
    it(`gives bit-identical results with rows in blocks and one by one (${C} classes)`, () => {
      const rng = new Rng(C);
      const H = 37;
      const rows = Array.from({ length: 7 }, () => random(rng, H));
      const w = random(rng, H * C);
      const gs = random(rng, rows.length * C);

      const blocked = random(new Rng(99), rows.length * C);
      const single = Float32Array.from(blocked);
      addProducts(rows, w, C, blocked);
      for (const [r, h] of rows.entries()) addProduct(h, w, C, single.subarray(r * C, (r + 1) * C));
      expect(Array.from(blocked)).toEqual(Array.from(single));

      const gradBlocked = random(new Rng(98), H * C);
      const gradSingle = Float32Array.from(gradBlocked);
      addOuterProducts(rows, gs, C, gradBlocked);
      for (const [r, h] of rows.entries()) addOuterProduct(h, gs.subarray(r * C, (r + 1) * C), gradSingle);
      expect(Array.from(gradBlocked)).toEqual(Array.from(gradSingle));
    });
  }
});
