import { describe, expect, it } from "vitest";
import {
  callbackList,
  EarlyStopping,
  type StopReason,
  type TrainingCallback,
  type TrainingLoop,
} from "../src/callbacks.js";
import type { EpochRecord } from "../src/head.js";

/** A stand-in training loop whose "weights" are the number of the epoch that produced them. */
async function runLoop(valLosses: number[], callbacks: TrainingCallback<number>[]) {
  const history: EpochRecord[] = [];
  let weights = 0;
  let stopped: StopReason | undefined;
  const loop: TrainingLoop<number> = {
    history,
    lastEpoch: { seconds: 1, samples: 1 },
    getWeights: () => weights,
    setWeights: (w) => {
      weights = w;
    },
    bestEpoch: () => 0,
    stop: (reason) => {
      stopped = reason;
    },
    state: async () => ({}),
  };
  const list = callbackList(callbacks);
  await list.trainBegin(loop);
  for (let epoch = 1; epoch <= valLosses.length && stopped === undefined; epoch++) {
    weights = epoch;
    const record = { epoch, loss: 0, accuracy: 0, valLoss: valLosses[epoch - 1]!, valAccuracy: 0 };
    history.push(record);
    await list.epochEnd(record, loop);
  }
  await list.trainEnd(loop, stopped ?? "max-epochs");
  return { epochs: history.length, weights, stopped };
}

describe("EarlyStopping (Keras semantics)", () => {
  it("stops after `patience` epochs without improvement and restores the best epoch's weights", async () => {
    const stopping = new EarlyStopping<number>({ patience: 3 });
    const run = await runLoop([1.0, 0.8, 0.9, 0.85, 0.95, 0.7, 0.6], [stopping]);
    expect(run.stopped).toBe("early-stopping");
    expect(run.epochs).toBe(5); // epoch 2 best, then 3, 4, 5 without improvement
    expect(run.weights).toBe(2);
    expect(stopping.state.bestEpoch).toBe(2);
    expect(stopping.state.best).toBe(0.8);
  });

  it("keeps the last weights when restoreBestWeights is off, and trains to the end while it improves", async () => {
    const off = await runLoop(
      [1.0, 0.8, 0.9, 0.95],
      [new EarlyStopping<number>({ patience: 2, restoreBestWeights: false })],
    );
    expect(off).toEqual({ epochs: 4, weights: 4, stopped: "early-stopping" });
    const improving = await runLoop([1.0, 0.9, 0.8], [new EarlyStopping<number>({ patience: 1 })]);
    expect(improving).toEqual({ epochs: 3, weights: 3, stopped: undefined });
  });

  it("watches only after startFromEpoch, and counts a change within minDelta as no improvement", async () => {
    const late = new EarlyStopping<number>({ patience: 2, startFromEpoch: 3 });
    const run = await runLoop([0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.4], [late]);
    expect(run).toEqual({ epochs: 6, weights: 4, stopped: "early-stopping" });
    const delta = await runLoop(
      [1.0, 0.995, 0.99, 0.5],
      [new EarlyStopping<number>({ patience: 2, minDelta: 0.01 })],
    );
    expect(delta).toEqual({ epochs: 3, weights: 1, stopped: "early-stopping" });
  });

  it("resumes from a saved state: a run whose patience had run out trains no further epoch", async () => {
    const resumed = new EarlyStopping<number>({
      patience: 2,
      initial: { best: 0.5, bestEpoch: 7, wait: 2, bestWeights: 7 },
    });
    expect(await runLoop([0.1], [resumed])).toEqual({ epochs: 0, weights: 7, stopped: "early-stopping" });
    const baseline = new EarlyStopping<number>({ patience: 1, initial: { best: 0.5, bestWeights: 0 } });
    expect(await runLoop([0.6, 0.4], [baseline])).toEqual({
      epochs: 1,
      weights: 0,
      stopped: "early-stopping",
    });
  });
});
