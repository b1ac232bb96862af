/**
 * The run's plots as PNG files, drawn without a browser: a Vega-Lite spec is compiled to Vega, rendered headless
 * to SVG by a Vega View, and rasterised by sharp (librsvg, system fonts; DejaVu Sans is asked for by name).
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { EpochRecord } from "./head.js";
import { argmax, type Metrics } from "./metrics.js";

/** Size of every plot in CSS pixels (the PNG is `scale` times larger). */
export const PLOT_WIDTH = 640;
export const PLOT_HEIGHT = 480;
const FONT = "DejaVu Sans, Verdana, sans-serif";

const baseConfig = {
  font: FONT,
  background: "white",
  padding: 12,
  autosize: { type: "fit", contains: "padding" },
  width: PLOT_WIDTH,
  height: PLOT_HEIGHT,
  config: {
    title: { fontSize: 16 },
    axis: { labelFontSize: 12, titleFontSize: 13 },
    legend: { labelFontSize: 12 },
  },
} as const;

/**
 * Accuracy or loss per epoch, train against validation. The loss plot draws the training loss without the L2 penalty
 * (`dataLoss`) so both curves measure the same thing (the legend says so); histories without `dataLoss` (older
 * checkpoints) fall back to the penalised `loss`, and the legend says that instead. The best epoch (the weights kept)
 * is marked on both curves with a rule and ringed points.
 */
function historySpec(
  history: readonly EpochRecord[],
  metric: "accuracy" | "loss",
  bestEpoch: number | undefined,
): TopLevelSpec {
  const penaltyFree = history.every((h) => h.dataLoss !== undefined);
  const trainLabel =
    metric === "accuracy"
      ? "Train"
      : penaltyFree
        ? "Train (class-weighted cross-entropy, no L2 penalty)"
        : "Train (class-weighted cross-entropy + L2 penalty)";
  const valLabel = metric === "accuracy" ? "Validation" : "Validation (cross-entropy)";
  // The exact solver's history is its iterations on all the training rows: no validation split is scored (NaN).
  // Those points are left out, and the legend names only the curves drawn.
  const values = history
    .flatMap((h) => [
      {
        epoch: h.epoch,
        split: trainLabel,
        value: metric === "accuracy" ? h.accuracy : penaltyFree ? h.dataLoss! : h.loss,
      },
      { epoch: h.epoch, split: valLabel, value: metric === "accuracy" ? h.valAccuracy : h.valLoss },
    ])
    .filter((v) => Number.isFinite(v.value));
  const splits = [trainLabel, valLabel].filter((label) => values.some((v) => v.split === label));
  const label = metric === "accuracy" ? "Accuracy" : "Loss (cross-entropy)";
  const best = bestEpoch !== undefined && bestEpoch > 0 ? values.filter((v) => v.epoch === bestEpoch) : [];
  const x = {
    field: "epoch",
    type: "quantitative",
    // Only the exact solver writes a history with no validation: its rows are L-BFGS iterations, not epochs.
    title: splits.includes(valLabel) ? "Epoch" : "Solver iteration",
    scale: { zero: false, nice: false },
    axis: { format: "d", tickMinStep: 1 },
  };
  const color = {
    field: "split",
    type: "nominal",
    title: null,
    scale: { domain: splits, range: ["#1f77b4", "#ff7f0e"].slice(0, splits.length) },
    legend: {
      // Accuracy rises, so its bottom-right corner stays clear of the curves. The loss labels are long (they say
      // which loss is drawn): inside a corner they ran off the plot's left edge, so they go below it.
      orient: metric === "accuracy" ? "bottom-right" : "bottom",
      direction: "vertical",
      fillColor: "white",
      padding: 6,
      labelLimit: 0,
    },
  };
  const layers: unknown[] = [
    {
      data: { values },
      mark: { type: "line", point: true, strokeWidth: 2 },
      encoding: {
        x,
        y: { field: "value", type: "quantitative", title: label, scale: { zero: false } },
        color,
      },
    },
  ];
  if (best.length > 0) {
    layers.push(
      {
        data: { values: [{ epoch: bestEpoch, text: `best epoch ${bestEpoch}` }] },
        mark: { type: "rule", strokeDash: [4, 4], color: "#555" },
        encoding: { x: { field: "epoch", type: "quantitative" } },
      },
      {
        data: { values: [{ epoch: bestEpoch, text: `best epoch ${bestEpoch}` }] },
        mark: {
          type: "text",
          align: "left",
          baseline: "bottom",
          dx: 4,
          dy: -4,
          y: { expr: "height" },
          fontSize: 12,
          color: "#555",
        },
        encoding: { x: { field: "epoch", type: "quantitative" }, text: { field: "text" } },
      },
      {
        data: { values: best },
        mark: { type: "point", size: 160, strokeWidth: 2.5, filled: false },
        encoding: {
          x: { field: "epoch", type: "quantitative" },
          y: { field: "value", type: "quantitative" },
          color,
        },
      },
    );
  }
  return { ...baseConfig, title: `Model ${metric}`, layer: layers } as TopLevelSpec;
}

/** One heatmap of the confusion matrix: `normalized` colours and labels cells by their row share. */
function confusionPanel(metrics: Metrics, normalized: boolean, width: number): unknown {
  const { classNames, matrix, normalized: shares } = metrics.confusionMatrix;
  const values = matrix.flatMap((row, t) =>
    row.map((count, p) => ({
      actual: classNames[t],
      predicted: classNames[p],
      count,
      share: shares[t]![p]!,
      label: normalized ? shares[t]![p]!.toFixed(2) : String(count),
    })),
  );
  const field = normalized ? "share" : "count";
  const max = normalized ? 1 : Math.max(1, ...values.map((v) => v.count));
  const axis = { labelAngle: 0 };
  return {
    width,
    height: width,
    title: normalized ? "Share of each true class (rows sum to 1)" : "Counts",
    data: { values },
    encoding: {
      x: {
        field: "predicted",
        type: "ordinal",
        title: "Predicted class",
        sort: classNames,
        axis: { ...axis, orient: "bottom" },
      },
      y: { field: "actual", type: "ordinal", title: "True class", sort: classNames, axis },
    },
    layer: [
      {
        mark: { type: "rect", stroke: "white", strokeWidth: 1 },
        encoding: {
          color: {
            field,
            type: "quantitative",
            title: normalized ? "Share" : "Count",
            scale: { scheme: normalized ? "greens" : "blues", domain: [0, max] },
          },
        },
      },
      {
        mark: { type: "text", fontSize: 18, fontWeight: "bold" },
        encoding: {
          text: { field: "label", type: "nominal" },
          color: { condition: { test: `datum.${field} > ${max / 2}`, value: "white" }, value: "#222" },
        },
      },
    ],
  };
}

/** Counts (left) and the row-normalised matrix (right), side by side. */
function confusionSpec(metrics: Metrics): TopLevelSpec {
  const panel = Math.round(PLOT_WIDTH * 0.62);
  return {
    font: FONT,
    background: "white",
    padding: 12,
    config: baseConfig.config,
    title: `Confusion matrix (test split, n = ${metrics.n})`,
    hconcat: [confusionPanel(metrics, false, panel), confusionPanel(metrics, true, panel)],
    resolve: { scale: { color: "independent" } },
  } as TopLevelSpec;
}

/** Encoding of per-class curves on the unit square: points joined in `order`, one colour and legend entry a class. */
function curveEncoding(
  x: [field: string, title: string],
  y: [field: string, title: string],
  legendOrient: string,
) {
  const axis = ([field, title]: [string, string]) => ({
    field,
    type: "quantitative",
    title,
    scale: { domain: [0, 1] },
  });
  return {
    x: axis(x),
    y: axis(y),
    order: { field: "order", type: "quantitative" },
    color: {
      field: "curve",
      type: "nominal",
      title: "Class",
      legend: { orient: legendOrient, labelLimit: 0, fillColor: "white", padding: 6 },
    },
  };
}

/** One-vs-rest precision-recall curves, one per class with its average precision (and the class's prevalence). */
function precisionRecallSpec(metrics: Metrics): TopLevelSpec {
  const drawn = metrics.precisionRecall.filter((r) => r.averagePrecision !== null && r.curve !== null);
  const values = drawn.flatMap((r) => {
    const support = metrics.perClass.find((c) => c.className === r.className)!.support;
    const curve = `${r.className} (AP ${r.averagePrecision!.toFixed(3)}, prevalence ${(support / metrics.n).toFixed(2)})`;
    // From the closing (recall 0, precision 1) point, stored last, on through rising recall to full recall.
    const points = [r.curve!.at(-1)!, ...r.curve!.slice(0, -1)];
    return points.map((p, order) => ({ curve, order, recall: p.recall, precision: p.precision }));
  });
  return {
    ...baseConfig,
    title: "Precision-recall curves, one vs rest (test split)",
    data: { values },
    // Step-wise as average precision sums it: each precision holds over the recall it adds.
    mark: { type: "line", strokeWidth: 2, interpolate: "step-before" },
    encoding: curveEncoding(["recall", "Recall (sensitivity)"], ["precision", "Precision"], "bottom-left"),
  } as TopLevelSpec;
}

function rocSpec(metrics: Metrics): TopLevelSpec {
  const drawn = metrics.roc.filter((r) => r.auc !== null && r.curve !== null);
  const legendOf = (name: string, auc: number) => `${name} (AUC ${auc.toFixed(3)})`;
  const values = drawn.flatMap((r) =>
    r.curve!.map((p, order) => ({ curve: legendOf(r.className, r.auc!), order, fpr: p.fpr, tpr: p.tpr })),
  );
  const macro = metrics.macroAuc === null ? "" : ` - macro AUC ${metrics.macroAuc.toFixed(3)}`;
  return {
    ...baseConfig,
    title: `ROC curves, one vs rest (test split)${macro}`,
    layer: [
      {
        data: {
          values: [
            { fpr: 0, tpr: 0 },
            { fpr: 1, tpr: 1 },
          ],
        },
        mark: { type: "line", strokeDash: [6, 4], color: "#999", strokeWidth: 1 },
        encoding: { x: { field: "fpr", type: "quantitative" }, y: { field: "tpr", type: "quantitative" } },
      },
      {
        data: { values },
        mark: { type: "line", strokeWidth: 2, interpolate: "linear" },
        encoding: curveEncoding(
          ["fpr", "False positive rate"],
          ["tpr", "True positive rate"],
          "bottom-right",
        ),
      },
    ],
  } as TopLevelSpec;
}

export type PlotName = "accuracy" | "loss" | "confusionMatrix" | "roc" | "precisionRecall";

/** File name of each plot inside `outDir` (stable: report.html and docs/runner.md name them). */
export const PLOT_FILES: Record<PlotName, string> = {
  accuracy: "accuracy.png",
  loss: "loss.png",
  confusionMatrix: "confusion-matrix.png",
  roc: "roc.png",
  precisionRecall: "precision-recall.png",
};

/** File name of the grid of misclassified test images (written only when some test image is misclassified). */
export const MISCLASSIFIED_FILE = "misclassified.jpg";

/**
 * Vega-Lite specs of the run's plots. Accuracy and loss (train vs validation per epoch) are left out when
 * `history` is empty; the ROC and precision-recall plots draw the classes whose curve is defined.
 */
export function plotSpecs(
  history: readonly EpochRecord[],
  metrics: Metrics,
  bestEpoch?: number,
): Partial<Record<PlotName, TopLevelSpec>> {
  const specs: Partial<Record<PlotName, TopLevelSpec>> = {};
  if (history.length > 0) {
    specs.accuracy = historySpec(history, "accuracy", bestEpoch);
    specs.loss = historySpec(history, "loss", bestEpoch);
  }
  specs.confusionMatrix = confusionSpec(metrics);
  specs.roc = rocSpec(metrics);
  specs.precisionRecall = precisionRecallSpec(metrics);
  return specs;
}

/** Renders a Vega-Lite spec to SVG text, headless (no browser, no canvas). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG text to PNG bytes at `scale` x its CSS pixel size. */
export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale })
    .flatten({ background: "#ffffff" })
    .png()
    .toBuffer();
}

export interface RenderPlotsInput {
  history: readonly EpochRecord[];
  /** The epoch whose weights were kept, marked on the accuracy and loss plots (0 or absent: no mark). */
  bestEpoch?: number;
  metrics: Metrics;
  /** Class names, for the record; the plots take them from `metrics` so labels always match its matrix. */
  classNames: readonly string[];
  outDir: string;
  /** PNG pixels per CSS pixel (default 2: 1280 x 960 images). */
  scale?: number;
}

/**
 * Writes accuracy.png, loss.png (when there is history), confusion-matrix.png, roc.png and precision-recall.png
 * into `outDir` and returns
 * the written paths by plot name.
 *
 * @throws {RangeError} when `classNames` disagrees with the classes of `metrics`.
 */
export async function renderPlots(input: RenderPlotsInput): Promise<Partial<Record<PlotName, string>>> {
  const { history, bestEpoch, metrics, classNames, outDir, scale = 2 } = input;
  if (classNames.join("\u0000") !== metrics.confusionMatrix.classNames.join("\u0000")) {
    throw new RangeError(
      `class names [${classNames.join(", ")}] differ from the metrics' [${metrics.confusionMatrix.classNames.join(", ")}]`,
    );
  }
  await mkdir(outDir, { recursive: true });
  const written: Partial<Record<PlotName, string>> = {};
  for (const [name, spec] of Object.entries(plotSpecs(history, metrics, bestEpoch)) as [
    PlotName,
    TopLevelSpec,
  ][]) {
    const file = path.join(outDir, PLOT_FILES[name]);
    await writeFile(file, await svgToPng(await renderSvg(spec), scale));
    written[name] = file;
  }
  return written;
}

export interface MisclassifiedGridInput {
  /** Test predictions (file, true class, probabilities), as in predictions.csv. */
  predictions: readonly { file: string; trueClass: number; probs: readonly number[] }[];
  /** Where each prediction's image is on disk: the test images, in the same order as `predictions`. */
  images: readonly { absPath: string }[];
  classNames: readonly string[];
  outDir: string;
  /** At most this many thumbnails, the most confident mistakes first (default 48). */
  limit?: number;
  limitInputPixels?: number;
}

export interface MisclassifiedGrid {
  /** Path of the JPEG, or `null` when no test image is misclassified (nothing written). */
  path: string | null;
  /** Misclassified test images in all, and how many the grid shows. */
  misclassified: number;
  shown: number;
}

const THUMB = 160;
const CAPTION = 46;
const GRID_TITLE = 34;
const GRID_COLUMNS = 8;

const xmlText = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
const clip = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/**
 * Writes misclassified.jpg: a grid of the misclassified test images (most confident mistakes first), each thumbnail
 * captioned with its true class, the predicted class and that prediction's probability, and its file name. The
 * captions are an SVG overlay composited by sharp. Writes nothing when every test image is classified correctly.
 */
export async function renderMisclassifiedGrid(input: MisclassifiedGridInput): Promise<MisclassifiedGrid> {
  const { predictions, images, classNames, outDir, limit = 48 } = input;
  if (images.length !== predictions.length) {
    throw new RangeError(`${predictions.length} predictions but ${images.length} images`);
  }
  const wrong = predictions
    .map((p, i) => ({ ...p, predicted: argmax(p.probs), absPath: images[i]!.absPath }))
    .filter((p) => p.predicted !== p.trueClass)
    .map((p) => ({ ...p, confidence: p.probs[p.predicted]! }))
    .sort((a, b) => b.confidence - a.confidence || (a.file < b.file ? -1 : 1));
  if (wrong.length === 0) return { path: null, misclassified: 0, shown: 0 };
  const shown = wrong.slice(0, limit);
  const columns = Math.min(GRID_COLUMNS, shown.length);
  const rows = Math.ceil(shown.length / columns);
  const cellH = THUMB + CAPTION;
  const width = columns * THUMB;
  const height = GRID_TITLE + rows * cellH;
  const thumbs = await Promise.all(
    shown.map(async (p, i) => ({
      input: await sharp(p.absPath, { limitInputPixels: input.limitInputPixels ?? 64_000_000 })
        .rotate()
        .resize(THUMB, THUMB, { fit: "contain", background: "#000000" })
        .png()
        .toBuffer(),
      left: (i % columns) * THUMB,
      top: GRID_TITLE + Math.floor(i / columns) * cellH,
    })),
  );
  const captions = shown.map((p, i) => {
    const x = (i % columns) * THUMB + 4;
    const y = GRID_TITLE + Math.floor(i / columns) * cellH + THUMB;
    const lines = [
      `true ${clip(classNames[p.trueClass]!, 16)}`,
      `pred ${clip(classNames[p.predicted]!, 12)} ${p.confidence.toFixed(2)}`,
      clip(p.file.split("/").pop()!, 24),
    ];
    return lines
      .map(
        (line, j) =>
          `<text x="${x}" y="${y + 13 + j * 14}" font-size="${j === 2 ? 10 : 12}" fill="${j === 1 ? "#b00020" : "#222"}">${xmlText(line)}</text>`,
      )
      .join("");
  });
  const title = `Misclassified test images: ${shown.length} of ${wrong.length} shown, most confident first`;
  const overlay =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT}">` +
    `<text x="6" y="22" font-size="${width < 480 ? 11 : 15}" font-weight="bold" fill="#222">${xmlText(title)}</text>` +
    `${captions.join("")}</svg>`;
  await mkdir(outDir, { recursive: true });
  const file = path.join(outDir, MISCLASSIFIED_FILE);
  const jpeg = await sharp({ create: { width, height, channels: 3, background: "#ffffff" } })
    .composite([...thumbs, { input: Buffer.from(overlay), left: 0, top: 0 }])
    .jpeg({ quality: 85 })
    .toBuffer();
  await writeFile(file, jpeg);
  return { path: file, misclassified: wrong.length, shown: shown.length };
}
