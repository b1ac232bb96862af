import { copyFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Checkpoint } from "../src/checkpoint.js";
import { UserInputError } from "../src/errors.js";
import type { HeadConfig, HeadTrainingState } from "../src/head.js";
import { tempDir } from "./helpers.js";

const config: HeadConfig = {
  kind: "dense",
  layers: ["conv5"],
  l2: 0.05,
  dropout: 0.2,
  learningRate: 1e-3,
  batchSize: 32,
  maxEpochs: 10,
  patience: 3,
  startFromEpoch: 0,
};
const meta = { fingerprint: "f", seed: 1, config, finished: false };

function state(epoch: number): HeadTrainingState {
  const w = (v: number) => [{ name: "output/kernel", shape: [2, 3], data: new Float32Array(6).fill(v) }];
  return {
    epoch,
    history: Array.from({ length: epoch }, (_, i) => ({
      epoch: i + 1,
      loss: 1,
      accuracy: 0.5,
      valLoss: 1,
      valAccuracy: 0.5,
    })),
    bestEpoch: epoch,
    bestValLoss: 1 / epoch,
    wait: 0,
    rngState: 1234 + epoch,
    weights: w(epoch),
    bestWeights: w(epoch + 0.5),
    optimizer: [{ name: "step", shape: [1], data: Float32Array.of(epoch * 4) }],
    mean: new Float32Array([epoch, epoch]),
    std: new Float32Array([1, 1]),
  };
}

describe("Checkpoint", () => {
  it("round-trips the training state", async () => {
    const checkpoint = new Checkpoint(path.join(await tempDir(), "checkpoint"));
    expect(await checkpoint.loadState()).toBeUndefined();
    await checkpoint.saveState(meta, state(1));
    await checkpoint.saveState(meta, state(2));
    const loaded = await checkpoint.loadState();
    expect(loaded?.meta).toEqual(meta);
    expect(loaded?.state).toEqual(state(2));
  });

  it("survives a kill between its files: state.json always finds its own weights", async () => {
    const dir = path.join(await tempDir(), "checkpoint");
    const checkpoint = new Checkpoint(dir);
    await checkpoint.saveState(meta, state(1));
    await checkpoint.saveState(meta, state(2));
    // Epoch 3 killed after its weights were written but before state.json: state.json still says epoch 2.
    const scratch = new Checkpoint(path.join(await tempDir(), "scratch"));
    await scratch.saveState(meta, state(3));
    await copyFile(path.join(dir, "state-arrays.bin"), path.join(dir, "state-arrays.prev.bin"));
    await copyFile(path.join(scratch.dir, "state-arrays.bin"), path.join(dir, "state-arrays.bin"));
    const loaded = await checkpoint.loadState();
    expect(loaded?.state).toEqual(state(2));

    await writeFile(path.join(dir, "state-arrays.prev.bin"), "garbage");
    await expect(checkpoint.loadState()).rejects.toThrow(UserInputError);
  });
});
