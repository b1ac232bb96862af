import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FEATURE_LAYER_NAMES } from "../src/features/engine.js";
import { createTfjsEngine } from "../src/features/tfjs.js";
import { predict, train } from "../src/index.js";
import { generateSyntheticDataset } from "../src/synthetic.js";
import { tempDir } from "./helpers.js";

/**
 * End to end with the real pretrained ResNet50 (TF.js engine on the wasm backend, no network): a handful of
 * synthetic ultrasound-like images through train and predict.
 */
describe("real ResNet50 end to end (tfjs engine)", () => {
  it("trains and predicts on a few synthetic images", { timeout: 300_000 }, async () => {
    const data = path.join(await tempDir(), "data");
    await generateSyntheticDataset(data, { perClass: 6, size: 96, seed: 5 });
    const engine = await createTfjsEngine({ backend: "wasm", threads: 1 });
    try {
      expect(engine.description).toMatch(/wasm/);
      expect(engine.cacheKey).toMatch(/^resnet50-keras-[0-9a-f]{64}$/);
      const out = await tempDir();
      const result = await train({
        data,
        out,
        featureEngine: engine,
        cacheDir: await tempDir(),
        views: 1,
        cvFolds: 0,
        layers: ["conv4", "conv5"],
        epochs: 20,
        quiet: true,
        upload: false,
      });
      // 12 training images x 1 view + 3 validation images + 3 test images x 2 views (test-time augmentation)
      expect(result.report.features.extracted).toBe(21);
      expect(result.metrics.n).toBe(3);
      const run = JSON.parse(await readFile(path.join(out, "run.json"), "utf8"));
      expect(run.backend).toMatch(/tfjs-backend-wasm/);

      const prediction = await predict({
        inputs: [path.join(data, "normal")],
        model: out,
        featureEngine: engine,
      });
      expect(prediction.predictions).toHaveLength(6);
      for (const p of prediction.predictions) {
        expect(Object.values(p.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      }

      // Pooled post-ReLU activations: finite, non-negative, not all zero, deterministic.
      const x = new Float32Array(224 * 224 * 3).map((_, i) => ((i * 37) % 255) - 120);
      const a = await engine.extract(x, 1);
      const b = await engine.extract(x, 1);
      for (const layer of FEATURE_LAYER_NAMES) {
        expect(a[layer].every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
        expect(a[layer].some((v) => v > 0)).toBe(true);
        expect(b[layer]).toEqual(a[layer]);
      }
    } finally {
      await engine.dispose();
    }
  });
});
