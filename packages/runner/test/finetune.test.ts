import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ORIGINAL_VIEW, viewById } from "../src/augment.js";
import { initBackend, tf } from "../src/backend.js";
import { scanDataset } from "../src/dataset.js";
import { createTfjsEngine } from "../src/features/tfjs.js";
import { fineTuneBackbone } from "../src/finetune.js";
import { makeDataset, tempDir, twoClassHead } from "./helpers.js";

/**
 * The fine-tuning loop on the cpu backend with a tiny stand-in for ResNet50 that has the layer names the runner
 * reads (activation_21 / _39 / _48, narrower than ResNet's) and a trainable "res5" convolution. The real phase needs the GPU backend; this
 * checks the loop itself: only res5* and the head change, BatchNorm-free inference-mode apply, and the saved
 * backbone loads back into the tfjs engine.
 */
async function tinyResNetDir(dir: string): Promise<void> {
  const input = tf.input({ shape: [224, 224, 3] });
  const conv = (filters: number, name: string, kernelSize: number, strides: number) =>
    tf.layers.conv2d({
      filters,
      kernelSize,
      strides,
      name,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    });
  let x = conv(8, "res3_conv", 32, 32).apply(input) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: "relu", name: "activation_21" }).apply(x) as tf.SymbolicTensor;
  x = conv(8, "res4_conv", 1, 1).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: "relu", name: "activation_39" }).apply(x) as tf.SymbolicTensor;
  x = conv(16, "res5a_branch2a", 1, 1).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: "relu", name: "activation_48" }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x });
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      await writeFile(
        path.join(dir, "weights.bin"),
        new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0))),
      );
      await writeFile(
        path.join(dir, "model.json"),
        JSON.stringify({
          format: "layers-model",
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
        }),
      );
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
}

describe("fineTuneBackbone (cpu backend, tiny stand-in model)", () => {
  it("trains res5* and the head, restores the best weights and saves a loadable backbone", {
    timeout: 300_000,
  }, async () => {
    await initBackend("cpu");
    const root = await tempDir();
    const modelDir = path.join(root, "tiny-resnet");
    await tinyResNetDir(modelDir);
    const ds = await scanDataset(await makeDataset(path.join(root, "data"), { benign: 6, malignant: 6 }));
    const pick = (label: number, from: number, n: number) =>
      ds.images.filter((img) => img.label === label).slice(from, from + n);
    const d = 16; // the stand-in's conv5 width (ResNet50's is 2048)
    const head = twoClassHead(
      "conv5",
      new Float32Array(d * 2).map((_, i) => Math.sin(i) * 0.01),
    );
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
});
