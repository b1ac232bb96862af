import path from "node:path";
import { describe, expect, it } from "vitest";
import { ORIGINAL_VIEW, viewById } from "../src/augment.js";
import { initBackend } from "../src/backend.js";
import { createTfjsEngine } from "../src/features/tfjs.js";
import { fineTuneBackbone } from "../src/finetune.js";
import { tinyFineTuneFixture } from "./tiny-resnet.js";

/**
 * The fine-tuning loop on the cpu backend with a tiny stand-in for ResNet50 that has the layer names the runner
 * reads (activation_21 / _39 / _48, narrower than ResNet's) and a trainable "res5" convolution. The real phase needs the GPU backend; this
 * checks the loop itself: only res5* and the head change, BatchNorm-free inference-mode apply, and the saved
 * backbone loads back into the tfjs engine.
 */
describe("fineTuneBackbone (cpu backend, tiny stand-in model)", () => {
  it("trains res5* and the head, restores the best weights and saves a loadable backbone", {
    timeout: 300_000,
  }, async () => {
    await initBackend("cpu");
    const { root, modelDir, head, pick } = await tinyFineTuneFixture(Math.sin);
    const result = await fineTuneBackbone({
      head,
      train: [...pick(0, 0, 2), ...pick(1, 0, 2)],
      val: [...pick(0, 2, 1), ...pick(1, 2, 1)],
      views: [ORIGINAL_VIEW, viewById("flip")],
      outDir: root,
      modelDir,
      depth: "res5",
      seed: 1,
      epochs: 2,
      batchSize: 4,
      learningRate: 1e-3,
      patience: 5,
    });
    expect(result.history).toHaveLength(2);
    for (const r of result.history) expect(Number.isFinite(r.valLoss)).toBe(true);
    // Deterministic (seeded initialisers, dropout and shuffles): an epoch improves on the untuned start.
    expect(result.bestEpoch).toBeGreaterThan(0);
    expect(result.head.weights[0]!.data.some((v, i) => v !== head.weights[0]!.data[i])).toBe(true);

    const engine = await createTfjsEngine({ backend: "cpu", modelDir: result.backboneDir });
    const original = await createTfjsEngine({ backend: "cpu", modelDir });
    expect(engine.cacheKey).not.toBe(original.cacheKey);
    const x = new Float32Array(224 * 224 * 3).map((_, i) => ((i * 13) % 200) - 100);
    const [tuned, base] = [await engine.extract(x, 1), await original.extract(x, 1)];
    // Stages before res5 are frozen: identical; res5 was trained.
    expect(tuned.conv3).toEqual(base.conv3);
    expect(tuned.conv4).toEqual(base.conv4);
    expect(tuned.conv5.some((v, i) => v !== base.conv5[i])).toBe(true);
    await engine.dispose();
    await original.dispose();
  });

  it("checkpoints every epoch: a stopped run resumes where it stopped and ends like an uninterrupted one", {
    timeout: 300_000,
  }, async () => {
    await initBackend("cpu");
    const { root, modelDir, head, pick } = await tinyFineTuneFixture(Math.cos);
    const common = {
      head,
      depth: "res4-5" as const,
      train: [...pick(0, 0, 2), ...pick(1, 0, 2)],
      val: [...pick(0, 2, 1), ...pick(1, 2, 1)],
      views: [ORIGINAL_VIEW],
      modelDir,
      seed: 3,
      epochs: 3,
      batchSize: 2,
      learningRate: 1e-3,
      patience: 5,
    };
    const whole = await fineTuneBackbone({ ...common, outDir: path.join(root, "whole") });
    // Aborted during epoch 2 (after its first of two batches), then resumed from the epoch-1 checkpoint.
    let batches = 0;
    const controller = new AbortController();
    const checkpointDir = path.join(root, "ckpt");
    const first = await fineTuneBackbone({
      ...common,
      outDir: path.join(root, "split"),
      checkpointDir,
      signal: controller.signal,
      progress: {
        log() {},
        update() {
          if (++batches === 3) controller.abort();
        },
      },
    });
    expect(first.stopped).toBe(true);
    expect(first.history).toHaveLength(1);
    const resumed = await fineTuneBackbone({
      ...common,
      outDir: path.join(root, "split"),
      checkpointDir,
      resume: true,
    });
    expect(resumed.stopped).toBe(false);
    expect(resumed.history.map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(resumed.history[0]).toEqual(whole.history[0]);
    // Adam's moments restart on resume, so later epochs are close, not bit-identical.
    expect(resumed.bestEpoch).toBeGreaterThan(0);
    for (const [i, r] of resumed.history.entries()) {
      expect(Math.abs(r.valLoss - whole.history[i]!.valLoss)).toBeLessThan(0.05);
    }
  });
});
