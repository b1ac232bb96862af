import { copyFile, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { predictOutcome } from "../src/cli.js";
import { DatasetError, EXIT_CODES, predict, train, UserInputError } from "../src/index.js";
import { checkClassCounts, checkTrainOptions, isTrainingImageName } from "../src/rules.js";
import { fakeEngine } from "./fake-engine.js";
import { makeDataset, tempDir } from "./helpers.js";

const quick = { epochs: 10, patience: 5, views: 1, tta: 1, cvFolds: 0, seed: 3, upload: false } as const;

describe("dataset and option rules (shared by the runner and submit)", () => {
  it("refuses no class folders, one class, an empty or extra class and too few images", () => {
    expect(() => checkClassCounts("d", [])).toThrow(/no class subfolders/);
    expect(() => checkClassCounts("d", [{ name: "benign", images: 9 }])).toThrow(/single class \(benign\)/);
    expect(() =>
      checkClassCounts("d", [
        { name: "benign", images: 9 },
        { name: "notes", images: 0 },
      ]),
    ).toThrow(/no usable images: notes/);
    expect(() =>
      checkClassCounts("d", [
        { name: "benign", images: 9 },
        { name: "malignant", images: 3 },
      ]),
    ).toThrow(/too few in malignant: 3/);
    expect(() =>
      checkClassCounts("d", [
        { name: "benign", images: 6 },
        { name: "malignant", images: 6 },
      ]),
    ).not.toThrow();
  });

  it("refuses non-positive or non-integer epochs, a non-integer seed and other bad values", () => {
    for (const epochs of [0, -1, Number.NaN, 2.5]) {
      expect(() => checkTrainOptions({ epochs })).toThrow(/--epochs must be a positive integer/);
    }
    expect(() => checkTrainOptions({ seed: Number.NaN })).toThrow(/--seed must be an integer, got NaN/);
    expect(() => checkTrainOptions({ seed: 1.5 })).toThrow(UserInputError);
    expect(() => checkTrainOptions({ learningRate: Number.POSITIVE_INFINITY })).toThrow(/--learning-rate/);
    expect(() => checkTrainOptions({ timeLimitSeconds: 0 })).toThrow(/--time-limit/);
    expect(() => checkTrainOptions({ cvFolds: 1 })).toThrow(/--cv-folds/);
    expect(() => checkTrainOptions({ epochs: 5, seed: 42, cvFolds: 0, views: 2 })).not.toThrow();
  });

  it("knows which names are training images", () => {
    expect(isTrainingImageName("benign (1).png")).toBe(true);
    expect(isTrainingImageName("benign (1)_mask.png")).toBe(false);
    expect(isTrainingImageName("notes.txt")).toBe(false);
    expect(isTrainingImageName(".DS_Store")).toBe(false);
  });
});

describe("degenerate datasets are user errors or recorded decisions", () => {
  it("a class whose images are all identical is a DatasetError that says so, not an internal error", async () => {
    const data = await makeDataset(await tempDir(), { benign: 8, malignant: 8 });
    for (let i = 2; i <= 8; i++) {
      await copyFile(
        path.join(data, "malignant", "malignant (1).png"),
        path.join(data, "malignant", `malignant (${i}).png`),
      );
    }
    const run = train({
      ...quick,
      data,
      out: await tempDir(),
      cacheDir: await tempDir(),
      featureEngine: fakeEngine(),
      quiet: true,
    });
    await expect(run).rejects.toThrow(DatasetError);
    await expect(run).rejects.toThrow(/Class malignant has 8 images but only 1 distinct/);
  });

  it("a class of three distinct images among copies still gets one in each part and trains", async () => {
    const data = await makeDataset(await tempDir(), { benign: 8, malignant: 8 });
    for (let i = 4; i <= 8; i++) {
      await copyFile(
        path.join(data, "malignant", "malignant (1).png"),
        path.join(data, "malignant", `malignant (${i}).png`),
      );
    }
    const out = await tempDir();
    await train({ ...quick, data, out, cacheDir: await tempDir(), featureEngine: fakeEngine(), quiet: true });
    const split = JSON.parse(await readFile(path.join(out, "split.json"), "utf8"));
    for (const part of [split.train, split.val, split.test]) {
      expect(part.some((f: string) => f.startsWith("malignant/"))).toBe(true);
    }
  });

  it("an image present in two classes is left out, logged and recorded in run.json", async () => {
    const data = await makeDataset(await tempDir(), { benign: 8, malignant: 8 });
    await copyFile(
      path.join(data, "benign", "benign (3).png"),
      path.join(data, "malignant", "copy of benign 3.png"),
    );
    const out = await tempDir();
    const lines: string[] = [];
    await train({
      ...quick,
      data,
      out,
      cacheDir: await tempDir(),
      featureEngine: fakeEngine(),
      progress: { update() {}, log: (line) => lines.push(line) },
    });
    const run = JSON.parse(await readFile(path.join(out, "run.json"), "utf8"));
    expect(run.dataset.counts).toEqual({ benign: 7, malignant: 8 });
    const skipped = run.dataset.skipped.map((s: { file: string }) => s.file).sort();
    expect(skipped).toEqual(["benign/benign (3).png", "malignant/copy of benign 3.png"]);
    expect(run.dataset.skipped[0].reason).toMatch(/in another class: left out, its label is ambiguous/);
    expect(lines.join("\n")).toMatch(
      /dataset: left out benign\/benign \(3\)\.png and malignant\/copy of benign 3\.png/,
    );
    const split = JSON.parse(await readFile(path.join(out, "split.json"), "utf8"));
    expect([...split.train, ...split.val, ...split.test]).not.toContain("benign/benign (3).png");
  });
});

describe("predict: masks and partial failures", () => {
  it("skips masks with a note, reports an unreadable image, and a partial failure exits 2", async () => {
    const data = await makeDataset(await tempDir(), { benign: 6, malignant: 6 });
    const out = await tempDir();
    await train({ ...quick, data, out, cacheDir: await tempDir(), featureEngine: fakeEngine(), quiet: true });
    const folder = await tempDir();
    await copyFile(path.join(data, "benign", "benign (1).png"), path.join(folder, "a.png"));
    await copyFile(path.join(data, "benign", "benign (1)_mask.png"), path.join(folder, "a_mask.png"));
    await writeFile(path.join(folder, "broken.png"), "not a png");
    const mask = path.join(data, "malignant", "malignant (2)_mask.png");
    const result = await predict({ inputs: [folder, mask], model: out, featureEngine: fakeEngine() });
    expect(result.predictions.map((p) => path.basename(p.file))).toEqual(["a.png"]);
    expect(result.skipped).toEqual([{ file: mask, reason: expect.stringMatching(/segmentation mask/) }]);
    expect(result.notes.join("\n")).toMatch(/left out 1 segmentation mask file/);
    expect(result.failed.map((f) => path.basename(f.file))).toEqual(["broken.png"]);
    const outcome = predictOutcome(result);
    expect(outcome.exitCode).toBe(EXIT_CODES.userInput);
    expect(outcome.stderr).toMatch(/skipped .*malignant \(2\)_mask\.png: a segmentation mask/);
    expect(outcome.stderr).toMatch(/error: 1 of 2 image\(s\) could not be classified/);
    expect(predictOutcome({ ...result, failed: [] }).exitCode).toBe(EXIT_CODES.ok);

    await expect(predict({ inputs: [mask], model: out, featureEngine: fakeEngine() })).rejects.toThrow(
      /no images to classify .*segmentation mask/,
    );
  });
});
