import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { datasetStage, featuresStage, openRun, RunInterruptedError } from "../src/index.js";
import { fakeEngine } from "./fake-engine.js";
import { makeDataset, tempDir } from "./helpers.js";

describe("the run's stages, called one by one as a benchmark would", () => {
  let data: string;
  beforeAll(async () => {
    data = await makeDataset(await tempDir(), { benign: 8, malignant: 6, normal: 6 });
  });

  it("dataset then features share one context: its plan, output folder and stage timings", async () => {
    const engine = fakeEngine();
    const run = await openRun({
      data,
      out: await tempDir(),
      cacheDir: await tempDir("runner-cache-"),
      featureEngine: engine,
      cvFolds: 0,
      views: 2,
      tta: 1,
      quiet: true,
    });
    try {
      expect(run.plan.crossValidating).toBe(false);
      const dataset = await datasetStage(run);
      expect(dataset.classNames).toEqual(["benign", "malignant", "normal"]);
      expect(dataset.cvPool).toHaveLength(dataset.train.length + dataset.val.length);
      expect(dataset.fitImages).toEqual(dataset.cvPool); // --final-fit train+val: the test split held out
      const split = JSON.parse(await readFile(path.join(run.out, "split.json"), "utf8"));
      expect(split.test).toEqual(dataset.test.map((img) => img.file));

      const features = await featuresStage({ ...run, data: dataset });
      // Two training views for the pool, the one test-time view for the test split.
      expect(engine.images).toBe(2 * dataset.cvPool.length + dataset.test.length);
      expect(features.stats.extracted).toBe(engine.images);
      expect(Object.keys(run.timings)).toEqual(["dataset", "engine", "features"]);
    } finally {
      await run.close();
    }
  });

  it("a stopped run names the reason its AbortSignal was given (the CLI's signal name), else 'aborted'", async () => {
    for (const [reason, named] of [
      ["SIGTERM", "SIGTERM"],
      [undefined, "aborted"],
    ] as const) {
      const stop = new AbortController();
      stop.abort(reason);
      const run = await openRun({
        data,
        out: await tempDir(),
        featureEngine: fakeEngine(),
        quiet: true,
        signal: stop.signal,
      });
      try {
        expect(run.signal.aborted).toBe(true);
        const error = run.interrupted();
        expect(error).toBeInstanceOf(RunInterruptedError);
        expect(error.message).toMatch(
          new RegExp(`^Run stopped \\(${named}\\); checkpoint saved in .*checkpoint`),
        );
      } finally {
        await run.close();
      }
    }
  });
});
