import type { Interval, RunMetricsSummary } from "./job-outputs.js";

/** Number formatting shared by the plan and the core-type tables, and the rendering of a run's test metrics. */

/** A price; null is unknown (hidden by an admin, or not listed), never shown as 0. */
export function money(value: number | null | undefined): string {
  if (value === null || value === undefined) return "unknown";
  return value === 0 ? "0" : value.toFixed(value < 10 ? 3 : 2);
}

export function gb(value: number | null | undefined): string {
  if (value === null || value === undefined) return "-";
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} GB`;
}

const ci = (i: Interval | null) => (i ? ` (95% CI ${i.low.toFixed(3)}-${i.high.toFixed(3)})` : "");

/**
 * The key test metrics on one line: accuracy and macro AUC with their bootstrap intervals, balanced accuracy, macro
 * F1, Cohen's kappa, log loss (those the file has); `null` when it has none of them.
 */
export function metricsLine(m: RunMetricsSummary): string | null {
  const parts = [
    m.accuracy === null ? "" : `accuracy ${m.accuracy.toFixed(3)}${ci(m.accuracyCi)}`,
    m.balancedAccuracy === null ? "" : `balanced accuracy ${m.balancedAccuracy.toFixed(3)}`,
    m.macroF1 === null ? "" : `macro F1 ${m.macroF1.toFixed(3)}`,
    m.macroAuc === null ? "" : `macro AUC ${m.macroAuc.toFixed(3)}${ci(m.macroAucCi)}`,
    m.cohenKappa === null ? "" : `kappa ${m.cohenKappa.toFixed(3)}`,
    m.logLoss === null ? "" : `log loss ${m.logLoss.toFixed(3)}`,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(", ") : null;
}

/** Per-class sensitivity and specificity, e.g. "malignant: sensitivity 0.810, specificity 0.930 (n 21)". */
export function perClassLines(m: RunMetricsSummary): string[] {
  return m.perClass.map(
    (c) =>
      `  ${c.className}: sensitivity ${c.recall.toFixed(3)}` +
      `${c.specificity === null ? "" : `, specificity ${c.specificity.toFixed(3)}`}, precision ` +
      `${c.precision.toFixed(3)}, F1 ${c.f1.toFixed(3)} (n ${c.support})`,
  );
}
