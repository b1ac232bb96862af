import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type LocalPlatform, startLocalPlatform } from "@rescale-run/local";
import {
  jobBody,
  makeSandbox,
  RawApi,
  REPO_ROOT,
  type Sandbox,
  tsSourceArgs,
  writeImageFolderDataset,
} from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { EpochRecord } from "../src/head.js";

// Issue 4, process faults in training: the runner killed with SIGKILL mid-training continues with --resume
// from its last checkpoint, its history intact; SIGTERM and the job's walltime stop it cleanly with the last
// checkpoint and the history so far among the outputs. The runner runs as a real process from source.

const runnerBin = path.join(REPO_ROOT, "packages/runner/src/bin.ts");
/** Shared across runs of this test: the ONNX model and image features are cached by content. */
const CACHE = path.join(tmpdir(), "rescale-run-reliability-cache");
const EPOCHS = 150;
/** Small, fast, deterministic training: no cross-validation, one view, no early stop; Adam epochs to interrupt. */
const TRAIN_FLAGS = [
  "--solver",
  "adam",
  "--epochs",
  String(EPOCHS),
  "--patience",
  "100000",
  "--cv-folds",
  "0",
  "--views",
  "1",
  "--quiet",
];
const INTERRUPTED = 75;

let sandbox: Sandbox;
let dataset: string;

function runnerArgs(out: string, extra: string[] = []): string[] {
  return [...tsSourceArgs(runnerBin), "train", "--data", dataset, "--out", out, ...TRAIN_FLAGS, ...extra];
}

function startRunner(
  out: string,
  extra: string[] = [],
): { child: ChildProcess; exit: Promise<number | null>; log: () => string } {
  let log = "";
  const child = spawn(process.execPath, runnerArgs(out, extra), {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...sandbox.env,
      XDG_CACHE_HOME: CACHE,
      RESCALE_API_KEY: undefined,
      RESCALE_API_URL: undefined,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => {
    log += d;
  });
  child.stderr!.on("data", (d) => {
    log += d;
  });
  const exit = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return { child, exit, log: () => log };
}

function checkpointEpoch(out: string): number {
  try {
    return (JSON.parse(readFileSync(path.join(out, "checkpoint", "state.json"), "utf8")) as { epoch: number })
      .epoch;
  } catch {
    return 0; // not written yet, or being replaced
  }
}

async function waitForCheckpoint(out: string, minEpoch: number, exit: Promise<unknown>): Promise<void> {
  let exited = false;
  void exit.then(() => {
    exited = true;
  });
  const deadline = Date.now() + 240_000;
  while (checkpointEpoch(out) < minEpoch) {
    if (exited) throw new Error(`the runner exited before checkpointing epoch ${minEpoch}`);
    if (Date.now() > deadline) throw new Error(`no checkpoint of epoch ${minEpoch} in time`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const readHistory = (out: string): EpochRecord[] =>
  JSON.parse(readFileSync(path.join(out, "history.json"), "utf8")).epochs;

const readCheckpoint = (out: string): { epoch: number; history: EpochRecord[] } =>
  JSON.parse(readFileSync(path.join(out, "checkpoint", "state.json"), "utf8"));

function expectSameHistory(actual: EpochRecord[], expected: EpochRecord[]): void {
  expect(actual).toHaveLength(expected.length);
  for (const [i, entry] of actual.entries()) {
    expect(entry.epoch).toBe(expected[i]!.epoch);
    expect(entry.loss, `epoch ${i + 1}`).toBeCloseTo(expected[i]!.loss, 9);
    // The saved model is refitted on train + validation: no validation loss (null in history.json) to compare.
    if (expected[i]!.valLoss === null) expect(entry.valLoss).toBeNull();
    else expect(entry.valLoss, `epoch ${i + 1}`).toBeCloseTo(expected[i]!.valLoss, 9);
  }
}

beforeAll(async () => {
  sandbox = await makeSandbox("runner-resume-");
  dataset = path.join(sandbox.root, "dataset");
  await writeImageFolderDataset(dataset, {
    classes: { benign: 8, malignant: 8, normal: 8 },
    size: 64,
    seed: 900,
  });
});
afterAll(() => sandbox.cleanup());

describe("runner process faults", () => {
  let reference: EpochRecord[];

  it("an uninterrupted run (the reference)", { timeout: 300_000 }, async () => {
    const out = path.join(sandbox.root, "reference");
    const run = startRunner(out);
    expect(await run.exit, run.log()).toBe(0);
    reference = readHistory(out);
    expect(reference).toHaveLength(EPOCHS);
  });

  it("SIGTERM mid-training: exit 75 with the checkpoint (history so far); --resume continues exactly", {
    timeout: 300_000,
  }, async () => {
    const out = path.join(sandbox.root, "terminated");
    const run = startRunner(out);
    await waitForCheckpoint(out, 10, run.exit);
    run.child.kill("SIGTERM");
    expect(await run.exit, run.log()).toBe(INTERRUPTED);
    expect(run.log()).toMatch(/--resume/);
    const checkpointed = readCheckpoint(out);
    expect(checkpointed.epoch).toBeGreaterThanOrEqual(10);
    expect(checkpointed.epoch).toBeLessThan(EPOCHS);
    expect(checkpointed.history).toEqual(reference.slice(0, checkpointed.epoch));
    // The history so far is an output of the interrupted run, not only inside the checkpoint.
    expect(readHistory(out)).toEqual(checkpointed.history);
    expect(readFileSync(path.join(out, "history.csv"), "utf8").trim().split("\n")).toHaveLength(
      checkpointed.epoch + 1,
    );

    const resumed = startRunner(out, ["--resume"]);
    expect(await resumed.exit, resumed.log()).toBe(0);
    // Weights, optimizer moments and RNG state were restored: the result is the uninterrupted run's.
    expectSameHistory(readHistory(out), reference);
  });

  it("Ctrl-C (SIGINT) mid-training: the same clean stop, exit 75, the history so far kept", {
    timeout: 300_000,
  }, async () => {
    const out = path.join(sandbox.root, "ctrl-c");
    const run = startRunner(out);
    await waitForCheckpoint(out, 5, run.exit);
    run.child.kill("SIGINT");
    expect(await run.exit, run.log()).toBe(INTERRUPTED);
    expect(run.log()).toMatch(/Run stopped \(SIGINT\); checkpoint saved/);
    const checkpointed = readCheckpoint(out);
    expect(checkpointed.epoch).toBeLessThan(EPOCHS);
    expect(readHistory(out)).toEqual(checkpointed.history);
    expect(existsSync(path.join(out, "metrics.json"))).toBe(false);
  });

  it("SIGKILL mid-training, then --resume: continues after the last checkpoint, history intact", {
    timeout: 300_000,
  }, async () => {
    const out = path.join(sandbox.root, "killed");
    const first = startRunner(out);
    await waitForCheckpoint(out, 20, first.exit);
    first.child.kill("SIGKILL");
    expect(await first.exit).toBeNull();
    const checkpointed = readCheckpoint(out);
    expect(checkpointed.epoch).toBeGreaterThanOrEqual(20);
    expect(checkpointed.epoch).toBeLessThan(EPOCHS);
    expect(checkpointed.history).toHaveLength(checkpointed.epoch);

    const resumed = startRunner(out, ["--resume"]);
    expect(await resumed.exit, resumed.log()).toBe(0);
    const history = readHistory(out);
    expect(history.map((h) => h.epoch)).toEqual(Array.from({ length: EPOCHS }, (_, i) => i + 1));
    expect(history.slice(0, checkpointed.epoch)).toEqual(checkpointed.history);
    // The checkpoint cannot tear (state.json names the sha256 of its weights), so the resumed run is the
    // uninterrupted one.
    expectSameHistory(history, reference);
    expect(existsSync(path.join(out, "artifacts.zip"))).toBe(true);
  });
});

describe("walltime reached mid-training on the local platform", () => {
  let platform: LocalPlatform;
  const MS_PER_HOUR = 25_000;

  beforeAll(async () => {
    platform = await startLocalPlatform({
      dataDir: path.join(sandbox.dataDir, "platform"),
      apiKey: "walltime-runner-key-0123456789abcdef",
      msPerWalltimeHour: MS_PER_HOUR,
      killGraceMs: 20_000,
    });
  });
  afterAll(() => platform?.close());

  it("the job's outputs hold the last checkpoint and the history so far", { timeout: 300_000 }, async () => {
    const api = new RawApi(platform.url, platform.apiKey);
    // Far more epochs than fit in the (shortened) hour: the walltime always lands in the middle of training.
    const args = runnerArgs("outputs").map((a) => (a === String(EPOCHS) ? "1000000" : a));
    const command = [process.execPath, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    const job = await api.createJob(
      jobBody({
        name: "walltime-mid-training",
        command,
        walltimeHours: 1,
        envVars: { XDG_CACHE_HOME: CACHE },
      }),
    );
    await api.submit(job.id);
    const final = await api.waitForStatus(job.id, ["Completed"], 240_000);
    expect(final.statusReason).toMatch(/Exceeded the walltime of 1 hour/);
    const files = new Map((await api.jobFiles(job.id)).map((f) => [f.relativePath, f.id]));
    const log = (await api.download(files.get("process_output.log")!)).toString();
    expect(log).toMatch(/Run stopped \(SIGTERM\); checkpoint saved/);
    expect(files.has("outputs/checkpoint/state.json"), `${[...files.keys()].join(", ")}\n${log}`).toBe(true);
    expect(files.has("outputs/checkpoint/state-arrays.bin")).toBe(true);
    const state = JSON.parse(
      (await api.download(files.get("outputs/checkpoint/state.json")!)).toString(),
    ) as {
      epoch: number;
      history: EpochRecord[];
    };
    expect(state.epoch).toBeGreaterThan(0);
    expect(state.history.map((h) => h.epoch)).toEqual(Array.from({ length: state.epoch }, (_, i) => i + 1));
    expect(files.has("outputs/history.csv")).toBe(true);
    const history = JSON.parse((await api.download(files.get("outputs/history.json")!)).toString());
    expect(history.epochs).toEqual(state.history);
  });
});
