import {
  FEATURE_LAYER_NAMES,
  FEATURE_LAYERS,
  type FeatureEngine,
  type FeatureLayer,
} from "../src/features/engine.js";

/**
 * A cheap deterministic stand-in for ResNet50 in pipeline tests: each feature is a fixed mix of the image's
 * per-channel means over horizontal strips, so images of different tints get separable features.
 */
export function fakeEngine(cacheKey = "fake-engine-v1"): FeatureEngine & { calls: number; images: number } {
  const engine = {
    name: "tfjs" as const,
    description: "fake test engine",
    cacheKey,
    calls: 0,
    images: 0,
    async extract(batch: Float32Array, n: number) {
      engine.calls++;
      engine.images += n;
      const per = 224 * 224 * 3;
      const out = {} as Record<FeatureLayer, Float32Array>;
      for (const layer of FEATURE_LAYER_NAMES) out[layer] = new Float32Array(n * FEATURE_LAYERS[layer].dim);
      for (let i = 0; i < n; i++) {
        const strips = new Float64Array(8 * 3);
        for (let p = 0; p < 224 * 224; p++) {
          const strip = Math.floor(Math.floor(p / 224) / 28);
          for (let c = 0; c < 3; c++) strips[strip * 3 + c]! += batch[i * per + p * 3 + c]! / (224 * 28);
        }
        for (const layer of FEATURE_LAYER_NAMES) {
          const dim = FEATURE_LAYERS[layer].dim;
          for (let j = 0; j < dim; j++) {
            out[layer][i * dim + j] = Math.max(0, strips[j % 24]! * Math.sin(j + dim) + 20 * Math.cos(j));
          }
        }
      }
      return out;
    },
    async dispose() {},
  };
  return engine;
}
