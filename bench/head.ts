/**
 * `pnpm bench:head`: how well head-training settings do on a dataset as a whole, beyond one 82-image test split.
 * Repeated stratified 5-fold CV over every image (default the BUSI dev set): per fold, three folds train, the next
 * one early-stops, the held-out one is scored with test-time augmentation (orig + flip), exactly as the runner
 * scores its test split. Every setting sees the same folds. Features come from the default engine through the
 * runner's cache (kept in .bench-out/head-features, so a second run skips extraction). Appends to
 * docs/benchmarks.md. Environment: BENCH_DATA (dataset folder), BENCH_REPEATS (default 3).
 */
import { appendFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { firstViews, ORIGINAL_VIEW } from "../packages/runner/src/augment.js";
import { buildMatrix, type CvImage, predictOverViews, stratifiedFolds } from "../packages/runner/src/cv.js";
import { scanDataset } from "../packages/runner/src/dataset.js";
import { FeatureCache } from "../packages/runner/src/features/cache.js";
import { extractFeatures } from "../packages/runner/src/features/extract.js";
import { selectEngine } from "../packages/runner/src/features/select.js";
import {
  DEFAULT_HEAD_EPOCHS,
  DEFAULT_LEARNING_RATES,
  type HeadConfig,
  trainHead,
} from "../packages/runner/src/head.js";
import { argmax, meanLogLoss } from "../packages/runner/src/metrics.js";
import { createProgress } from "../packages/runner/src/progress.js";

const data = path.resolve(process.env.BENCH_DATA ?? "../shared/data/busi-dev/Dataset_BUSI_with_GT");
const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const K = 5;
const SEED = 100;

const defaults: HeadConfig = {
  kind: "dense",
  layers: ["conv3", "conv4", "conv5"],
  l2: 0.2,
  dropout: 0,
  learningRate: DEFAULT_LEARNING_RATES.dense,
  batchSize: 32,
  maxEpochs: DEFAULT_HEAD_EPOCHS,
  patience: 10,
  startFromEpoch: DEFAULT_HEAD_EPOCHS / 2,
};
const settings: { name: string; config: HeadConfig }[] = [
  { name: "default: peak 1e-2 over 40 epochs, watched from epoch 20, L2 0.2", config: defaults },
  { name: "same, watched from epoch 1", config: { ...defaults, startFromEpoch: 0 } },
  { name: "same, L2 0.05", config: { ...defaults, l2: 0.05 } },
  { name: "same, L2 0.05 and dropout 0.2", config: { ...defaults, l2: 0.05, dropout: 0.2 } },
  {
    name: "peak 5e-3 over 60 epochs, watched from epoch 30, L2 0.2",
    config: { ...defaults, learningRate: 5e-3, maxEpochs: 60, startFromEpoch: 30 },
  },
  { name: "default on conv4+conv5", config: { ...defaults, layers: ["conv4", "conv5"] } },
];

const dataset = await scanDataset(data);
const views = firstViews(2);
const viewIds = views.map((v) => v.id);
const { engine } = await selectEngine({});
const benchRoot = path.resolve(".bench-out");
await mkdir(benchRoot, { recursive: true });
const cache = new FeatureCache(path.join(benchRoot, "head-features"), engine.cacheKey);
const { features, stats } = await extractFeatures(
  dataset.images.map((image) => ({ image, views })),
  { engine, cache, progress: createProgress({ quiet: false }) },
);
await engine.dispose();
process.stderr.write(
  `features: ${stats.extracted} extracted, ${stats.cached} cached (${engine.description})\n`,
);

const images: CvImage[] = dataset.images.map((img) => ({ ...img, viewIds }));
const foldings = Array.from({ length: repeats }, (_, r) => stratifiedFolds(images, K, SEED + r).folds);
const numClasses = dataset.classNames.length;

const results: { name: string; accuracy: number; logLoss: number; seconds: number }[] = [];
for (const { name, config } of settings) {
  const started = performance.now();
  const probs: number[] = [];
  const labels: number[] = [];
  for (const folds of foldings) {
    for (let k = 0; k < K; k++) {
      const part = (fold: number) => images.filter((_, i) => folds[i] === fold);
      const heldOut = part(k);
      const earlyStopping = part((k + 1) % K);
      const training = images.filter((_, i) => folds[i] !== k && folds[i] !== (k + 1) % K);
      const train = buildMatrix(
        training.flatMap((img) => viewIds.map((viewId) => ({ ...img, viewId }))),
        config.layers,
        features,
      );
      const val = buildMatrix(
        earlyStopping.map((img) => ({ ...img, viewId: ORIGINAL_VIEW.id })),
        config.layers,
        features,
      );
      const { model } = await trainHead(config, train, val, { numClasses, seed: 42 + k });
      probs.push(...predictOverViews(model, heldOut, viewIds, features));
      labels.push(...heldOut.map((img) => img.label));
    }
  }
  const correct = labels.filter(
    (label, i) => argmax(probs.slice(i * numClasses, (i + 1) * numClasses)) === label,
  );
  const result = {
    name,
    accuracy: correct.length / labels.length,
    logLoss: meanLogLoss(probs, labels, numClasses),
    seconds: (performance.now() - started) / 1000,
  };
  results.push(result);
  process.stderr.write(
    `${name}: accuracy ${result.accuracy.toFixed(3)}, log loss ${result.logLoss.toFixed(3)} (${result.seconds.toFixed(0)} s)\n`,
  );
}

const cpu = os.cpus()[0]?.model.trim() ?? "unknown CPU";
const section = [
  `## Head training settings, whole-set CV (bench/head.ts), ${new Date().toISOString()}`,
  "",
  `- Machine: ${cpu}, ${os.availableParallelism()} cores, Node ${process.version}; load average ${os.loadavg()[0]!.toFixed(1)} at the end`,
  `- Data: ${data} (${dataset.images.length} images); ${K}-fold x ${repeats} repeated stratified CV (seeds ${SEED}-${SEED + repeats - 1}), per fold 3 folds train (views ${viewIds.join(", ")}), 1 early-stops (orig), 1 is scored with test-time augmentation (${viewIds.join(" + ")}); ${images.length * repeats} held-out predictions per setting`,
  `- Features: ${engine.description}; ${stats.extracted} views extracted, ${stats.cached} from the cache`,
  "",
  "| Head training (dense head, conv3+conv4+conv5 unless named) | Accuracy | Log loss | Seconds |",
  "| --- | --- | --- | --- |",
  ...results.map(
    (r) => `| ${r.name} | ${r.accuracy.toFixed(3)} | ${r.logLoss.toFixed(3)} | ${r.seconds.toFixed(0)} |`,
  ),
  "",
].join("\n");
process.stdout.write(`\n${section}\n`);
await appendFile(path.resolve("docs/benchmarks.md"), `\n${section}\n`);
