/**
 * Feature exploration for issue 18, step 1 of 2 (step 2: bench/explore/cv.ts). Not a benchmark: it imports the
 * runner's sources by path to reach the graph builder, which the public API does not export.
 *
 * One pass over every image of BENCH_DATA, views orig + flip (the runner's two training views), through a
 * ResNet50 feature graph with many more outputs than the runner's: for each block end of stages 2-5
 * (activation_9 ... activation_48), mean, generalised-mean (GeM, p = 2 and 3) and max pooling over space.
 * EXPLORE_SIZE (default 224) and EXPLORE_FIT (fill = stretch, the runner's rule; contain = keep the aspect
 * ratio, pad with black) set the input; EXPLORE_PRE (none, clahe or normalise) adds an image preprocessing after the
 * resize. Writes .bench-out/explore/pools-<size>[-contain][-<pre>].{bin,json}.
 *
 *   BENCH_DATA=.../Dataset_BUSI_with_GT npx tsx --conditions=source bench/explore/extract.ts
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { firstViews } from "../../packages/runner/src/augment.js";
import { scanDataset } from "../../packages/runner/src/dataset.js";
import { buildGraph, type GraphDescription } from "../../packages/runner/src/features/onnx/graph.js";
import { encodeOnnxModel } from "../../packages/runner/src/features/onnx/proto.js";
import { loadOnnxRuntime, openSession } from "../../packages/runner/src/features/onnx/runtime.js";
import { parseKerasTopology } from "../../packages/runner/src/model/keras-topology.js";
import { readResNetModelFiles, readResNetWeights } from "../../packages/runner/src/model/resnet-weights.js";
import { CAFFE_MEAN_BGR, decodeImage } from "../../packages/runner/src/preprocess.js";

// sharp is a dependency of the runner package, not of the workspace root.
const sharp = createRequire(path.resolve("packages/runner/package.json"))(
  "sharp",
) as typeof import("../../packages/runner/node_modules/sharp/lib/index.js");

const data = path.resolve(process.env.BENCH_DATA ?? "../shared/data/busi-dev/Dataset_BUSI_with_GT");
const size = Number(process.env.EXPLORE_SIZE ?? 224);
const fit = process.env.EXPLORE_FIT === "contain" ? "contain" : "fill";
/** EXPLORE_PRE: none (the runner's), clahe (sharp's contrast-limited adaptive histogram equalisation) or normalise. */
const PRE_CHOICES = ["none", "clahe", "normalise"];
const pre = process.env.EXPLORE_PRE ?? "none";
if (!PRE_CHOICES.includes(pre)) throw new Error(`EXPLORE_PRE: one of ${PRE_CHOICES.join(", ")}, not ${pre}`);
const tag = `${size}${fit === "fill" ? "" : `-${fit}`}${pre === "none" ? "" : `-${pre}`}`;
/** Keras layer names of ResNet50's block ends (the activation after each residual Add): stages 2-5. */
const BLOCK_ENDS = [9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 48].map((n) => `activation_${n}`);
const GEM_POWERS = [2, 3];

/** Adds `pool:<block>` outputs for GeM and max pooling next to the graph's mean-pooled `mean:<block>` ones. */
function addPoolings(graph: GraphDescription): void {
  const node = (opType: string, name: string, inputs: string[], attributes = {}) =>
    graph.nodes.push({ opType, name, inputs, outputs: [name], attributes });
  for (const p of GEM_POWERS) {
    graph.initializers.push({ name: `p${p}`, dims: [], data: Float32Array.of(p) });
    graph.initializers.push({ name: `inv_p${p}`, dims: [], data: Float32Array.of(1 / p) });
  }
  const channels = new Map(graph.outputs.map((o) => [o.name.slice("mean:".length), o.dims[0]!]));
  for (const block of BLOCK_ENDS) {
    // The block ends are ReLU outputs (>= 0), so x^p and its p-th root are defined.
    for (const p of GEM_POWERS) {
      const name = `gem${p}:${block}`;
      node("Pow", `${name}/pow`, [block, `p${p}`]);
      node("GlobalAveragePool", `${name}/pool`, [`${name}/pow`]);
      node("Pow", `${name}/root`, [`${name}/pool`, `inv_p${p}`]);
      node("Flatten", name, [`${name}/root`], { axis: 1 });
      graph.outputs.push({ name, dims: [channels.get(block)!] });
    }
    const name = `max:${block}`;
    node("GlobalMaxPool", `${name}/pool`, [block]);
    node("Flatten", name, [`${name}/pool`], { axis: 1 });
    graph.outputs.push({ name, dims: [channels.get(block)!] });
  }
}

const files = await readResNetModelFiles();
const topology = parseKerasTopology(files.modelJson.modelTopology);
// The graph builder takes the input size from the Keras input layer; every layer of ResNet50 is size-agnostic.
topology.layers.find((l) => l.className === "InputLayer")!.config.batch_input_shape = [null, size, size, 3];
const graph = buildGraph(topology, await readResNetWeights(files.dir), {
  inputName: "input_nhwc",
  pooledOutputs: Object.fromEntries(BLOCK_ENDS.map((block) => [`mean:${block}`, block])),
});
addPoolings(graph);
const ort = await loadOnnxRuntime();
const model = encodeOnnxModel(graph, {
  producerVersion: "explore",
  docString: "exploration",
  properties: {},
});
const { session } = await openSession(ort, model, 2, "cpu");
const names = graph.outputs.map((o) => o.name);
const total = graph.outputs.reduce((sum, o) => sum + o.dims[0]!, 0);

const dataset = await scanDataset(data);
const views = firstViews(2);
const keys = dataset.images.flatMap((img) => views.map((v) => `${img.hash}|${v.id}`));
const all = new Float32Array(keys.length * total);
const floats = size * size * 3;
const started = performance.now();
const IMAGES_PER_BATCH = 8;
for (let b = 0; b < dataset.images.length; b += IMAGES_PER_BATCH) {
  const images = dataset.images.slice(b, b + IMAGES_PER_BATCH);
  const n = images.length * views.length;
  const input = new Float32Array(n * floats);
  await Promise.all(
    images.map(async (img, i) => {
      const image = await decodeImage(await readFile(img.absPath));
      for (const [v, view] of views.entries()) {
        // As the runner's renderView: flip, then resize (bilinear); then its caffe preprocessing.
        let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
        if (view.flip) pipeline = pipeline.flop();
        pipeline = pipeline.resize(size, size, { fit, kernel: "linear", background: { r: 0, g: 0, b: 0 } });
        // CLAHE over 8 x 8 tiles of the input (28 px each at 224 px).
        const tile = Math.round(size / 8);
        if (pre === "clahe") pipeline = pipeline.clahe({ width: tile, height: tile, maxSlope: 3 });
        if (pre === "normalise") pipeline = pipeline.normalise();
        const rgb = await pipeline.raw({ depth: "uchar" }).toBuffer();
        const o = (i * views.length + v) * floats;
        for (let q = 0; q < size * size; q++) {
          input[o + q * 3] = rgb[q * 3 + 2]! - CAFFE_MEAN_BGR[0];
          input[o + q * 3 + 1] = rgb[q * 3 + 1]! - CAFFE_MEAN_BGR[1];
          input[o + q * 3 + 2] = rgb[q * 3]! - CAFFE_MEAN_BGR[2];
        }
      }
    }),
  );
  const results = await session.run({ input_nhwc: new ort.Tensor("float32", input, [n, size, size, 3]) });
  for (let r = 0; r < n; r++) {
    let o = (b * views.length + r) * total;
    for (const name of names) {
      const values = results[name]!.data as Float32Array;
      const d = values.length / n;
      all.set(values.subarray(r * d, (r + 1) * d), o);
      o += d;
    }
  }
}
const seconds = (performance.now() - started) / 1000;
process.stderr.write(`${keys.length} views at ${size} px (${fit}) in ${seconds.toFixed(1)} s\n`);
const out = path.resolve(".bench-out/explore");
await mkdir(out, { recursive: true });
await writeFile(path.join(out, `pools-${tag}.bin`), new Uint8Array(all.buffer));
await writeFile(
  path.join(out, `pools-${tag}.json`),
  JSON.stringify({
    outputs: graph.outputs,
    keys,
    images: dataset.images.map((i) => ({ file: i.file, hash: i.hash, label: i.label })),
    classNames: dataset.classNames,
    viewIds: views.map((v) => v.id),
    seconds,
  }),
);
await session.release();
