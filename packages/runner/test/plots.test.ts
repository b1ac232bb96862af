import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EpochRecord } from "../src/head.js";
import { computeMetrics } from "../src/metrics.js";
import {
  MISCLASSIFIED_FILE,
  PLOT_HEIGHT,
  PLOT_WIDTH,
  plotSpecs,
  renderMisclassifiedGrid,
  renderPlots,
  renderSvg,
} from "../src/plots.js";
import { pngImage } from "./helpers.js";

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
const history: EpochRecord[] = [1, 2, 3, 4, 5].map((epoch) => ({
  epoch,
  loss: 1.2 / epoch + 0.5,
  dataLoss: 1.2 / epoch,
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
    written = await renderPlots({
      history,
      bestEpoch: 3,
      metrics,
      classNames,
      outDir: path.join(root, "out"),
    });
  });

  it("writes the five PNGs and returns their paths", async () => {
    expect(written).toEqual({
      accuracy: path.join(root, "out", "accuracy.png"),
      loss: path.join(root, "out", "loss.png"),
      confusionMatrix: path.join(root, "out", "confusion-matrix.png"),
      roc: path.join(root, "out", "roc.png"),
      precisionRecall: path.join(root, "out", "precision-recall.png"),
    });
    expect((await readdir(path.join(root, "out"))).sort()).toEqual([
      "accuracy.png",
      "confusion-matrix.png",
      "loss.png",
      "precision-recall.png",
      "roc.png",
    ]);
  });

  it("writes decodable PNGs of the expected size that are not blank", async () => {
    for (const [name, file] of Object.entries(written)) {
      const meta = await sharp(file).metadata();
      expect(meta.format).toBe("png");
      if (name === "confusionMatrix") {
        // Counts and the row-normalised matrix side by side: wider than tall.
        expect(meta.width!).toBeGreaterThan(meta.height! * 1.5);
      } else {
        expect([meta.width, meta.height]).toEqual([PLOT_WIDTH * 2, PLOT_HEIGHT * 2]);
      }
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
    expect(Object.keys(small).sort()).toEqual(["confusionMatrix", "precisionRecall", "roc"]);
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
  const specs = plotSpecs(history, metrics, 3);

  it("label the axes of the history plots", async () => {
    const acc = await renderSvg(specs.accuracy!);
    for (const text of ["Model accuracy", "Epoch", "Accuracy", "Train", "Validation"])
      expect(acc).toContain(text);
    const loss = await renderSvg(specs.loss!);
    for (const text of [
      "Model loss",
      "Epoch",
      "Loss",
      "Train (class-weighted cross-entropy, no L2 penalty)",
      "Validation (cross-entropy)",
    ])
      expect(loss).toContain(text);
  });

  it("plot the penalty-free training loss against the validation loss, and mark the best epoch on both", () => {
    const layers = (specs.loss as unknown as { layer: { data: { values: Record<string, unknown>[] } }[] })
      .layer;
    const curve = layers[0]!.data.values;
    const train = curve.filter((v) => String(v.split).startsWith("Train")).map((v) => v.value);
    expect(train).toEqual(history.map((h) => h.dataLoss));
    // The ringed points sit on both curves at the best epoch.
    const ringed = layers[3]!.data.values;
    expect(ringed.map((v) => [v.epoch, v.value])).toEqual([
      [3, history[2]!.dataLoss],
      [3, history[2]!.valLoss],
    ]);
  });

  it("say so in the legend when a history has no penalty-free loss", async () => {
    const old = history.map(({ dataLoss: _, ...h }) => h);
    const svg = await renderSvg(plotSpecs(old, metrics).loss!);
    expect(svg).toContain("Train (class-weighted cross-entropy + L2 penalty)");
    expect(svg).not.toContain("best epoch");
  });

  it("draw only the training curve, over solver iterations, for the exact solver's history (no validation)", async () => {
    const iterations = history.map((h) => ({ ...h, valLoss: Number.NaN, valAccuracy: Number.NaN }));
    const noVal = plotSpecs(iterations, metrics);
    const curve = (noVal.accuracy as unknown as { layer: { data: { values: Record<string, unknown>[] } }[] })
      .layer[0]!.data.values;
    expect(curve.map((v) => v.split)).toEqual(history.map(() => "Train"));
    const svg = await renderSvg(noVal.accuracy!);
    expect(svg).toContain("Solver iteration");
    expect(svg).not.toContain("Validation");
    expect(await renderSvg(noVal.loss!)).not.toContain("Validation");
  });

  it("annotate the confusion matrix with its counts and class names", async () => {
    const svg = await renderSvg(specs.confusionMatrix!);
    for (const text of ["Predicted class", "True class", "n = 9", ...classNames]) expect(svg).toContain(text);
    // Matrix: benign [2,1,0], malignant [0,3,0], normal [0,0,3].
    const cells = [...svg.matchAll(/<text[^>]*font-size="18px"[^>]*>([\d.]+)<\/text>/g)].map((m) => m[1]!);
    const counts = cells.filter((c) => !c.includes(".")).map(Number);
    expect(counts.sort()).toEqual([0, 0, 0, 0, 0, 1, 2, 3, 3]);
    // Beside them, each row divided by its sum: benign [2/3, 1/3, 0], the others one-hot.
    const shares = cells.filter((c) => c.includes("."));
    expect(shares.sort()).toEqual(["0.00", "0.00", "0.00", "0.00", "0.00", "0.33", "0.67", "1.00", "1.00"]);
    expect(svg).toContain("Share of each true class (rows sum to 1)");
  });

  it("draw each precision-recall curve from recall 0 to full recall, recall never going back", () => {
    const values = (
      specs.precisionRecall as unknown as { data: { values: Record<string, number | string>[] } }
    ).data.values;
    for (const r of metrics.precisionRecall) {
      const points = values
        .filter((v) => String(v.curve).startsWith(`${r.className} `))
        .sort((a, b) => Number(a.order) - Number(b.order));
      expect(points[0]).toMatchObject({ recall: 0, precision: 1 });
      expect(points.at(-1)!.recall).toBe(1);
      for (let i = 1; i < points.length; i++) {
        expect(Number(points[i]!.recall)).toBeGreaterThanOrEqual(Number(points[i - 1]!.recall));
      }
      expect(points).toHaveLength(r.curve!.length);
    }
  });

  it("put each class's average precision in the precision-recall legend", async () => {
    const svg = await renderSvg(specs.precisionRecall!);
    for (const text of ["Recall (sensitivity)", "Precision"]) expect(svg).toContain(text);
    for (const r of metrics.precisionRecall)
      expect(svg).toContain(`${r.className} (AP ${r.averagePrecision!.toFixed(3)}`);
  });

  it("put each class's AUC in the ROC legend", async () => {
    const svg = await renderSvg(specs.roc!);
    for (const text of ["False positive rate", "True positive rate"]) expect(svg).toContain(text);
    for (const r of metrics.roc) expect(svg).toContain(`${r.className} (AUC ${r.auc!.toFixed(3)})`);
  });
});

describe("renderMisclassifiedGrid", () => {
  it("writes a JPEG of the misclassified test images, most confident mistake first, and nothing when none is", async () => {
    const dir = path.join(root, "grid");
    const images = await Promise.all(
      [0, 1, 2].map(async (seed) => {
        const file = path.join(root, `img-${seed}.png`);
        await sharp(await pngImage(seed, 48)).toFile(file);
        return { absPath: file };
      }),
    );
    const predictions = [
      { file: "benign/a.png", trueClass: 0, probs: [0.9, 0.05, 0.05] },
      { file: "benign/b.png", trueClass: 0, probs: [0.3, 0.6, 0.1] },
      { file: "normal/c.png", trueClass: 2, probs: [0.8, 0.1, 0.1] },
    ];
    const grid = await renderMisclassifiedGrid({ predictions, images, classNames, outDir: dir });
    expect(grid).toEqual({ path: path.join(dir, MISCLASSIFIED_FILE), misclassified: 2, shown: 2 });
    const meta = await sharp(grid.path!).metadata();
    expect(meta.format).toBe("jpeg");
    // Two 160 px thumbnails in a row, a caption band under them and a title band above.
    expect([meta.width, meta.height]).toEqual([320, 34 + 160 + 46]);

    const none = await renderMisclassifiedGrid({
      predictions: predictions.slice(0, 1),
      images: images.slice(0, 1),
      classNames,
      outDir: path.join(root, "grid-none"),
    });
    expect(none).toEqual({ path: null, misclassified: 0, shown: 0 });
    await expect(readdir(path.join(root, "grid-none"))).rejects.toThrow();
  });
});
