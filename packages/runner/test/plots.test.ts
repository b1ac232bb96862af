import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HistoryEntry } from "../src/artifacts.js";
import { computeMetrics } from "../src/metrics.js";
import { PLOT_HEIGHT, PLOT_WIDTH, plotSpecs, renderPlots, renderSvg } from "../src/plots.js";

const classNames = ["benign", "malignant", "normal"];
// 3 per class; sample 2 of "benign" is predicted malignant, so the matrix holds a 2, 1 and 0s.
const metrics = computeMetrics({
  yTrue: [0, 0, 0, 1, 1, 1, 2, 2, 2],
  probs: [
    [0.8, 0.1, 0.1],
    [0.6, 0.3, 0.1],
    [0.3, 0.6, 0.1],
    [0.1, 0.8, 0.1],
    [0.2, 0.7, 0.1],
    [0.1, 0.6, 0.3],
    [0.1, 0.1, 0.8],
    [0.2, 0.1, 0.7],
    [0.3, 0.2, 0.5],
  ],
  classNames,
});
const history: HistoryEntry[] = [1, 2, 3, 4, 5].map((epoch) => ({
  epoch,
  loss: 1.2 / epoch,
  accuracy: 1 - 0.5 / epoch,
  valLoss: 1.3 / epoch + 0.1,
  valAccuracy: 0.9 - 0.5 / epoch,
}));

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "rr-plots-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("renderPlots", () => {
  let written: Awaited<ReturnType<typeof renderPlots>>;
  beforeAll(async () => {
    written = await renderPlots({ history, metrics, classNames, outDir: path.join(root, "out") });
  });

  it("writes the four PNGs and returns their paths", async () => {
    expect(written).toEqual({
      accuracy: path.join(root, "out", "accuracy.png"),
      loss: path.join(root, "out", "loss.png"),
      confusionMatrix: path.join(root, "out", "confusion-matrix.png"),
      roc: path.join(root, "out", "roc.png"),
    });
    expect((await readdir(path.join(root, "out"))).sort()).toEqual([
      "accuracy.png",
      "confusion-matrix.png",
      "loss.png",
      "roc.png",
    ]);
  });

  it("writes decodable PNGs of the expected size that are not blank", async () => {
    for (const file of Object.values(written)) {
      const meta = await sharp(file).metadata();
      expect(meta.format).toBe("png");
      expect([meta.width, meta.height]).toEqual([PLOT_WIDTH * 2, PLOT_HEIGHT * 2]);
      const stats = await sharp(file).stats();
      expect(stats.channels.slice(0, 3).every((c) => c.stdev > 5)).toBe(true);
      // White background, not transparent.
      expect(stats.isOpaque).toBe(true);
    }
  });

  it("honours the scale option", async () => {
    const small = await renderPlots({
      history: [],
      metrics,
      classNames,
      outDir: path.join(root, "small"),
      scale: 1,
    });
    expect(Object.keys(small).sort()).toEqual(["confusionMatrix", "roc"]);
    const meta = await sharp(small.roc!).metadata();
    expect([meta.width, meta.height]).toEqual([PLOT_WIDTH, PLOT_HEIGHT]);
  });

  it("draws a history of a single epoch", async () => {
    const one = await renderPlots({
      history: history.slice(0, 1),
      metrics,
      classNames,
      outDir: path.join(root, "one"),
      scale: 1,
    });
    const stats = await sharp(one.accuracy!).stats();
    expect(stats.channels[0]!.stdev).toBeGreaterThan(5);
  });

  it("rejects class names that differ from the metrics'", async () => {
    await expect(
      renderPlots({ history, metrics, classNames: ["a", "b", "c"], outDir: path.join(root, "bad") }),
    ).rejects.toThrow(RangeError);
  });
});

describe("plot SVGs", () => {
  const specs = plotSpecs(history, metrics);

  it("label the axes of the history plots", async () => {
    const acc = await renderSvg(specs.accuracy!);
    for (const text of ["Model accuracy", "Epoch", "Accuracy", "Train", "Validation"])
      expect(acc).toContain(text);
    const loss = await renderSvg(specs.loss!);
    for (const text of ["Model loss", "Epoch", "Loss"]) expect(loss).toContain(text);
  });

  it("annotate the confusion matrix with its counts and class names", async () => {
    const svg = await renderSvg(specs.confusionMatrix!);
    for (const text of ["Predicted class", "True class", "n = 9", ...classNames]) expect(svg).toContain(text);
    // Matrix: benign [2,1,0], malignant [0,3,0], normal [0,0,3].
    const counts = [...svg.matchAll(/<text[^>]*font-size="20px"[^>]*>(\d+)<\/text>/g)].map((m) =>
      Number(m[1]),
    );
    expect(counts.sort()).toEqual([0, 0, 0, 0, 0, 1, 2, 3, 3]);
  });

  it("put each class's AUC in the ROC legend", async () => {
    const svg = await renderSvg(specs.roc!);
    for (const text of ["False positive rate", "True positive rate"]) expect(svg).toContain(text);
    for (const r of metrics.roc) expect(svg).toContain(`${r.className} (AUC ${r.auc!.toFixed(3)})`);
  });
});
