/**
 * Exploration (issue 18): fixed settings of the runner's exact solver on the pooled features that
 * explore/extract-pools.ts wrote, over bench:head's folds (5-fold stratified, seeds 100.., 80% training, orig +
 * flip for training and test-time augmentation). EXPLORE_SETS picks the variants (comma list of names below),
 * BENCH_REPEATS the repeats.
 */
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { buildMatrix, type CvImage, stratifiedFolds } from "../../packages/runner/src/cv.js";
import { FEATURE_LAYER_NAMES, FEATURE_LAYERS } from "../../packages/runner/src/features/engine.js";
import { runExactFold } from "../../packages/runner/src/logreg.js";
import { computeMetrics, meanLogLoss } from "../../packages/runner/src/metrics.js";

const dir = path.resolve(".bench-out/explore");
const file = process.env.EXPLORE_FILE ?? "pools-224";
const meta = JSON.parse(await readFile(path.join(dir, `${file}.json`), "utf8")) as {
  outputs: { name: string; dims: number[] }[];
  keys: string[];
  images: { file: string; hash: string; label: number }[];
  classNames: string[];
  viewIds: string[];
};
const raw = await readFile(path.join(dir, `${file}.bin`));
const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const total = meta.outputs.reduce((s, o) => s + o.dims[0]!, 0);

const stages = (pool: string, blocks: number[]) => blocks.map((b) => `${pool}:activation_${b}`);
const S345 = [21, 39, 48];
const ALL = [9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 48];
const VARIANTS: Record<string, string[]> = {
  mean: stages("mean", S345),
  gem2: stages("gem2", S345),
  gem3: stages("gem3", S345),
  max: stages("max", S345),
  "mean+gem3": [...stages("mean", S345), ...stages("gem3", S345)],
  "mean+max": [...stages("mean", S345), ...stages("max", S345)],
  "mean+conv2": stages("mean", [9, ...S345]),
  "mean-all-blocks": stages("mean", ALL),
  "mean-mid4": stages("mean", [21, 30, 39, 48]),
  "mean-4+5-blocks": stages("mean", [21, 33, 36, 39, 45, 48]),
  "gem3-all-blocks": stages("gem3", ALL),
  "gem2-all-blocks": stages("gem2", ALL),
  "mean+gem2-all-blocks": [...stages("mean", ALL), ...stages("gem2", ALL)],
  "mean-blocks-3-5": stages("mean", ALL.slice(1)),
  "gem2-blocks-3-5": stages("gem2", ALL.slice(1)),
  "gem3-blocks-3-5": stages("gem3", ALL.slice(1)),
  "mean-s3blocks": stages("mean", [12, 15, 18, 21, 39, 48]),
  "mean-s4blocks": stages("mean", [21, 24, 27, 30, 33, 36, 39, 48]),
  "sqrt-mean": stages("sqrt|mean", S345),
  "sqrt-gem2": stages("sqrt|gem2", S345),
  "mean+std": [...stages("mean", S345), ...stages("std", S345)],
  std: stages("std", S345),
  "sqrt-mean-blocks-3-5": stages("sqrt|mean", ALL.slice(1)),
  "sqrt-gem2-blocks-3-5": stages("sqrt|gem2", ALL.slice(1)),
  "mean-s5blocks": stages("mean", [21, 39, 42, 45, 48]),
};
const chosen = (process.env.EXPLORE_SETS ?? Object.keys(VARIANTS).join(",")).split(",");
const l2s = (process.env.EXPLORE_L2 ?? "0.3,0.1,0.03,0.01").split(",").map(Number);
const repeats = Number(process.env.BENCH_REPEATS ?? 1);

const needed = [...new Set(chosen.flatMap((v) => VARIANTS[v] ?? []))];
// The runner's matrices and exact solver read their layout from FEATURE_LAYERS: point it at these blocks.
const layers = FEATURE_LAYERS as unknown as Record<string, { source: string; dim: number }>;
for (const key of Object.keys(layers)) delete layers[key];
const offsets = new Map<string, [number, number]>();
{
  let o = 0;
  for (const out of meta.outputs) {
    offsets.set(out.name, [o, out.dims[0]!]);
    o += out.dims[0]!;
  }
}
/** A block's base output: "sqrt|X" is X's element-wise square root, "std:A" the spatial std from gem2 and mean. */
const baseOf = (name: string) => (name.startsWith("sqrt|") ? name.slice(5) : name).replace(/^std:/, "mean:");
for (const name of needed) layers[name] = { source: name, dim: offsets.get(baseOf(name))![1] };
(FEATURE_LAYER_NAMES as string[]).splice(0, FEATURE_LAYER_NAMES.length, ...needed);

const features = new Map<string, Record<string, Float32Array>>();
for (const [i, key] of meta.keys.entries()) {
  const f: Record<string, Float32Array> = {};
  const at = (name: string) => {
    const [o, d] = offsets.get(name)!;
    return all.subarray(i * total + o, i * total + o + d);
  };
  for (const name of needed) {
    const inner = name.startsWith("sqrt|") ? name.slice(5) : name;
    let v: Float32Array;
    if (inner.startsWith("std:")) {
      const block = inner.slice(4);
      const m = at(`mean:${block}`);
      const q = at(`gem2:${block}`);
      v = m.map((mean, j) => Math.sqrt(Math.max(q[j]! * q[j]! - mean * mean, 0)));
    } else v = at(inner);
    f[name] = name.startsWith("sqrt|") ? v.map(Math.sqrt) : v;
  }
  features.set(key, f);
}

const viewIds = process.env.EXPLORE_VIEWS ? process.env.EXPLORE_VIEWS.split(",") : meta.viewIds;
const images: CvImage[] = meta.images.map((img) => ({ ...img, viewIds }));
const C = meta.classNames.length;
const rowsOf = (list: readonly CvImage[]) => list.flatMap((img) => viewIds.map((viewId) => ({ ...img, viewId })));
const layerSets = chosen.map((v) => VARIANTS[v]!);
const probsPer = layerSets.flatMap(() => l2s.map(() => [] as number[]));
const labels: number[] = [];
const started = performance.now();
for (let r = 0; r < repeats; r++) {
  const { folds } = stratifiedFolds(images, 5, 100 + r);
  for (let k = 0; k < 5; k++) {
    const held = images.filter((_, i) => folds[i] === k);
    const training = images.filter((_, i) => folds[i] !== k);
    const outcome = runExactFold({
      kind: "exact",
      numClasses: C,
      train: buildMatrix(rowsOf(training), needed as never, features as never),
      evalViews: viewIds.map((viewId) =>
        buildMatrix(
          held.map((img) => ({ ...img, viewId })),
          needed as never,
          features as never,
        ),
      ),
      layerSets: layerSets as never,
      l2s,
    });
    for (const [i, p] of outcome.probs.entries()) probsPer[i]!.push(...Array.from(p));
    labels.push(...held.map((img) => img.label));
    process.stderr.write(`repeat ${r} fold ${k}: ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  }
}
const lines = [
  `explore cv-pools ${new Date().toISOString()}, ${repeats} repeat(s), load ${os.loadavg()[0]!.toFixed(1)}`,
  "| variant | L2 | accuracy | macro AUC | log loss |",
];
for (const [s, v] of chosen.entries()) {
  for (const [j, l2] of l2s.entries()) {
    const probs = probsPer[s * l2s.length + j]!;
    const rows = labels.map((_, i) => probs.slice(i * C, (i + 1) * C));
    const m = computeMetrics({ yTrue: labels, probs: rows, classNames: meta.classNames });
    lines.push(
      `| ${v} | ${l2} | ${m.accuracy.toFixed(3)} | ${m.macroAuc?.toFixed(3)} | ${meanLogLoss(probs, labels, C).toFixed(3)} |`,
    );
  }
}
process.stdout.write(`${lines.join("\n")}\n`);
