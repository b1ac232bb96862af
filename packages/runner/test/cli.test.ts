import { describe, expect, it } from "vitest";
import { EXIT_CODES, runRunnerCli } from "../src/index.js";
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

  it("predict without a trained model says what to pass", async () => {
    const empty = await tempDir();
    const { code, stderr } = await run(["predict", empty, "--model", empty]);
    expect(code).toBe(EXIT_CODES.userInput);
    expect(stderr).toMatch(/holds no trained model/);
  });
});
