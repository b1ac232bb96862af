import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ORIGINAL_VIEW } from "../src/augment.js";
import { initBackend } from "../src/backend.js";
import { relativeL2 } from "../src/features/agreement.js";
import { FEATURE_LAYER_NAMES, FEATURE_LAYERS, INPUT_SIZE } from "../src/features/engine.js";
import { buildGraph, OnnxGraphBuildError } from "../src/features/onnx/graph.js";
import {
  createOnnxEngine,
  ensureResNetOnnxModel,
  ONNX_AGREES_WITH_TFJS,
  type OnnxFeatureEngine,
  onnxModelPath,
} from "../src/features/onnx/index.js";
import { buildResNetOnnxModel } from "../src/features/onnx/model-file.js";
import { encodeOnnxModel } from "../src/features/onnx/proto.js";
import { createTfjsEngine, type TfjsFeatureEngine } from "../src/features/tfjs.js";
import { parseKerasTopology } from "../src/model/keras-topology.js";
import {
  resnetFeatureCacheKey,
  resnetModelDir,
  resnetWeightsHash,
  type WeightTensor,
} from "../src/model/resnet-weights.js";
import { preprocessViews } from "../src/preprocess.js";
import { randomFloats } from "./helpers.js";

/** One real BUSI ultrasound image, vendored (see test/fixtures/README.md). */
const BUSI_IMAGE = path.join(import.meta.dirname, "fixtures", "busi-malignant-1.png");
const IMAGE_FLOATS = INPUT_SIZE * INPUT_SIZE * 3;

/** The relative L2 error the feature cache's agreement rule uses (features/agreement.ts), lengths checked first. */
function relativeL2Error(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  return relativeL2(expected, actual);
}

/** A tf.LayersModel returning the globally average-pooled outputs of `layers`, in inference mode via predict. */
function pooledReference(
  model: tf.LayersModel,
  layers: string[],
): (batch: Float32Array, shape: number[]) => Float32Array[] {
  const pooled = tf.model({
    inputs: model.inputs,
    outputs: layers.map(
      (name) => tf.layers.globalAveragePooling2d({}).apply(model.getLayer(name).output) as tf.SymbolicTensor,
    ),
  });
  return (batch, shape) =>
    tf.tidy(() => {
      const result = pooled.predict(tf.tensor(batch, shape));
      const outputs = Array.isArray(result) ? result : [result];
      return outputs.map((output) => output.dataSync() as Float32Array);
    });
}

beforeAll(async () => {
  await initBackend("wasm", 1);
});

describe("ONNX graph builder on a small Keras model", () => {
  /** Covers asymmetric "same" padding, ZeroPadding2D into Conv and into MaxPool, folded and unfolded BN, Add. */
  function smallModel(): tf.LayersModel {
    const input = tf.input({ shape: [17, 18, 3], name: "image" });
    const padded = tf.layers
      .zeroPadding2d({
        padding: [
          [1, 2],
          [0, 1],
        ],
        name: "pad1",
      })
      .apply(input);
    const c1 = tf.layers
      .conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: "same", name: "c1" })
      .apply(padded);
    const b1 = tf.layers.batchNormalization({ name: "b1", epsilon: 1.001e-5 }).apply(c1);
    const r1 = tf.layers.activation({ activation: "relu", name: "r1" }).apply(b1);
    const pad2 = tf.layers.zeroPadding2d({ padding: 1, name: "pad2" }).apply(r1);
    const pool = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: "pool" }).apply(pad2);
    const c2 = tf.layers.conv2d({ filters: 5, kernelSize: 1, activation: "relu", name: "c2" }).apply(pool);
    const c3 = tf.layers
      .conv2d({ filters: 5, kernelSize: 3, padding: "same", dilationRate: 2, useBias: false, name: "c3" })
      .apply(pool);
    const b3 = tf.layers.batchNormalization({ name: "b3" }).apply(c3);
    const sum = tf.layers.add({ name: "sum" }).apply([c2, b3] as tf.SymbolicTensor[]);
    const b4 = tf.layers.batchNormalization({ name: "b4" }).apply(sum);
    const r2 = tf.layers.activation({ activation: "relu", name: "r2" }).apply(b4);
    const model = tf.model({ inputs: input, outputs: r2 as tf.SymbolicTensor });
    let seed = 1;
    for (const name of ["b1", "b3", "b4"]) {
      const layer = model.getLayer(name);
      const channels = layer.getWeights()[0]!.shape[0]!;
      const values = [0.5, -0.5, -1, 0.1].map((lo, i) =>
        randomFloats(channels, seed++ * 7 + i, lo, lo + 1.5),
      );
      layer.setWeights(values.map((v) => tf.tensor(v)));
    }
    return model;
  }

  function exportWeights(model: tf.LayersModel): Map<string, WeightTensor> {
    const weights = new Map<string, WeightTensor>();
    for (const variable of model.weights) {
      const data = variable.read().dataSync() as Float32Array;
      weights.set(variable.originalName, {
        name: variable.originalName,
        shape: variable.shape as number[],
        data,
      });
    }
    return weights;
  }

  it("matches TF.js on random inputs, with BatchNormalization folded into convolutions", async () => {
    const model = smallModel();
    const topology = parseKerasTopology(model.toJSON(null, false));
    const graph = buildGraph(topology, exportWeights(model), {
      inputName: "input",
      pooledOutputs: { early: "r1", late: "r2" },
    });
    const ops = graph.nodes.map((node) => node.opType);
    // b1 and b3 fold into c1 and c3; b4 follows an Add and stays as Mul + Add. pad2 before the max pool is a Pad.
    expect(ops.filter((op) => op === "Conv")).toHaveLength(3);
    expect(ops.filter((op) => op === "Pad")).toHaveLength(1);
    expect(ops).not.toContain("BatchNormalization");
    // pad1 [top 1, left 0, bottom 2, right 1] plus TF "same" on 20x19 with stride 2: [0, 1, 1, 1] (odd pixel last).
    expect(graph.nodes.find((node) => node.name === "c1")?.attributes.pads).toEqual([1, 1, 3, 2]);
    expect(graph.outputs).toEqual([
      { name: "early", dims: [6] },
      { name: "late", dims: [5] },
    ]);

    const session = await ort.InferenceSession.create(
      encodeOnnxModel(graph, { producerVersion: "test", docString: "", properties: {} }),
    );
    const shape = [3, 17, 18, 3];
    const batch = randomFloats(3 * 17 * 18 * 3, 42, -2, 2);
    const results = await session.run({ input: new ort.Tensor("float32", batch, shape) });
    const [early, late] = pooledReference(model, ["r1", "r2"])(batch, shape);
    expect(results.early!.dims).toEqual([3, 6]);
    expect(relativeL2Error(results.early!.data as Float32Array, early!)).toBeLessThan(1e-5);
    expect(relativeL2Error(results.late!.data as Float32Array, late!)).toBeLessThan(1e-5);
    await session.release();

    // A convolution that is itself an output keeps its own value: its BatchNormalization is not folded into it.
    const convOut = buildGraph(topology, exportWeights(model), {
      inputName: "input",
      pooledOutputs: { pooledC3: "c3" },
    });
    expect(convOut.nodes.find((node) => node.name === "c3")?.outputs).toEqual(["c3"]);
    const convSession = await ort.InferenceSession.create(
      encodeOnnxModel(convOut, { producerVersion: "test", docString: "", properties: {} }),
    );
    const c3 = (await convSession.run({ input: new ort.Tensor("float32", batch, shape) })).pooledC3!
      .data as Float32Array;
    expect(relativeL2Error(c3, pooledReference(model, ["c3"])(batch, shape)[0]!)).toBeLessThan(1e-5);
    await convSession.release();
    model.dispose();
  });

  it("names unsupported layers and unknown outputs", () => {
    const input = tf.input({ shape: [4, 4, 3], name: "image" });
    const dense = tf.layers.dense({ units: 2, name: "dense" }).apply(input);
    const model = tf.model({ inputs: input, outputs: dense as tf.SymbolicTensor });
    const topology = parseKerasTopology(model.toJSON(null, false));
    const weights = exportWeights(model);
    expect(() =>
      buildGraph(topology, weights, { inputName: "input", pooledOutputs: { out: "dense" } }),
    ).toThrow(/dense \(Dense\) is not supported/);
    expect(() =>
      buildGraph(topology, weights, { inputName: "input", pooledOutputs: { out: "nope" } }),
    ).toThrow(OnnxGraphBuildError);
    model.dispose();
  });
});

describe("ONNX engine on the Keras ResNet50", () => {
  let cacheRoot: string;
  let engine: OnnxFeatureEngine;
  let tfjs: TfjsFeatureEngine;

  beforeAll(async () => {
    cacheRoot = path.join(tmpdir(), `rescale-run-onnx-test-${process.pid}`);
    engine = await createOnnxEngine({ threads: 2, cacheDir: cacheRoot });
    tfjs = await createTfjsEngine({ backend: "wasm", threads: 1 });
  }, 180_000);

  afterAll(async () => {
    await engine?.dispose();
    await tfjs?.dispose();
    await rm(cacheRoot, { recursive: true, force: true });
  });

  async function expectAgreement(batch: Float32Array, n: number, what: string): Promise<void> {
    const features = await engine.extract(batch, n);
    const expected = await tfjs.extract(batch, n);
    const worst: string[] = [];
    for (const layer of FEATURE_LAYER_NAMES) {
      const dim = FEATURE_LAYERS[layer].dim;
      expect(features[layer]).toHaveLength(n * dim);
      let max = 0;
      for (let image = 0; image < n; image++) {
        const slice = (data: Float32Array) => data.subarray(image * dim, (image + 1) * dim);
        const error = relativeL2Error(slice(features[layer]), slice(expected[layer]));
        expect(error, `${layer} image ${image}`).toBeLessThan(1e-4);
        max = Math.max(max, error);
      }
      worst.push(`${layer} ${max.toExponential(1)}`);
    }
    console.info(`ONNX vs TF.js, ${what}: largest relative L2 error ${worst.join(", ")}`);
  }

  it("builds, caches and describes the graph", async () => {
    const hash = await resnetWeightsHash();
    expect(engine.modelPath).toBe(onnxModelPath(cacheRoot, hash));
    expect(engine.buildMs).toBeGreaterThan(0);
    const size = (await stat(engine.modelPath)).size;
    console.info(
      `ONNX graph built in ${(engine.buildMs! / 1000).toFixed(1)} s, ${(size / 1e6).toFixed(1)} MB`,
    );
    // The weights without the 1000-way classifier: about 23.5 M float32 parameters.
    expect(size).toBeGreaterThan(90e6);
    expect(size).toBeLessThan(100e6);
    expect(engine.description).toMatch(/^onnxruntime-node 1\.30\.\d+ \(cpu, 2 threads\)/);
    // Agreeing engines share the feature cache (the agreement tests below), so their keys are equal.
    expect(engine.cacheKey).toBe(ONNX_AGREES_WITH_TFJS ? resnetFeatureCacheKey(hash) : `onnx-${hash}`);
    expect(engine.cacheKey === tfjs.cacheKey).toBe(ONNX_AGREES_WITH_TFJS);
    const again = await ensureResNetOnnxModel({ cacheRoot });
    expect(again).toMatchObject({ path: engine.modelPath, buildMs: undefined });
  });

  it("agrees with TF.js on random inputs (relative L2 error < 1e-4 per output)", async () => {
    await expectAgreement(randomFloats(2 * IMAGE_FLOATS, 7, -124, 152), 2, "random inputs");
  });

  it("agrees with TF.js on a real ultrasound image", async () => {
    const [image] = await preprocessViews(await readFile(BUSI_IMAGE), [ORIGINAL_VIEW]);
    await expectAgreement(image!, 1, "BUSI image");
  });

  it("rejects a batch whose size does not match n", async () => {
    await expect(engine.extract(new Float32Array(IMAGE_FLOATS), 2)).rejects.toThrow(RangeError);
  });

  it("rebuilds when the weights change and when the cached file is damaged", async () => {
    const original = resnetModelDir();
    const changed = path.join(cacheRoot, "changed-weights");
    await mkdir(changed, { recursive: true });
    for (const name of await readdir(original)) {
      if (name !== "model.json") await symlink(path.join(original, name), path.join(changed, name));
    }
    await writeFile(
      path.join(changed, "model.json"),
      `${await readFile(path.join(original, "model.json"), "utf8")}\n`,
    );
    const rebuilt = await ensureResNetOnnxModel({ cacheRoot, modelDir: changed });
    expect(rebuilt.weightsHash).not.toBe(await resnetWeightsHash());
    expect(rebuilt.buildMs).toBeGreaterThan(0);
    // The graph of the previous weights is removed: one ~95 MB file per cache.
    expect(existsSync(engine.modelPath)).toBe(false);

    await writeFile(rebuilt.path, "not an onnx model");
    const repaired = await createOnnxEngine({ threads: 1, cacheDir: cacheRoot, modelDir: changed });
    expect(repaired.buildMs).toBeGreaterThan(0);
    const features = await repaired.extract(new Float32Array(IMAGE_FLOATS), 1);
    expect(features.conv5).toHaveLength(2048);
    await repaired.dispose();
  });

  it("still runs from memory when the cache directory cannot be written", async () => {
    const blocked = path.join(cacheRoot, "a-file");
    await writeFile(blocked, "not a directory");
    const uncached = await createOnnxEngine({ threads: 1, cacheDir: blocked });
    expect(uncached.notes.join()).toMatch(/could not be cached/);
    expect((await uncached.extract(new Float32Array(IMAGE_FLOATS), 1)).conv3).toHaveLength(512);
    await uncached.dispose();
  });

  it("builds the graph in memory with the expected structure", async () => {
    const { graph } = await buildResNetOnnxModel();
    const count = (op: string) => graph.nodes.filter((node) => node.opType === op).length;
    expect(count("Conv")).toBe(53);
    expect(count("BatchNormalization") + count("Mul")).toBe(0);
    expect(count("Transpose")).toBe(1);
    expect(graph.outputs.map((output) => output.name)).toEqual(["conv3", "conv4", "conv5"]);
  });
});
