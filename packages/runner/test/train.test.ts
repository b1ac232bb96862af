import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import nock from "nock";
import { beforeAll, describe, expect, it } from "vitest";
import { firstViews } from "../src/augment.js";
import { loadHead } from "../src/checkpoint.js";
import { buildMatrix, STAGE_SETS } from "../src/cv.js";
import { scanDataset } from "../src/dataset.js";
import { FeatureCache } from "../src/features/cache.js";
import { extractFeatures } from "../src/features/extract.js";
import { standardisation } from "../src/head.js";
import { predict, RunInterruptedError, train, UnsupportedError, UserInputError } from "../src/index.js";
import { fakeEngine } from "./fake-engine.js";
import { makeDataset, tempDir } from "./helpers.js";

const quick = { epochs: 30, patience: 5, views: 2, cvFolds: 2, seed: 3, quiet: true, upload: false } as const;

describe("train pipeline (fake feature engine)", () => {
  let data: string;
  let cacheDir: string;
  beforeAll(async () => {
    data = await makeDataset(await tempDir(), { benign: 10, malignant: 8, normal: 8 });
    cacheDir = await tempDir("runner-cache-");
  });

  // Five runs of the pipeline (plots included): over a minute on a loaded machine.
  it("writes every artifact, and a second run reuses the feature cache", { timeout: 180_000 }, async () => {
    const out = await tempDir();
    const engine = fakeEngine();
    const result = await train({ ...quick, data, out, cacheDir, featureEngine: engine });
    const files = await readdir(out);
    for (const f of [
      "labels.json",
      "split.json",
      "history.json",
      "history.csv",
      "metrics.json",
      "predictions.csv",
      "run.json",
      "artifacts.zip",
      "accuracy.png",
      "loss.png",
      "model",
    ]) {
      expect(files).toContain(f);
    }
    expect(JSON.parse(await readFile(path.join(out, "labels.json"), "utf8")).classNames).toEqual([
      "benign",
      "malignant",
      "normal",
    ]);
    const run = JSON.parse(await readFile(path.join(out, "run.json"), "utf8"));
    expect(run.engine.description).toBe("fake test engine");
    const pkg = JSON.parse(await readFile(path.join(import.meta.dirname, "../package.json"), "utf8"));
    expect(run.runner).toEqual({ name: "@rescale-run/runner", version: pkg.version });
    expect(run.split).toMatchObject({ train: 18, val: 4, test: 4 });
    expect(run.crossValidation.solver).toBe("exact");
    // The grid: every stage set (7) x the L2 path (3), all scored on the same folds.
    expect(run.crossValidation.scores).toHaveLength(21);
    const sets = new Set(
      run.crossValidation.scores.map((s: { candidate: { layers: string[] } }) =>
        s.candidate.layers.join("+"),
      ),
    );
    expect([...sets]).toEqual(STAGE_SETS.map((layers) => layers.join("+")));
    expect(run.finalFit).toEqual({ images: "train+val", count: 22, rows: 44, testHeldOut: true });
    expect(run.test.heldOut).toBe(true);
    expect(run.head.stopReason).toBe("converged");
    expect(run.head.gradientMax).toBeLessThan(1e-4);
    expect(run.dataset.masksExcluded).toBe(26);
    expect(run.views).toEqual(["orig", "flip"]);
    expect(run.ttaViews).toEqual(["orig", "flip"]);
    const head = JSON.parse(await readFile(path.join(out, "model", "head.json"), "utf8"));
    expect(head.ttaViews).toEqual(["orig", "flip"]);
    // (18 training + 4 validation images) x 2 views + 4 test images x 2 views (test-time augmentation)
    expect(engine.images).toBe(52);
    expect(run.features).toMatchObject({ extracted: 52, cached: 0 });
    expect(result.metrics.accuracy).toBeGreaterThanOrEqual(0.75);
    const predictions = (await readFile(path.join(out, "predictions.csv"), "utf8")).trim().split("\n");
    expect(predictions[0]).toBe("file,trueClass,predictedClass,prob_benign,prob_malignant,prob_normal");
    expect(predictions).toHaveLength(5);
    const history = JSON.parse(await readFile(path.join(out, "history.json"), "utf8"));
    expect(history).toMatchObject({ schema: "rescale-run/history@1", bestEpoch: run.head.bestEpoch });
    expect(history.epochs.length).toBe(run.head.epochs);
    // The training loss without the L2 penalty is recorded beside the objective, and is below it.
    for (const e of history.epochs) expect(e.dataLoss).toBeLessThan(e.loss);
    expect(run.schema).toBe("rescale-run/run@1");
    const metricsJson = JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8"));
    expect(metricsJson.schema).toBe("rescale-run/metrics@1");
    expect(metricsJson.confidenceIntervals.resamples).toBe(1000);
    expect(files).toContain("precision-recall.png");
    if (result.metrics.accuracy < 1) expect(files).toContain("misclassified.jpg");
    expect(result.upload.status).toBe("skipped");

    const again = fakeEngine();
    const second = await train({ ...quick, data, out: await tempDir(), cacheDir, featureEngine: again });
    expect(again.calls).toBe(0);
    expect(second.report.features).toMatchObject({ extracted: 0, cached: 52 });
    expect(second.metrics.accuracy).toBe(result.metrics.accuracy);

    const changed = fakeEngine("fake-engine-v2");
    await train({ ...quick, data, out: await tempDir(), cacheDir, featureEngine: changed, cvFolds: 0 });
    expect(changed.images).toBe(52);

    const plain = fakeEngine("fake-engine-v3");
    const noTta = await train({
      ...quick,
      data,
      out: await tempDir(),
      cacheDir,
      featureEngine: plain,
      tta: 1,
    });
    expect(plain.images).toBe(48);
    expect(noTta.report.ttaViews).toEqual(["orig"]);

    // Training images carry every test-time view, so held-out cross-validation folds are scored like the test split.
    const wide = fakeEngine("fake-engine-v4");
    await train({ ...quick, data, out: await tempDir(), cacheDir, featureEngine: wide, views: 1, tta: 3 });
    expect(wide.images).toBe(22 * 3 + 4 * 3);
  });

  /** The mean feature vector the saved model standardises with: it is the mean over the rows it was fitted on. */
  async function fittedMean(out: string, files: (split: Record<string, string[]>) => string[]) {
    const split = JSON.parse(await readFile(path.join(out, "split.json"), "utf8"));
    const { model } = await loadHead(path.join(out, "model"));
    const dataset = await scanDataset(data);
    const byFile = new Map(dataset.images.map((img) => [img.file, img]));
    const engine = fakeEngine();
    const cache = new FeatureCache(path.join(await tempDir("runner-cache-"), "f"), engine.cacheKey);
    const images = files(split).map((f) => byFile.get(f)!);
    const views = firstViews(2);
    const { features } = await extractFeatures(
      images.map((image) => ({ image, views })),
      { engine, cache },
    );
    const rows = buildMatrix(
      images.flatMap((img) => views.map((v) => ({ ...img, viewId: v.id }))),
      model.config.layers,
      features,
    );
    return { saved: model.mean, expected: standardisation(rows).mean };
  }

  it("fits the saved model on train + validation, never on the test split unless --final-fit all", async () => {
    const options = { ...quick, data, cacheDir, featureEngine: fakeEngine(), cvFolds: 0 };
    const out = await tempDir();
    const run = await train({ ...options, out });
    expect(run.report.finalFit).toMatchObject({ images: "train+val", count: 22, testHeldOut: true });
    const held = await fittedMean(out, (split) => [...split.train!, ...split.val!]);
    for (let j = 0; j < held.expected.length; j++) expect(held.saved[j]).toBeCloseTo(held.expected[j]!, 4);
    const withTest = await fittedMean(out, (split) => [...split.train!, ...split.val!, ...split.test!]);
    expect(withTest.saved.some((v, j) => Math.abs(v - withTest.expected[j]!) > 1e-3)).toBe(true);

    const allOut = await tempDir();
    const lines: string[] = [];
    const all = await train({
      ...options,
      out: allOut,
      finalFit: "all",
      progress: { update() {}, log: (line) => lines.push(line) },
    });
    expect(all.report.finalFit).toMatchObject({ images: "all", count: 26, testHeldOut: false });
    expect(all.report.test.heldOut).toBe(false);
    expect(lines.join("\n")).toContain("NOT held out");
    const everything = await fittedMean(allOut, (split) => [...split.train!, ...split.val!, ...split.test!]);
    for (let j = 0; j < everything.expected.length; j++) {
      expect(everything.saved[j]).toBeCloseTo(everything.expected[j]!, 4);
    }
    await expect(
      train({ ...options, out: await tempDir(), finalFit: "everything" as "all" }),
    ).rejects.toThrow(UserInputError);
    await expect(
      train({ ...options, out: await tempDir(), head: "flatten", solver: "exact" }),
    ).rejects.toThrow(/dense head only/);
  });

  it("refits an Adam head on train + validation for the epochs its CV folds kept", async () => {
    const run = await train({
      ...quick,
      data,
      cacheDir,
      out: await tempDir(),
      featureEngine: fakeEngine(),
      solver: "adam",
      layers: ["conv5"],
    });
    const cv = run.report.crossValidation as {
      chosen: string;
      scores: { name: string; folds: { bestEpoch: number }[] }[];
    };
    const best = cv.scores
      .find((s) => s.name === cv.chosen)!
      .folds.map((f) => f.bestEpoch)
      .sort((a, b) => a - b);
    expect(best).toHaveLength(2);
    expect(run.report.head.epochs).toBe(Math.round((best[0]! + best[1]!) / 2));
    expect(run.report.finalFit.count).toBe(22);
  });

  it("stops after an epoch with a checkpoint, and --resume finishes like an uninterrupted run", async () => {
    const options = {
      ...quick,
      data,
      cacheDir,
      cvFolds: 0,
      layers: ["conv5" as const],
      solver: "adam" as const,
      patience: 50,
      epochs: 12,
    };
    const reference = await train({ ...options, out: await tempDir(), featureEngine: fakeEngine() });

    const out = await tempDir();
    const controller = new AbortController();
    const progress = {
      update() {},
      log(line: string) {
        if (line.startsWith("epoch 4:")) controller.abort();
      },
    };
    const stopped = train({
      ...options,
      out,
      featureEngine: fakeEngine(),
      signal: controller.signal,
      progress,
    });
    await expect(stopped).rejects.toThrow(RunInterruptedError);
    const state = JSON.parse(await readFile(path.join(out, "checkpoint", "state.json"), "utf8"));
    expect(state.epoch).toBe(4);
    // What finished is kept: the dataset stage's files and the history of the epochs trained (the callbacks').
    const partial = JSON.parse(await readFile(path.join(out, "history.json"), "utf8"));
    expect(partial.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2, 3, 4]);
    await expect(readFile(path.join(out, "history.csv"), "utf8")).resolves.toMatch(/\n4,/);
    for (const file of ["labels.json", "split.json"]) await stat(path.join(out, file));
    for (const file of ["metrics.json", "run.json", "artifacts.zip"]) {
      await expect(stat(path.join(out, file))).rejects.toThrow();
    }

    const resumed = await train({ ...options, out, featureEngine: fakeEngine(), resume: true });
    expect(resumed.report.head.epochs).toBe(12);
    const history = JSON.parse(await readFile(path.join(out, "history.json"), "utf8"));
    const referenceHistory = JSON.parse(await readFile(path.join(reference.outDir, "history.json"), "utf8"));
    expect(history).toEqual(referenceHistory);
    expect(resumed.metrics).toEqual(reference.metrics);
  });

  it("predicts class names and probabilities with the saved model", async () => {
    const out = await tempDir();
    await train({ ...quick, data, out, cacheDir, featureEngine: fakeEngine(), cvFolds: 0 });
    const engine = fakeEngine();
    const result = await predict({
      inputs: [path.join(data, "malignant")],
      model: out,
      featureEngine: engine,
    });
    // Averaged over the views the model was evaluated with (head.json: orig + flip).
    expect(engine.images).toBe(16);
    expect(result.classNames).toEqual(["benign", "malignant", "normal"]);
    expect(result.predictions).toHaveLength(8);
    for (const p of result.predictions) {
      const sum = Object.values(p.probabilities).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(1, 5);
      expect(result.classNames).toContain(p.className);
    }
    expect(result.predictions.filter((p) => p.className === "malignant").length).toBeGreaterThanOrEqual(6);
  });

  it("uploads the artifacts inside a Rescale job (its env names) and records their ids", async () => {
    const baseUrl = "http://127.0.0.1:9";
    const apiKey = "0123456789abcdef0123456789abcdef01234567";
    nock.disableNetConnect();
    let n = 0;
    const scope = nock(baseUrl, { reqheaders: { authorization: `Token ${apiKey}` } })
      .post("/api/v2/files/contents/")
      .times(3)
      .reply(201, () => {
        n++;
        return {
          id: `file${n}`,
          name: `f${n}`,
          typeId: 1,
          dateUploaded: "2026-11-25T18:00:00.000000Z",
          decryptedSize: 1,
          isUploaded: true,
          isDeleted: false,
          relativePath: `f${n}`,
        };
      });
    try {
      const out = await tempDir();
      const lines: string[] = [];
      const result = await train({
        ...quick,
        upload: "auto",
        cvFolds: 0,
        data,
        out,
        cacheDir,
        featureEngine: fakeEngine(),
        env: { RESCALE_API_KEY: apiKey, RESCALE_API_BASE_URL: baseUrl, RESCALE_JOB_ID: "JoB1" },
        progress: { update() {}, log: (line) => lines.push(line) },
      });
      expect(scope.isDone()).toBe(true);
      expect(result.upload.status).toBe("uploaded");
      const uploaded = JSON.parse(await readFile(path.join(out, "uploaded.json"), "utf8"));
      expect(uploaded.map((u: { id: string }) => u.id)).toEqual(["file1", "file2", "file3"]);
      expect(uploaded[0].path).toBe(result.zip);
      expect(lines.join("\n")).toContain("file1");
      expect(lines.join("\n")).not.toContain(apiKey);
      expect(await readFile(path.join(out, "run.json"), "utf8")).not.toContain(apiKey);
    } finally {
      nock.cleanAll();
      nock.enableNetConnect();
    }
  });

  it("a failed upload after a good training is a warning: result returned, artifacts kept", async () => {
    const baseUrl = "http://127.0.0.1:9";
    nock.disableNetConnect();
    const scope = nock(baseUrl).post("/api/v2/files/contents/").reply(401, { detail: "Invalid token." });
    try {
      const out = await tempDir();
      const result = await train({
        ...quick,
        upload: "auto",
        cvFolds: 0,
        data,
        out,
        cacheDir,
        featureEngine: fakeEngine(),
        env: { RESCALE_API_KEY: "k".repeat(40), RESCALE_API_BASE_URL: baseUrl, RESCALE_JOB_ID: "JoB1" },
      });
      expect(scope.isDone()).toBe(true);
      expect(result.upload).toMatchObject({ status: "failed", files: [] });
      expect((await stat(result.zip)).size).toBeGreaterThan(0);
      expect((await readdir(out)).sort()).toEqual(expect.arrayContaining(["metrics.json", "run.json"]));
    } finally {
      nock.cleanAll();
      nock.enableNetConnect();
    }
  });

  it("refuses fine-tuning without the GPU backend", async () => {
    await expect(
      train({ ...quick, data, out: await tempDir(), cacheDir, featureEngine: fakeEngine(), fineTune: true }),
    ).rejects.toThrow(UnsupportedError);
  });
});
