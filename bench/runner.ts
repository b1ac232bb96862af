/**
 * `pnpm bench:runner`: the whole training pipeline on the BUSI dev set with the default engine, a cold feature
 * cache (the ONNX graph cache is reused if present), output under ./.bench-out. Prints the figures and appends a
 * section to docs/benchmarks.md. Environment: BENCH_DATA (dataset folder), BENCH_ENGINE (auto|onnx|tfjs),
 * BENCH_VIEWS, BENCH_TTA.
 */
import { appendFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
// The compiled runner, as `rescale-runner` runs it (its cross-validation worker threads need the compiled script).
import { type EnginePreference, train } from "@rescale-run/runner";

const data = path.resolve(process.env.BENCH_DATA ?? "../shared/data/busi-dev/Dataset_BUSI_with_GT");
const benchRoot = path.resolve(".bench-out");
await mkdir(benchRoot, { recursive: true });
const out = await mkdtemp(path.join(benchRoot, "runner-"));
const featureCacheDir = await mkdtemp(path.join(benchRoot, "features-"));
const engine = (process.env.BENCH_ENGINE ?? "auto") as EnginePreference;
const views = process.env.BENCH_VIEWS ? Number(process.env.BENCH_VIEWS) : undefined;
const tta = process.env.BENCH_TTA ? Number(process.env.BENCH_TTA) : undefined;

const started = performance.now();
const loadBefore = os.loadavg()[0]!;
const result = await train({ data, out, featureCacheDir, engine, views, tta, upload: false, quiet: false });
const wallSeconds = (performance.now() - started) / 1000;
const peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
await rm(featureCacheDir, { recursive: true, force: true });

const r = result.report;
const m = result.metrics;
const cv = "chosen" in r.crossValidation ? r.crossValidation : undefined;
const best = cv?.scores.find((s) => s.name === cv.chosen);
const fmt = (v: number | null | undefined, digits = 3) =>
  v === null || v === undefined ? "n/a" : v.toFixed(digits);
const fastTarget = r.engine.name === "onnx" ? 90 : 300;
const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
const lines = [
  `## Runner pipeline (bench/runner.ts), ${new Date().toISOString()}`,
  "",
  `- Machine: ${r.hardware.cpu}, ${r.hardware.cores} cores, ${r.hardware.memoryGiB} GiB, ${r.hardware.platform}, Node ${r.hardware.node}; load average ${loadBefore.toFixed(1)} at start (shared machine)`,
  `- Data: ${data} (${Object.entries(r.dataset.counts)
    .map(([c, n]) => `${c} ${n}`)
    .join(
      ", ",
    )}; split ${r.split.train}/${r.split.val}/${r.split.test}), views per training image: ${r.views.join(", ")}; test-time augmentation (predictions averaged): ${r.ttaViews.join(", ")}`,
  `- Engine: ${r.engine.description}; TF.js backend: ${r.backend}`,
  `- Feature extraction (cold cache): ${r.features.extracted} views in ${fmt(r.features.seconds, 1)} s = ${fmt(r.features.imagesPerSecond, 1)} images/s (decode + preprocess + inference)`,
  `- Stage timings (s): ${Object.entries(r.timings)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}`,
  `- Total wall time: ${wallSeconds.toFixed(1)} s (target < ${fastTarget} s with the ${r.engine.name} engine: ${verdict(wallSeconds < fastTarget)})`,
  `- Peak RSS: ${peakRssMiB} MiB`,
  `- Head: ${cv ? `${cv.chosen}, chosen by ${cv.k}-fold x ${cv.repeats} CV (${cv.solver}, ${cv.scores.length} candidates) on train + validation` : "no CV"}; saved model fitted on ${r.finalFit.images} (${r.finalFit.count} images, ${r.finalFit.rows} rows): ${r.head.config.solver === "exact" ? `${r.head.epochs} L-BFGS iterations` : `${r.head.epochs} epochs`} (${r.head.stopReason})`,
  `- ${cv?.k ?? 0}-fold CV (chosen head, mean over folds): accuracy ${fmt(best?.accuracy)}, macro F1 ${fmt(best?.macroF1)}, macro AUC ${fmt(best?.macroAuc)}`,
  `- Test split (${m.n} images${r.test.heldOut ? "" : ", NOT held out: --final-fit all"}): accuracy ${fmt(m.accuracy)} (target >= 0.88: ${verdict(m.accuracy >= 0.88)}), macro F1 ${fmt(m.macroF1)}, macro AUC ${fmt(m.macroAuc)} (target >= 0.95: ${verdict((m.macroAuc ?? 0) >= 0.95)}), Cohen's kappa ${fmt(m.cohenKappa)}`,
  "",
];
const section = lines.join("\n");
process.stdout.write(`\n${section}\n`);
await appendFile(path.resolve("docs/benchmarks.md"), `\n${section}\n`);
