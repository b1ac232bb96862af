/**
 * The GPU benchmark (bundled by pack.sh into one .mjs that runs on a bare GPU machine with the carried node):
 *
 *   node bench.mjs weights DIR                 random same-shape weights for DIR/model.json (He-normal kernels,
 *                                              unit BatchNorm): the 98 MB pretrained shards need not travel
 *   node bench.mjs features DIR [--batches 1,16,32,64] [--seconds 4] [--size 224] [--json FILE]
 *                                              the runner's ResNet50 ONNX graph on ONNX Runtime's WebGPU and CPU
 *                                              providers: images/s per batch, relative L2 WebGPU vs CPU
 *   node bench.mjs finetune DIR [--depths res5,res4-5,all] [--batches 16,32] [--reps 3] [--size 224]
 *                  [--backend webgpu|cpu] [--baseline] [--json FILE]
 *                                              the fine-tuning step of finetune.ts (inference-mode backbone, dense
 *                                              head, Adam) by trainable depth; --baseline also times TF.js's own
 *                                              1x1 convolution gradients to show what conv1x1-grad.ts changes
 *
 * Speed only: the weights are random (accuracy needs the real weights and data). Everything is read from the
 * runner's own modules, so the figures are the runner's.
 */
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { initBackend, tf } from "../../packages/runner/src/backend.js";
import {
  installConv1x1Gradients,
  uninstallConv1x1Gradients,
} from "../../packages/runner/src/conv1x1-grad.js";
import { relativeL2 } from "../../packages/runner/src/features/agreement.js";
import { buildResNetOnnxModel, ONNX_INPUT_NAME } from "../../packages/runner/src/features/onnx/model-file.js";
import {
  type ExecutionProvider,
  loadOnnxRuntime,
  openSession,
} from "../../packages/runner/src/features/onnx/runtime.js";
import { loadLocalLayersModel, pooledFeatureModel } from "../../packages/runner/src/features/tfjs.js";
import { type FineTuneDepth, layerTrains } from "../../packages/runner/src/finetune-depth.js";
import { Rng } from "../../packages/runner/src/rng.js";

interface Manifest {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
}

function gaussian(rng: Rng): number {
  const u = Math.max(rng.next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/** Writes shards with the manifest's layout; every value drawn from the weight's role (speed runs only). */
async function writeRandomWeights(dir: string): Promise<void> {
  const manifest = JSON.parse(await readFile(path.join(dir, "model.json"), "utf8")) as Manifest;
  const rng = new Rng(7);
  for (const group of manifest.weightsManifest) {
    const floats: Float32Array[] = group.weights.map((w) => {
      const size = w.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(size);
      const leaf = w.name.split("/").pop() ?? "";
      if (leaf === "kernel") {
        const fanIn = w.shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const std = Math.sqrt(2 / fanIn);
        for (let i = 0; i < size; i++) data[i] = gaussian(rng) * std;
      } else if (leaf === "gamma" || leaf === "moving_variance") data.fill(1);
      return data; // beta, moving_mean, bias: 0
    });
    const bytes = Buffer.concat(floats.map((f) => Buffer.from(f.buffer)));
    // Split over the manifest's shard files exactly as TF.js reads them (concatenated in order).
    const per = Math.ceil(bytes.length / group.paths.length / 4) * 4;
    for (const [i, shard] of group.paths.entries()) {
      await writeFile(path.join(dir, shard), bytes.subarray(i * per, Math.min(bytes.length, (i + 1) * per)));
    }
  }
}

/** A copy of DIR whose model.json takes SIZE x SIZE inputs (same weights, linked): small runs on lavapipe. */
async function resized(dir: string, size: number): Promise<string> {
  if (size === 224) return dir;
  const out = path.join(os.tmpdir(), `resnet-${size}-${process.pid}`);
  await mkdir(out, { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(dir, "model.json"), "utf8")) as Manifest;
  const json = JSON.stringify(manifest).replace(
    /"batch_input_shape":\[null,224,224,3\]/g,
    `"batch_input_shape":[null,${size},${size},3]`,
  );
  await writeFile(path.join(out, "model.json"), json);
  for (const g of manifest.weightsManifest) {
    for (const shard of g.paths)
      await symlink(path.resolve(dir, shard), path.join(out, shard)).catch(() => {});
  }
  return out;
}

function input(n: number, size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(n * size * size * 3).map(() => rng.next() * 255 - 120);
}

/** Runs `fn` (after 2 warm-up calls) until `seconds` have passed and at least `minReps` times; mean ms per call. */
async function time(
  fn: () => Promise<unknown>,
  seconds: number,
  minReps: number,
): Promise<{ ms: number; reps: number }> {
  await fn();
  await fn();
  const start = performance.now();
  let reps = 0;
  while (reps < minReps || performance.now() - start < seconds * 1000) {
    await fn();
    reps++;
  }
  return { ms: (performance.now() - start) / reps, reps };
}

const list = (text: string) => text.split(",").filter(Boolean);

async function features(dir: string, flags: Record<string, string | boolean | undefined>) {
  const size = Number(flags.size ?? 224);
  const seconds = Number(flags.seconds ?? 4);
  const batches = list(String(flags.batches ?? "1,16,32,64")).map(Number);
  const built = await buildResNetOnnxModel({ modelDir: await resized(dir, size) });
  const ort = await loadOnnxRuntime();
  const threads = os.availableParallelism();
  const rows: Record<string, unknown>[] = [];
  const reference: Record<string, Record<string, Float32Array>> = {};
  for (const provider of ["webgpu", "cpu"] as ExecutionProvider[]) {
    const t0 = performance.now();
    const { session } = await openSession(ort, built.bytes, threads, provider);
    const sessionMs = performance.now() - t0;
    const feed = (n: number, seed: number) => ({
      [ONNX_INPUT_NAME]: new ort.Tensor("float32", input(n, size, seed), [n, size, size, 3]),
    });
    const outputs = await session.run(feed(4, 3));
    reference[provider] = Object.fromEntries(
      Object.entries(outputs).map(([k, v]) => [k, Float32Array.from(v.data as Float32Array)]),
    );
    for (const n of provider === "cpu" ? [16] : batches) {
      const x = feed(n, 1);
      const { ms, reps } = await time(() => session.run(x), seconds, 3);
      const row = {
        provider,
        batch: n,
        size,
        msPerBatch: ms,
        imagesPerSecond: (n * 1000) / ms,
        reps,
        sessionMs,
      };
      rows.push(row);
      console.log(
        `features ${provider.padEnd(6)} batch ${String(n).padStart(3)}: ${ms.toFixed(1)} ms/batch, ${row.imagesPerSecond.toFixed(1)} images/s (${reps} reps)`,
      );
    }
    await session.release();
  }
  const agreement = Object.fromEntries(
    Object.keys(reference.cpu!).map((k) => [k, relativeL2(reference.cpu![k]!, reference.webgpu![k]!)]),
  );
  console.log(`features agreement (relative L2, webgpu vs cpu, batch 4): ${JSON.stringify(agreement)}`);
  return { rows, agreement, threads };
}

async function finetune(dir: string, flags: Record<string, string | boolean | undefined>) {
  const size = Number(flags.size ?? 224);
  const reps = Number(flags.reps ?? 3);
  const depths = list(String(flags.depths ?? "res5,res4-5,all")) as FineTuneDepth[];
  const batches = list(String(flags.batches ?? "16,32")).map(Number);
  const backend = await initBackend((flags.backend as "webgpu" | "cpu" | undefined) ?? "webgpu");
  console.log(`finetune on ${backend.description}`);
  const base = await loadLocalLayersModel(await resized(dir, size));
  const rows: Record<string, unknown>[] = [];
  const step = async (depth: FineTuneDepth, n: number, routed: boolean) => {
    for (const layer of base.layers) layer.trainable = layerTrains(depth, layer.name, layer.getClassName());
    const features = pooledFeatureModel(base, ["conv5"]);
    const kernel = tf.variable(tf.randomNormal([2048, 3], 0, 0.01, "float32", 5));
    const bias = tf.variable(tf.zeros([3]));
    const vars = [...features.trainableWeights.map((w) => w.read() as tf.Variable), kernel, bias];
    const optimizer = tf.train.adam(1e-5);
    const x = tf.tensor4d(input(n, size, 2), [n, size, size, 3]);
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: n }, (_, i) => i % 3),
        "int32",
      ),
      3,
    );
    if (routed) installConv1x1Gradients();
    else uninstallConv1x1Gradients();
    const once = async () => {
      const cost = tf.tidy(
        () =>
          optimizer.minimize(
            () => {
              const pooled = features.apply(x, { training: false }) as tf.Tensor2D;
              const z = tf.matMul(pooled, kernel).add(bias);
              return tf.losses.softmaxCrossEntropy(y, z) as tf.Scalar;
            },
            true,
            vars,
          )!,
      );
      await cost.data();
      cost.dispose();
    };
    const { ms } = await time(once, 0, reps);
    const row = {
      depth,
      batch: n,
      size,
      conv1x1AsMatMul: routed,
      msPerStep: ms,
      imagesPerSecond: (n * 1000) / ms,
      reps,
    };
    rows.push(row);
    console.log(
      `finetune ${depth.padEnd(6)} batch ${String(n).padStart(3)}${routed ? "" : " (tf.js 1x1 gradients)"}: ${ms.toFixed(0)} ms/step, ${row.imagesPerSecond.toFixed(1)} images/s`,
    );
    tf.dispose([x, y, kernel, bias]);
    optimizer.dispose();
  };
  for (const depth of depths) for (const n of batches) await step(depth, n, true);
  if (flags.baseline) for (const depth of depths) await step(depth, batches[0]!, false);
  const n = batches[batches.length - 1]!;
  const x = tf.tensor4d(input(n, size, 4), [n, size, size, 3]);
  const predictModel = pooledFeatureModel(base, ["conv5"]);
  const { ms } = await time(
    async () => {
      const p = predictModel.predict(x) as tf.Tensor;
      await p.data();
      p.dispose();
    },
    0,
    reps,
  );
  console.log(`predict batch ${n}: ${ms.toFixed(0)} ms, ${((n * 1000) / ms).toFixed(1)} images/s`);
  x.dispose();
  return { backend: backend.description, rows, predict: { batch: n, imagesPerSecond: (n * 1000) / ms } };
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    batches: { type: "string" },
    seconds: { type: "string" },
    size: { type: "string" },
    depths: { type: "string" },
    reps: { type: "string" },
    backend: { type: "string" },
    baseline: { type: "boolean" },
    json: { type: "string" },
  },
});
const [command, dir] = positionals;
if (!command || !dir || !["weights", "features", "finetune"].includes(command)) {
  console.error("usage: bench.mjs weights|features|finetune DIR [flags] (see bench/gpu/bench.ts)");
  process.exit(2);
}
const result =
  command === "weights"
    ? await writeRandomWeights(dir)
    : command === "features"
      ? await features(dir, values)
      : await finetune(dir, values);
if (values.json && result)
  await writeFile(
    values.json,
    JSON.stringify({ command, date: new Date().toISOString(), ...result }, null, 2),
  );
process.exit(0);
