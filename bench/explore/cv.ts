/**
 * Feature exploration for issue 18, step 2 of 2 (step 1: bench/explore/extract.ts). Not a benchmark: it imports
 * the runner's sources by path.
 *
 * Fixed settings of the runner's exact solver (runExactFold: standardised features, class-weighted multinomial
 * logistic regression, the L2 path warm-started) on feature variants built from extract.ts's pooled block ends,
 * over bench:head's folds (stratified 5-fold, seeds 100.., 80% training, orig + flip rows for training and
 * test-time augmentation). Prints accuracy, macro AUC and log loss over all held-out predictions per (variant, L2).
 *
 * EXPLORE_FILE (default pools-224), EXPLORE_SETS (comma list of VARIANTS names), EXPLORE_L2 (default
 * 0.3,0.1,0.03,0.01), BENCH_REPEATS (default 1).
 */
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { buildMatrix, type CvImage, stratifiedFolds } from "../../packages/runner/src/cv.js";
import { FEATURE_LAYER_NAMES, FEATURE_LAYERS } from "../../packages/runner/src/features/engine.js";
import { runExactFold } from "../../packages/runner/src/logreg.js";
import { computeMetrics, meanLogLoss } from "../../packages/runner/src/metrics.js";

const file = process.env.EXPLORE_FILE ?? "pools-224";
const dir = path.resolve(".bench-out/explore");
const meta = JSON.parse(await readFile(path.join(dir, `${file}.json`), "utf8")) as {
  outputs: { name: string; dims: number[] }[];
  keys: string[];
  images: { file: string; hash: string; label: number }[];
  classNames: string[];
  viewIds: string[];
};
const raw = await readFile(path.join(dir, `${file}.bin`));
const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const total = meta.outputs.reduce((sum, o) => sum + o.dims[0]!, 0);

/**
 * A block is "<pooling>:activation_N" as extract.ts wrote it, "std:activation_N" (the spatial standard deviation,
 * from the mean and GeM-2 outputs) or "sqrt|<block>" (its element-wise square root: power normalisation).
 */
const blocks = (pooling: string, ends: number[]) => ends.map((n) => `${pooling}:activation_${n}`);
/** The runner's stage ends: conv3, conv4, conv5. */
const STAGE_ENDS = [21, 39, 48];
/** Every block end of stages 3-5. */
const BLOCKS_3_5 = [12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 48];
const VARIANTS: Record<string, string[]> = {
  mean: blocks("mean", STAGE_ENDS),
  gem2: blocks("gem2", STAGE_ENDS),
  gem3: blocks("gem3", STAGE_ENDS),
  max: blocks("max", STAGE_ENDS),
  std: blocks("std", STAGE_ENDS),
  "sqrt-mean": blocks("sqrt|mean", STAGE_ENDS),
  "sqrt-gem2": blocks("sqrt|gem2", STAGE_ENDS),
  "mean+gem3": [...blocks("mean", STAGE_ENDS), ...blocks("gem3", STAGE_ENDS)],
  "mean+max": [...blocks("mean", STAGE_ENDS), ...blocks("max", STAGE_ENDS)],
  "mean+std": [...blocks("mean", STAGE_ENDS), ...blocks("std", STAGE_ENDS)],
  "mean+conv2": blocks("mean", [9, ...STAGE_ENDS]),
  "mean-blocks-2-5": blocks("mean", [9, ...BLOCKS_3_5]),
  "mean-blocks-3-5": blocks("mean", BLOCKS_3_5),
  "gem2-blocks-3-5": blocks("gem2", BLOCKS_3_5),
  "gem3-blocks-3-5": blocks("gem3", BLOCKS_3_5),
  "sqrt-mean-blocks-3-5": blocks("sqrt|mean", BLOCKS_3_5),
  "sqrt-gem2-blocks-3-5": blocks("sqrt|gem2", BLOCKS_3_5),
  "mean-blocks-3": blocks("mean", [12, 15, 18, 21, 39, 48]),
  "mean-blocks-4": blocks("mean", [21, 24, 27, 30, 33, 36, 39, 48]),
  "mean-blocks-5": blocks("mean", [21, 39, 42, 45, 48]),
};
const chosen = (process.env.EXPLORE_SETS ?? "mean,gem2,gem3,mean-blocks-3-5").split(",");
for (const name of chosen) if (!VARIANTS[name]) throw new Error(`no variant ${name}`);
const l2s = (process.env.EXPLORE_L2 ?? "0.3,0.1,0.03,0.01").split(",").map(Number);
const repeats = Number(process.env.BENCH_REPEATS ?? 1);

const offsets = new Map<string, [offset: number, dim: number]>();
{
  let offset = 0;
  for (const o of meta.outputs) {
    offsets.set(o.name, [offset, o.dims[0]!]);
    offset += o.dims[0]!;
  }
}
const outputOf = (block: string) => block.replace(/^sqrt\|/, "").replace(/^std:/, "mean:");
const needed = [...new Set(chosen.flatMap((name) => VARIANTS[name]!))];

// runExactFold and buildMatrix lay out their columns by FEATURE_LAYERS / FEATURE_LAYER_NAMES (the runner's three
// stages): point both at this run's blocks, so the runner's own solver is what is measured.
const layers = FEATURE_LAYERS as unknown as Record<string, { source: string; dim: number }>;
for (const key of Object.keys(layers)) delete layers[key];
for (const block of needed) layers[block] = { source: block, dim: offsets.get(outputOf(block))![1] };
(FEATURE_LAYER_NAMES as string[]).splice(0, FEATURE_LAYER_NAMES.length, ...needed);

const features = new Map<string, Record<string, Float32Array>>();
for (const [i, key] of meta.keys.entries()) {
  const output = (name: string) => {
    const [offset, dim] = offsets.get(name)!;
    return all.subarray(i * total + offset, i * total + offset + dim);
  };
  const f: Record<string, Float32Array> = {};
  for (const block of needed) {
    const inner = block.replace(/^sqrt\|/, "");
    let values = output(outputOf(inner));
    if (inner.startsWith("std:")) {
      const gem2 = output(inner.replace(/^std:/, "gem2:"));
      values = values.map((mean, j) => Math.sqrt(Math.max(gem2[j]! ** 2 - mean ** 2, 0)));
    }
    f[block] = block.startsWith("sqrt|") ? values.map(Math.sqrt) : values;
  }
  features.set(key, f);
}

const viewIds = meta.viewIds;
const images: CvImage[] = meta.images.map((img) => ({ ...img, viewIds }));
const C = meta.classNames.length;
const rowsOf = (list: readonly CvImage[]) =>
  list.flatMap((img) => viewIds.map((viewId) => ({ ...img, viewId })));
const layerSets = chosen.map((name) => VARIANTS[name]!);
const probs = layerSets.flatMap(() => l2s.map(() => [] as number[]));
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
    for (const [i, p] of outcome.probs.entries()) probs[i]!.push(...p);
    labels.push(...held.map((img) => img.label));
    process.stderr.write(`repeat ${r} fold ${k}: ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  }
}
const lines = [
  `${file}, ${repeats} repeat(s) x 5 folds, ${labels.length} held-out predictions per row, ` +
    `load average ${os.loadavg()[0]!.toFixed(1)} at the end, ${new Date().toISOString()}`,
  "| variant | L2 | accuracy | macro AUC | log loss | against the first row: right only here / only there |",
  "| --- | --- | --- | --- | --- | --- |",
];
/** Per held-out prediction: whether the row's most probable class is the label (for the paired comparison). */
const correct = (p: readonly number[]) =>
  labels.map((label, i) => {
    const row = p.slice(i * C, (i + 1) * C);
    return row.indexOf(Math.max(...row)) === label;
  });
const reference = correct(probs[0]!);
for (const [s, name] of chosen.entries()) {
  for (const [j, l2] of l2s.entries()) {
    const p = probs[s * l2s.length + j]!;
    const rows = labels.map((_, i) => p.slice(i * C, (i + 1) * C));
    const m = computeMetrics({ yTrue: labels, probs: rows, classNames: meta.classNames });
    const logLoss = meanLogLoss(p, labels, C);
    // The two discordant counts of McNemar's test: same folds, so the rows differ only where these images do.
    const mine = correct(p);
    const onlyHere = mine.filter((ok, i) => ok && !reference[i]).length;
    const onlyThere = mine.filter((ok, i) => !ok && reference[i]).length;
    lines.push(
      `| ${name} | ${l2} | ${m.accuracy.toFixed(3)} | ${m.macroAuc?.toFixed(3)} | ${logLoss.toFixed(3)} | ${onlyHere} / ${onlyThere} |`,
    );
  }
}
process.stdout.write(`${lines.join("\n")}\n`);
