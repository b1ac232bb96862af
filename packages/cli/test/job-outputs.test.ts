import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { metricsLine, perClassLines } from "../src/format.js";
import { metricsCandidates, readRunMetrics } from "../src/job-outputs.js";

/** The parts of a runner metrics.json (schema rescale-run/metrics@1) that submit reads. */
const metricsJson = {
  schema: "rescale-run/metrics@1",
  n: 80,
  accuracy: 0.85,
  balancedAccuracy: 0.8125,
  logLoss: 0.41234,
  macroF1: 0.8,
  macroAuc: 0.93,
  cohenKappa: 0.75,
  perClass: [
    { className: "benign", precision: 0.9, recall: 0.88, specificity: 0.85, f1: 0.89, support: 42 },
    { className: "malignant", precision: 0.8, recall: 0.81, specificity: 0.93, f1: 0.805, support: 21 },
  ],
  confidenceIntervals: {
    level: 0.95,
    resamples: 1000,
    accuracy: { low: 0.775, high: 0.925 },
    macroAuc: { low: 0.88, high: 0.97 },
  },
};

describe("readRunMetrics", () => {
  it("reads the runner's folder first and gives numbers as numbers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rr-outputs-"));
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(dir, "outputs"));
    writeFileSync(join(dir, "outputs", "metrics.json"), JSON.stringify(metricsJson));
    writeFileSync(join(dir, "metrics.json"), JSON.stringify({ accuracy: 0.1 }));
    const m = await readRunMetrics(metricsCandidates(dir, "outputs"));
    expect(m).toEqual({
      schema: "rescale-run/metrics@1",
      file: join(dir, "outputs", "metrics.json"),
      n: 80,
      accuracy: 0.85,
      accuracyCi: { low: 0.775, high: 0.925 },
      balancedAccuracy: 0.8125,
      macroF1: 0.8,
      macroAuc: 0.93,
      macroAucCi: { low: 0.88, high: 0.97 },
      cohenKappa: 0.75,
      logLoss: 0.41234,
      perClass: metricsJson.perClass,
    });
    expect(metricsLine(m!)).toBe(
      "accuracy 0.850 (95% CI 0.775-0.925), balanced accuracy 0.813, macro F1 0.800, " +
        "macro AUC 0.930 (95% CI 0.880-0.970), kappa 0.750, log loss 0.412",
    );
    expect(perClassLines(m!)).toEqual([
      "  benign: sensitivity 0.880, specificity 0.850, precision 0.900, F1 0.890 (n 42)",
      "  malignant: sensitivity 0.810, specificity 0.930, precision 0.800, F1 0.805 (n 21)",
    ]);
  });

  it("fills what an older runner's file lacks with null, and skips unreadable files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rr-outputs-"));
    writeFileSync(join(dir, "broken.json"), "{not json");
    writeFileSync(
      join(dir, "metrics.json"),
      JSON.stringify({ accuracy: 0.9, macroF1: 0.88, macroAuc: null }),
    );
    const m = await readRunMetrics([
      join(dir, "missing.json"),
      join(dir, "broken.json"),
      join(dir, "metrics.json"),
    ]);
    expect(m).toMatchObject({ schema: null, accuracy: 0.9, accuracyCi: null, macroAuc: null, perClass: [] });
    expect(metricsLine(m!)).toBe("accuracy 0.900, macro F1 0.880");
    expect(await readRunMetrics([join(dir, "missing.json")])).toBeNull();
    expect(metricsLine({ ...m!, accuracy: null, macroF1: null })).toBeNull();
  });
});
