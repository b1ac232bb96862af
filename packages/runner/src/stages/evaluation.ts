import path from "node:path";
import { type PredictionRow, writePredictionsCsv } from "../artifacts.js";
import { predictOverViews } from "../cv.js";
import { computeMetrics, type Metrics } from "../metrics.js";
import type { RunContext } from "./context.js";
import type { RunData } from "./dataset.js";
import { writeJson } from "./json.js";
import type { TrainedModel } from "./training.js";

/** The evaluation stage's result: the test split's figures and per-image predictions. */
export interface Evaluation {
  metrics: Metrics;
  rows: PredictionRow[];
  /** False with --final-fit all: the model was fitted on the test split too, so its figures are no measure. */
  testHeldOut: boolean;
}

/** Stage 5: scores the test split with test-time augmentation; writes metrics.json and predictions.csv. */
export async function evaluationStage(
  ctx: RunContext & { data: RunData; model: TrainedModel },
): Promise<Evaluation> {
  const { data, model, out, progress } = ctx;
  const { classNames, test } = data;
  const probs = predictOverViews(
    model.head,
    test,
    ctx.plan.ttaViews.map((v) => v.id),
    model.evalFeatures,
  );
  const k = classNames.length;
  const rows = test.map((img, i) => ({
    file: img.file,
    trueClass: img.label,
    probs: Array.from(probs.subarray(i * k, (i + 1) * k)),
  }));
  const metrics = computeMetrics({
    yTrue: rows.map((r) => r.trueClass),
    probs: rows.map((r) => r.probs),
    classNames,
  });
  await writeJson(path.join(out, "metrics.json"), metrics);
  await writePredictionsCsv(rows, classNames, path.join(out, "predictions.csv"));
  const testHeldOut = ctx.plan.finalFit !== "all";
  progress.log(
    `test${testHeldOut ? "" : " (NOT held out: --final-fit all trained on it)"}: accuracy ${metrics.accuracy.toFixed(3)}, ` +
      `macro F1 ${metrics.macroF1.toFixed(3)}, macro AUC ${metrics.macroAuc?.toFixed(3) ?? "n/a"} (${metrics.n} images)`,
  );
  ctx.lap("evaluate");
  return { metrics, rows, testHeldOut };
}
