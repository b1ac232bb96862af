import { describe, expect, it } from "vitest";
import { checkTrainArgs, EXIT_CODES, runRunnerCli } from "../src/index.js";
import { makeDataset, tempDir } from "./helpers.js";

async function run(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runRunnerCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe("rescale-runner CLI", () => {
  it("reports a bad dataset as a user error without a stack trace", async () => {
    const data = await makeDataset(await tempDir(), { benign: 8 });
    const { code, stderr } = await run(["train", "--data", data, "--out", await tempDir(), "--quiet"]);
    expect(code).toBe(EXIT_CODES.userInput);
    expect(stderr).toMatch(/^error: .*single class/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it("rejects bad flags with exit code 2", async () => {
    expect((await run(["train"])).code).toBe(EXIT_CODES.userInput);
    expect((await run(["train", "--data", ".", "--engine", "gpu"])).code).toBe(EXIT_CODES.userInput);
    const views = await run(["train", "--data", ".", "--views", "9"]);
    expect(views.code).toBe(EXIT_CODES.userInput);
    expect(views.stderr).toMatch(/--views/);
    const start = await run(["train", "--data", ".", "--epochs", "10", "--start-from-epoch", "10"]);
    expect(start.code).toBe(EXIT_CODES.userInput);
    expect(start.stderr).toMatch(
      /^error: --start-from-epoch must be an integer from 0 to 9 \(below --epochs 10\), got 10/,
    );
    expect((await run(["train", "--data", ".", "--final-fit", "everything"])).code).toBe(
      EXIT_CODES.userInput,
    );
    const repeats = await run(["train", "--data", ".", "--cv-repeats", "0"]);
    expect(repeats.code).toBe(EXIT_CODES.userInput);
    expect(repeats.stderr).toMatch(/^error: --cv-repeats must be a positive integer, got 0/);
    const exactFlatten = await run(["train", "--data", ".", "--head", "flatten", "--solver", "exact"]);
    expect(exactFlatten.code).toBe(EXIT_CODES.userInput);
    expect(exactFlatten.stderr).toMatch(/dense head only/);
    expect((await run(["frobnicate"])).code).toBe(EXIT_CODES.userInput);
  });

  it("checkTrainArgs (what submit calls before uploading) refuses what train would refuse", () => {
    expect(() =>
      checkTrainArgs(["--epochs", "5", "--seed", "7", "--device=cpu", "--cv-folds", "0"]),
    ).not.toThrow();
    expect(() => checkTrainArgs(["--epochs", "0"])).toThrow(/--epochs must be a positive integer, got 0/);
    expect(() => checkTrainArgs(["--epochs=-1"])).toThrow(/--epochs must be a positive integer, got -1/);
    expect(() => checkTrainArgs(["--epochs", "NaN"])).toThrow(/--epochs must be a positive integer/);
    expect(() => checkTrainArgs(["--seed", "abc"])).toThrow(/--seed must be an integer/);
    expect(() => checkTrainArgs(["--frobnicate"])).toThrow(/Unknown argument: frobnicate/);
    expect(() => checkTrainArgs(["--engine", "gpu"])).toThrow(/engine/);
    expect(() => checkTrainArgs(["--out", "elsewhere"])).toThrow(/--out is set by the job itself/);
  });

  it("predict without a trained model says what to pass", async () => {
    const empty = await tempDir();
    const { code, stderr } = await run(["predict", empty, "--model", empty]);
    expect(code).toBe(EXIT_CODES.userInput);
    expect(stderr).toMatch(/holds no trained model/);
  });
});

describe("train summary", () => {
  it("shows the key test metrics: CIs, balanced accuracy, kappa, log loss, per-class sensitivity and specificity", async () => {
    const { computeMetrics } = await import("../src/metrics.js");
    const { trainSummary } = await import("../src/cli.js");
    const metrics = computeMetrics({
      yTrue: [0, 0, 1, 1],
      probs: [
        [0.9, 0.1],
        [0.4, 0.6],
        [0.2, 0.8],
        [0.3, 0.7],
      ],
      classNames: ["benign", "malignant"],
    });
    const report = {
      engine: { description: "fake engine" },
      crossValidation: { skipped: "--cv-folds 0" },
      dataset: { skipped: [] },
      device: { kind: "cpu", api: "cpu", reason: "--device cpu" },
      finalFit: { images: "train+val", count: 24, rows: 48, testHeldOut: true },
      test: { heldOut: true },
    };
    const text = trainSummary({
      outDir: "/out",
      metrics,
      report: report as never,
      zip: "/out/artifacts.zip",
      upload: { status: "skipped", reason: "--no-upload" },
    });
    const ci = metrics.confidenceIntervals!;
    expect(text).toContain(
      `test accuracy 0.750 (95% CI ${ci.accuracy.low.toFixed(3)}-${ci.accuracy.high.toFixed(3)})  macro AUC 1.000`,
    );
    // Kappa: p_o 3/4, p_e (2*1 + 2*3)/16 = 1/2 -> 0.5. Log loss: -(ln .9 + ln .4 + ln .8 + ln .7) / 4.
    const logLoss = -(Math.log(0.9) + Math.log(0.4) + Math.log(0.8) + Math.log(0.7)) / 4;
    expect(text).toContain(
      `balanced accuracy 0.750  macro F1 0.733  kappa 0.500  log loss ${logLoss.toFixed(3)}`,
    );
    expect(text).toContain(
      "  benign: sensitivity 0.500  specificity 1.000  precision 1.000  F1 0.667  (n 2)",
    );
    expect(text).toContain(
      "  malignant: sensitivity 1.000  specificity 0.500  precision 0.667  F1 0.800  (n 2)",
    );
  });
});
