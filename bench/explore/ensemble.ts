/**
 * Exploration (issue 18): does averaging the exact heads of several stage sets beat the best single head? Fixed
 * settings, no choice, on bench:head's folds (stratified 5-fold, seeds 100.., 80% training, orig + flip for
 * training and test-time augmentation). Each fold fits the 7 stage sets at each L2 in one runExactFold task, then
 * scores single heads and averages of their probabilities (arithmetic, over the sets named below).
 *
 *   BENCH_DATA=.../Dataset_BUSI_with_GT BENCH_REPEATS=3 npx tsx --conditions=source bench/explore/ensemble.ts
 */
import os from "node:os";
import path from "node:path";
import {
  type CvImage,
  computeMetrics,
  createProgress,
  exactFoldTask,
  extractFeatures,
  FeatureCache,
  firstViews,
  meanLogLoss,
  runExactFold,
  STAGE_SETS,
  scanDataset,
  selectEngine,
  stratifiedFolds,
} from "@rescale-run/runner";

const data = path.resolve(process.env.BENCH_DATA ?? "../shared/data/busi-dev/Dataset_BUSI_with_GT");
const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const K = 5;
const SEED = 100;
const L2S = [0.1, 0.03];

const dataset = await scanDataset(data);
const views = firstViews(2);
const viewIds = views.map((v) => v.id);
const { engine } = await selectEngine({});
const cache = new FeatureCache(path.resolve(".bench-out/head-features"), engine.cacheKey);
const { features } = await extractFeatures(
  dataset.images.map((image) => ({ image, views })),
  { engine, cache, progress: createProgress({ quiet: false }) },
);
await engine.dispose();
const images: CvImage[] = dataset.images.map((img) => ({ ...img, viewIds }));
const numClasses = dataset.classNames.length;
const setName = (s: readonly string[]) => s.join("+");
const candidates = STAGE_SETS.flatMap((layers) => L2S.map((l2) => ({ layers, l2 })));
const label = (c: { layers: readonly string[]; l2: number }) => `${setName(c.layers)} L2 ${c.l2}`;

/** Rows of the table: single heads, then averages over the candidates a filter keeps. */
const groups: { name: string; members: number[] }[] = [
  ...candidates.map((c, i) => ({ name: label(c), members: [i] })),
  {
    name: "mean of the 7 stage sets, L2 0.1",
    members: candidates.flatMap((c, i) => (c.l2 === 0.1 ? [i] : [])),
  },
  { name: "mean of the 7 stage sets x both L2", members: candidates.map((_, i) => i) },
  {
    name: "mean of conv3+conv4+conv5, conv4+conv5, conv3+conv5 at L2 0.1",
    members: candidates.flatMap((c, i) =>
      c.l2 === 0.1 && ["conv3+conv4+conv5", "conv4+conv5", "conv3+conv5"].includes(setName(c.layers))
        ? [i]
        : [],
    ),
  },
  {
    name: "mean of the sets with conv5, L2 0.1",
    members: candidates.flatMap((c, i) => (c.l2 === 0.1 && c.layers.includes("conv5") ? [i] : [])),
  },
];
const pooled = groups.map(() => ({ probs: [] as number[], labels: [] as number[] }));

for (let r = 0; r < repeats; r++) {
  const { folds } = stratifiedFolds(images, K, SEED + r);
  for (let k = 0; k < K; k++) {
    const heldOut = images.filter((_, i) => folds[i] === k);
    const training = images.filter((_, i) => folds[i] !== k);
    const outcome = runExactFold(
      exactFoldTask({
        training,
        heldOut,
        evalViewIds: viewIds,
        features,
        numClasses,
        layerSets: STAGE_SETS,
        l2s: L2S,
      }),
    );
    for (const [g, group] of groups.entries()) {
      const avg = new Float64Array(heldOut.length * numClasses);
      for (const m of group.members) {
        const p = outcome.probs[m]!;
        for (let j = 0; j < avg.length; j++) avg[j]! += p[j]! / group.members.length;
      }
      pooled[g]!.probs.push(...avg);
      pooled[g]!.labels.push(...heldOut.map((img) => img.label));
    }
    process.stderr.write(`repeat ${r} fold ${k} done\n`);
  }
}

process.stdout.write(
  `\n${dataset.images.length} images, ${K}-fold x ${repeats}, load average ${os.loadavg()[0]!.toFixed(1)}\n\n` +
    "| Head | Accuracy | Macro AUC | Log loss |\n| --- | --- | --- | --- |\n",
);
for (const [g, group] of groups.entries()) {
  const { probs, labels } = pooled[g]!;
  const rows = labels.map((_, i) => probs.slice(i * numClasses, (i + 1) * numClasses));
  const m = computeMetrics({ yTrue: labels, probs: rows, classNames: dataset.classNames });
  process.stdout.write(
    `| ${group.name} | ${m.accuracy.toFixed(3)} | ${m.macroAuc?.toFixed(3)} | ${meanLogLoss(probs, labels, numClasses).toFixed(3)} |\n`,
  );
}
