/**
 * The run's plots as PNG files, drawn without a browser: a Vega-Lite spec is compiled to Vega, rendered headless
 * to SVG by a Vega View, and rasterised by sharp (librsvg, system fonts; DejaVu Sans is asked for by name).
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { HistoryEntry } from "./artifacts.js";
import type { Metrics } from "./metrics.js";

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

function historySpec(history: readonly HistoryEntry[], metric: "accuracy" | "loss"): TopLevelSpec {
  const values = history.flatMap((h) => [
    { epoch: h.epoch, split: "train", value: metric === "accuracy" ? h.accuracy : h.loss },
    { epoch: h.epoch, split: "validation", value: metric === "accuracy" ? h.valAccuracy : h.valLoss },
  ]);
  const label = metric === "accuracy" ? "Accuracy" : "Loss";
  return {
    ...baseConfig,
    title: `Model ${metric}`,
    data: { values },
    mark: { type: "line", point: true, strokeWidth: 2 },
    encoding: {
      x: {
        field: "epoch",
        type: "quantitative",
        title: "Epoch",
        scale: { zero: false, nice: false },
        axis: { format: "d", tickMinStep: 1 },
      },
      y: { field: "value", type: "quantitative", title: label, scale: { zero: false } },
      color: {
        field: "split",
        type: "nominal",
        title: null,
        scale: { domain: ["train", "validation"], range: ["#1f77b4", "#ff7f0e"] },
        legend: {
          // Accuracy rises and loss falls, so the opposite corner stays clear of the curves.
          orient: metric === "accuracy" ? "bottom-right" : "top-right",
          fillColor: "white",
          padding: 6,
          labelExpr: "datum.label === 'train' ? 'Train' : 'Validation'",
        },
      },
    },
  } as TopLevelSpec;
}

function confusionSpec(metrics: Metrics): TopLevelSpec {
  const { classNames, matrix } = metrics.confusionMatrix;
  const values = matrix.flatMap((row, t) =>
    row.map((count, p) => ({ actual: classNames[t], predicted: classNames[p], count })),
  );
  const max = Math.max(1, ...values.map((v) => v.count));
  const axis = { labelAngle: 0 };
  return {
    ...baseConfig,
    title: `Confusion matrix (test split, n = ${metrics.n})`,
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
            field: "count",
            type: "quantitative",
            title: "Count",
            scale: { scheme: "blues", domain: [0, max] },
          },
        },
      },
      {
        mark: { type: "text", fontSize: 20, fontWeight: "bold" },
        encoding: {
          text: { field: "count", type: "quantitative" },
          color: { condition: { test: `datum.count > ${max / 2}`, value: "white" }, value: "#222" },
        },
      },
    ],
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
        encoding: {
          x: { field: "fpr", type: "quantitative", title: "False positive rate", scale: { domain: [0, 1] } },
          y: { field: "tpr", type: "quantitative", title: "True positive rate", scale: { domain: [0, 1] } },
          order: { field: "order", type: "quantitative" },
          color: {
            field: "curve",
            type: "nominal",
            title: "Class",
            legend: { orient: "bottom-right", labelLimit: 0, fillColor: "white", padding: 6 },
          },
        },
      },
    ],
  } as TopLevelSpec;
}

export type PlotName = "accuracy" | "loss" | "confusionMatrix" | "roc";

/** File name of each plot inside `outDir`. */
export const PLOT_FILES: Record<PlotName, string> = {
  accuracy: "accuracy.png",
  loss: "loss.png",
  confusionMatrix: "confusion-matrix.png",
  roc: "roc.png",
};

/**
 * Vega-Lite specs of the run's plots. Accuracy and loss (train vs validation per epoch) are left out when
 * `history` is empty; the ROC plot draws the classes whose one-vs-rest AUC is defined.
 */
export function plotSpecs(
  history: readonly HistoryEntry[],
  metrics: Metrics,
): Partial<Record<PlotName, TopLevelSpec>> {
  const specs: Partial<Record<PlotName, TopLevelSpec>> = {};
  if (history.length > 0) {
    specs.accuracy = historySpec(history, "accuracy");
    specs.loss = historySpec(history, "loss");
  }
  specs.confusionMatrix = confusionSpec(metrics);
  specs.roc = rocSpec(metrics);
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
  history: readonly HistoryEntry[];
  metrics: Metrics;
  /** Class names, for the record; the plots take them from `metrics` so labels always match its matrix. */
  classNames: readonly string[];
  outDir: string;
  /** PNG pixels per CSS pixel (default 2: 1280 x 960 images). */
  scale?: number;
}

/**
 * Writes accuracy.png, loss.png (when there is history), confusion-matrix.png and roc.png into `outDir` and returns
 * the written paths by plot name.
 *
 * @throws {RangeError} when `classNames` disagrees with the classes of `metrics`.
 */
export async function renderPlots(input: RenderPlotsInput): Promise<Partial<Record<PlotName, string>>> {
  const { history, metrics, classNames, outDir, scale = 2 } = input;
  if (classNames.join("\u0000") !== metrics.confusionMatrix.classNames.join("\u0000")) {
    throw new RangeError(
      `class names [${classNames.join(", ")}] differ from the metrics' [${metrics.confusionMatrix.classNames.join(", ")}]`,
    );
  }
  await mkdir(outDir, { recursive: true });
  const written: Partial<Record<PlotName, string>> = {};
  for (const [name, spec] of Object.entries(plotSpecs(history, metrics)) as [PlotName, TopLevelSpec][]) {
    const file = path.join(outDir, PLOT_FILES[name]);
    await writeFile(file, await svgToPng(await renderSvg(spec), scale));
    written[name] = file;
  }
  return written;
}
