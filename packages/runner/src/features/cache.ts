import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "@rescale-run/sdk/atomic-write";
import { PREPROCESS_VERSION } from "../preprocess.js";
import { FEATURE_LAYER_NAMES, FEATURE_LAYERS, type FeatureLayer } from "./engine.js";

export type LayerFeatures = Record<FeatureLayer, Float32Array>;

const TOTAL_DIM = FEATURE_LAYER_NAMES.reduce((sum, layer) => sum + FEATURE_LAYERS[layer].dim, 0);

/**
 * Pooled features on disk, one small file per (image content hash, view id, preprocessing version, engine cache
 * key). The engine's cache key contains the weights hash, so new weights or a disagreeing engine never reuse
 * stale features. Writes go through a temp file + rename, so a killed run leaves no torn entries.
 */
export class FeatureCache {
  hits = 0;
  misses = 0;

  constructor(
    readonly dir: string,
    readonly engineKey: string,
  ) {}

  private file(imageHash: string, viewId: string): string {
    const key = createHash("sha256")
      .update(`${imageHash}\0${viewId}\0${PREPROCESS_VERSION}\0${this.engineKey}`)
      .digest("hex");
    return path.join(this.dir, key.slice(0, 2), `${key}.f32`);
  }

  async get(imageHash: string, viewId: string): Promise<LayerFeatures | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file(imageHash, viewId));
    } catch {
      this.misses++;
      return undefined;
    }
    if (bytes.length !== TOTAL_DIM * 4) {
      this.misses++;
      return undefined;
    }
    const all = new Float32Array(TOTAL_DIM);
    new Uint8Array(all.buffer).set(bytes);
    const features = {} as LayerFeatures;
    let offset = 0;
    for (const layer of FEATURE_LAYER_NAMES) {
      features[layer] = all.subarray(offset, offset + FEATURE_LAYERS[layer].dim);
      offset += FEATURE_LAYERS[layer].dim;
    }
    this.hits++;
    return features;
  }

  async put(imageHash: string, viewId: string, features: LayerFeatures): Promise<void> {
    const all = new Float32Array(TOTAL_DIM);
    let offset = 0;
    for (const layer of FEATURE_LAYER_NAMES) {
      const values = features[layer];
      if (values.length !== FEATURE_LAYERS[layer].dim) {
        throw new RangeError(
          `${layer} features must have ${FEATURE_LAYERS[layer].dim} values, got ${values.length}`,
        );
      }
      all.set(values, offset);
      offset += values.length;
    }
    const target = this.file(imageHash, viewId);
    await writeFileAtomic(target, new Uint8Array(all.buffer));
  }
}
