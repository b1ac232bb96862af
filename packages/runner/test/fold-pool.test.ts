import { describe, expect, it } from "vitest";
import * as sourceCv from "../src/cv.js";
import type { LayerFeatures } from "../src/features/cache.js";
import { featureKey } from "../src/features/extract.js";
import * as sourcePool from "../src/fold-pool.js";
import { Rng } from "../src/rng.js";

// The compiled modules (`pnpm test` builds first): only they have a worker script to start.
const builtCv = (await import("../dist/cv.js" as string)) as typeof sourceCv;
const builtPool = (await import("../dist/fold-pool.js" as string)) as typeof sourcePool;

/** 30 images of 3 classes with two views each: features = a class signal plus noise. */
function syntheticFeatures() {
  const rng = new Rng(11);
  const features = new Map<string, LayerFeatures>();
  const images: sourceCv.CvImage[] = [];
  for (let i = 0; i < 30; i++) {
    const label = i % 3;
    const hash = `h${i}`;
    images.push({ file: `f${i}.png`, hash, label, viewIds: ["orig", "flip"] });
    for (const view of ["orig", "flip"]) {
      const make = (dim: number) =>
        Float32Array.from({ length: dim }, (_, j) => (j % 3 === label ? 1 : 0) + rng.next() * 1.5);
      features.set(featureKey(hash, view), { conv3: make(512), conv4: make(1024), conv5: make(2048) });
    }
  }
  return { images, features };
}

const base = {
  kind: "dense",
  learningRate: 1e-2,
  batchSize: 8,
  maxEpochs: 8,
  patience: 3,
  startFromEpoch: 2,
} as const;

/** 3-fold CV of the synthetic features, scored on orig + flip. */
const cvOptions = () => ({
  ...syntheticFeatures(),
  classNames: ["a", "b", "c"],
  base,
  evalViewIds: ["orig", "flip"],
  k: 3,
  seed: 5,
});

describe("cross-validation folds on worker threads", () => {
  it("only the compiled pool can start workers", () => {
    expect(builtPool.workerThreadsAvailable()).toBe(true);
    expect(sourcePool.workerThreadsAvailable()).toBe(false);
  });

  it("gives the same scores and choice on 2 workers as in one thread", async () => {
    const options = cvOptions();
    const inline = await sourceCv.crossValidate({ ...options, workers: 1 });
    const reported: string[] = [];
    const parallel = await builtCv.crossValidate({
      ...options,
      workers: 2,
      onCandidate: (s) => reported.push(s.name),
    });
    expect(parallel.scores).toEqual(inline.scores);
    expect(parallel.best).toEqual(inline.best);
    expect(reported).toEqual(inline.scores.map((s) => s.name));
    expect(inline.scores).toHaveLength(sourceCv.DEFAULT_CANDIDATES.length);
  });

  it("exact solver: the 7 stage sets x the L2 path on the same folds, repeated, identical on 2 workers", async () => {
    const options = { ...cvOptions(), solver: "exact" as const, repeats: 2 };
    const inline = await sourceCv.crossValidate({ ...options, workers: 1 });
    const parallel = await builtCv.crossValidate({ ...options, workers: 2 });
    expect(parallel.scores).toEqual(inline.scores);
    expect(inline.scores.map((s) => s.candidate)).toEqual(sourceCv.EXACT_CANDIDATES);
    expect(new Set(inline.scores.map((s) => s.candidate.layers.join("+"))).size).toBe(7);
    for (const s of inline.scores) expect(s.folds).toHaveLength(6);
    // Same folds for every candidate: one candidate scored alone gets its scores in the full grid (to the solver's
    // tolerance: in the grid it is warm-started from the previous L2's solution, alone from zero).
    const alone = sourceCv.EXACT_CANDIDATES.filter(
      (c) => c.layers.join("+") === "conv4+conv5" && c.l2 === 0.1,
    );
    const single = (await sourceCv.crossValidate({ ...options, candidates: alone, workers: 1 })).scores[0]!;
    const inGrid = inline.scores.find((s) => s.name === single.name)!;
    for (const [i, fold] of single.folds.entries()) {
      expect(fold.accuracy).toBe(inGrid.folds[i]!.accuracy);
      expect(fold.valLoss).toBeCloseTo(inGrid.folds[i]!.valLoss, 3);
    }
    // Deterministic for a seed; another seed folds differently.
    expect((await sourceCv.crossValidate({ ...options, workers: 1 })).scores).toEqual(inline.scores);
    const reseeded = await sourceCv.crossValidate({ ...options, seed: 6, workers: 1 });
    expect(reseeded.scores).not.toEqual(inline.scores);
    const { foldings } = sourceCv.repeatedFolds(options.images, 3, 2, 5);
    expect(foldings[0]).not.toEqual(foldings[1]);
  });

  it("stops when its signal fires: no fold starts after it, running workers are ended", async () => {
    const early = new AbortController();
    early.abort();
    await expect(builtCv.crossValidate({ ...cvOptions(), workers: 2, signal: early.signal })).rejects.toThrow(
      builtCv.CrossValidationStoppedError,
    );
    const mid = new AbortController();
    const scored: string[] = [];
    const run = builtCv.crossValidate({
      ...cvOptions(),
      workers: 2,
      signal: mid.signal,
      onCandidate: (s) => {
        scored.push(s.name);
        mid.abort();
      },
    });
    await expect(run).rejects.toThrow("cross-validation stopped");
    expect(scored).toHaveLength(1);
    expect(builtCv.DEFAULT_CANDIDATES.length).toBeGreaterThan(1);
  });
});
