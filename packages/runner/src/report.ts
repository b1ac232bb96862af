/**
 * `report.html`: one self-contained page per run, written into the run's output folder. It holds the settings and
 * provenance (run.json), every metrics table (metrics.json, rendered generically so new fields appear without a
 * change here), every plot of the folder (SVG or PNG, as data: URIs), the misclassified test images as small JPEG
 * thumbnails, and the stage timings. No script, no network: a Content-Security-Policy forbids both, and every piece
 * of text that came from the data (class names, file names, settings) goes through {@link escapeHtml}.
 */

import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "@rescale-run/sdk/atomic-write";
import sharp from "sharp";
import { type DeviceChoice, describeDevice } from "./device.js";

export const REPORT_FILE = "report.html";

/** Thumbnails embedded at most (the rest are listed by name), and their longest side in pixels. */
const MAX_THUMBNAILS = 120;
const THUMBNAIL_PX = 96;
/** A plot or grid image larger than this is named, not embedded, to keep the page small. */
const MAX_EMBEDDED_IMAGE_BYTES = 600 * 1024;

/** Escapes text for HTML element content and double-quoted attribute values. The one escaping helper here. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** Parses RFC 4180 CSV (the runner's own predictions.csv): quoted fields, doubled quotes, CRLF or LF. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += ch;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export interface Misclassified {
  file: string;
  trueClass: string;
  predictedClass: string;
  /** Probability the model gave the predicted class. */
  confidence: number | null;
}

/** The test rows whose predicted class differs from the true one, most confident mistakes first. */
export function misclassifiedRows(csv: string): Misclassified[] {
  const [header, ...rows] = parseCsv(csv);
  if (!header) return [];
  const col = (name: string) => header.indexOf(name);
  const [fileCol, trueCol, predCol] = [col("file"), col("true_class"), col("predicted_class")];
  if (fileCol < 0 || trueCol < 0 || predCol < 0) return [];
  const found: Misclassified[] = [];
  for (const r of rows) {
    if (r.length < header.length || r[trueCol] === r[predCol]) continue;
    const probCol = col(`prob_${r[predCol]}`);
    const p = probCol >= 0 ? Number(r[probCol]) : Number.NaN;
    found.push({
      file: r[fileCol]!,
      trueClass: r[trueCol]!,
      predictedClass: r[predCol]!,
      confidence: Number.isFinite(p) ? p : null,
    });
  }
  return found.sort((a, b) => (b.confidence ?? 0) - (a.confidence ?? 0));
}

// ---------------------------------------------------------------------------------------------------------------
// Generic rendering of JSON values as tables

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is null | boolean | number | string => v === null || typeof v !== "object";

/** A number as a person reads it: integers as they are, fractions to 4 significant decimals. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  if (Math.abs(n) >= 1000) return n.toFixed(1);
  return String(Number(n.toPrecision(4)));
}

function scalarCell(v: Json): string {
  if (v === null) return '<span class="na">n/a</span>';
  if (typeof v === "number") return escapeHtml(formatNumber(v));
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "string") return escapeHtml(v);
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === "number" || typeof x === "string") && v.length <= 12)
      return escapeHtml(v.map((x) => (typeof x === "number" ? formatNumber(x) : x)).join(", "));
    return `<span class="na">${v.length} values</span>`;
  }
  return `<span class="na">${Object.keys(v).length} fields</span>`;
}

/** `macroF1` -> "macro F1", `className` -> "class name", `true_class` -> "true class", `macroAUC` -> "macro AUC". */
export function humanKey(key: string): string {
  return key
    .replaceAll("_", " ")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .replace(/\b([A-Z])([a-z]+)/g, (_, first: string, rest: string) => first.toLowerCase() + rest);
}

/** An array of objects as one table: a column per scalar field (nested arrays shown by their size). */
function rowsTable(rows: Record<string, Json>[]): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const head = keys.map((k) => `<th>${escapeHtml(humanKey(k))}</th>`).join("");
  const body = rows.map(
    (r) => `<tr>${keys.map((k) => `<td>${scalarCell(r[k] ?? null)}</td>`).join("")}</tr>`,
  );
  return `<table><thead><tr>${head}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

/** `{classNames, matrix}` (rows true, columns predicted) as a confusion table. */
function matrixTable(value: { classNames: string[]; matrix: number[][] }): string {
  const names = value.classNames;
  const head = names.map((n) => `<th>${escapeHtml(n)}</th>`).join("");
  const body = value.matrix.map(
    (row, t) =>
      `<tr><th>${escapeHtml(names[t] ?? t)}</th>${row.map((c, p) => `<td${p === t ? ' class="diag"' : ""}>${escapeHtml(c)}</td>`).join("")}</tr>`,
  );
  return `<table class="matrix"><thead><tr><th>true \\ predicted</th>${head}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

const isMatrix = (v: Json): v is { classNames: string[]; matrix: number[][] } =>
  isObject(v) && Array.isArray(v.classNames) && Array.isArray(v.matrix) && v.matrix.every(Array.isArray);

/**
 * Any JSON object as tables: its scalar fields in one key/value table, each array of objects as its own table,
 * a confusion matrix as a matrix, nested objects as sub-sections (to `depth` levels, then summarised).
 */
export function renderJsonTables(value: Record<string, Json>, level = 3): string {
  const scalars: [string, Json][] = [];
  const parts: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const title = `<h${Math.min(level, 6)}>${escapeHtml(humanKey(key))}</h${Math.min(level, 6)}>`;
    if (isScalar(v) || (Array.isArray(v) && !v.some((x) => isObject(x) || Array.isArray(x)))) {
      scalars.push([key, v]);
    } else if (isMatrix(v)) {
      parts.push(title + matrixTable(v));
    } else if (Array.isArray(v) && v.length > 0 && v.every(isObject)) {
      parts.push(title + rowsTable(v as Record<string, Json>[]));
    } else if (isObject(v) && level < 6) {
      parts.push(`<section class="sub">${title}${renderJsonTables(v, level + 1)}</section>`);
    } else {
      scalars.push([key, v]);
    }
  }
  const kv = scalars.length
    ? `<table class="kv"><tbody>${scalars.map(([k, v]) => `<tr><th>${escapeHtml(humanKey(k))}</th><td>${scalarCell(v)}</td></tr>`).join("")}</tbody></table>`
    : "";
  return kv + parts.join("");
}

// ---------------------------------------------------------------------------------------------------------------
// The page

export interface ReportImage {
  /** File name in the output folder, shown as the caption. */
  name: string;
  /** A data: URI. */
  src: string;
}

export interface ReportThumbnail extends Misclassified {
  /** A data: URI, or null when the image was not found on this machine. */
  src: string | null;
}

export interface ReportInput {
  run: Record<string, Json> | null;
  metrics: Record<string, Json> | null;
  plots: ReportImage[];
  /** Large images named but not embedded (over the size limit). */
  omitted: string[];
  /** A grid of the misclassified images the runner drew, if any. */
  misclassifiedGrid: ReportImage | null;
  misclassified: ReportThumbnail[];
  /** Misclassified rows beyond the thumbnail limit. */
  misclassifiedMore: number;
  generatedAt: string;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#173a5e;color:#fff;padding:16px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 18px;margin:16px 0}
section.sub{border:none;padding:0 0 0 8px;margin:8px 0}
h2{margin:4px 0 10px;font-size:18px}h3,h4,h5,h6{margin:12px 0 6px;font-size:15px}
table{border-collapse:collapse;margin:4px 0 10px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #dde1e7;padding:3px 8px;text-align:left;vertical-align:top}
thead th,table.kv th{background:#eef1f5;font-weight:600}td.diag{background:#e3f3e6;font-weight:600}
.na{color:#7a8494}.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde1e7;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:22px}.plots{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0}figure img{max-width:560px;width:100%;border:1px solid #dde1e7;background:#fff}
figcaption{font-size:12px;color:#556}.thumbs{display:flex;flex-wrap:wrap;gap:8px}
.thumb{width:${THUMBNAIL_PX + 40}px;font-size:11px;word-break:break-all}.thumb img{display:block;max-width:${THUMBNAIL_PX}px;max-height:${THUMBNAIL_PX}px}
.bar{background:#5b8fd0;height:10px;display:inline-block;vertical-align:middle}
`;

/** Headline numbers (accuracy, F1, AUC, kappa) from whichever of metrics.json / run.json has them. */
function cards(metrics: Record<string, Json> | null, run: Record<string, Json> | null): string {
  const source = metrics ?? (isObject(run?.test) ? run.test : null);
  if (!source) return "";
  const items = Object.entries(source).filter(([, v]) => typeof v === "number" || v === null);
  if (!items.length) return "";
  return `<div class="cards">${items
    .map(([k, v]) => `<div class="card">${escapeHtml(humanKey(k))}<b>${scalarCell(v)}</b></div>`)
    .join("")}</div>`;
}

function provenance(run: Record<string, Json>): string {
  const pick = (obj: unknown, key: string): Json | undefined => (isObject(obj) ? obj[key] : undefined);
  const ds = run.dataset;
  const hw = run.hardware;
  const rows: [string, Json | undefined][] = [
    ["dataset fingerprint", pick(ds, "fingerprint")],
    ["dataset root", pick(ds, "root")],
    ["classes", pick(ds, "counts") as Json],
    [
      "split (train / val / test)",
      isObject(run.split) ? `${run.split.train} / ${run.split.val} / ${run.split.test}` : undefined,
    ],
    ["seed", run.seed],
    ["device", isObject(run.device) ? describeDevice(run.device as unknown as DeviceChoice) : undefined],
    ["TF.js backend", run.backend],
    ["engine", pick(run.engine, "description") ?? pick(run.engine, "name")],
    ["CPU", isObject(hw) ? `${hw.cpu} (${hw.cores} cores, ${hw.memoryGiB} GiB)` : undefined],
    ["platform", pick(hw, "platform")],
    ["runner", isObject(run.runner) ? `${run.runner.name} ${run.runner.version}` : undefined],
    ["started", run.startedAt],
    ["finished", run.finishedAt],
  ];
  const cell = (v: Json) =>
    isObject(v)
      ? escapeHtml(
          Object.entries(v)
            .map(([k, n]) => `${k} ${n}`)
            .join(", "),
        )
      : scalarCell(v);
  return `<table class="kv"><tbody>${rows
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${cell(v as Json)}</td></tr>`)
    .join("")}</tbody></table>`;
}

function timingsTable(timings: Record<string, Json>): string {
  const entries = Object.entries(timings).filter((e): e is [string, number] => typeof e[1] === "number");
  if (!entries.length) return "<p class=na>No timings recorded.</p>";
  const total = entries.reduce((s, [, v]) => s + v, 0);
  const max = Math.max(...entries.map(([, v]) => v), 1e-9);
  const rows = entries.map(
    ([k, v]) =>
      `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v.toFixed(2))} s</td><td><span class="bar" style="width:${Math.round((v / max) * 300)}px"></span></td></tr>`,
  );
  return `<table><thead><tr><th>stage</th><th>seconds</th><th></th></tr></thead><tbody>${rows.join("")}<tr><th>total</th><td>${escapeHtml(total.toFixed(2))} s</td><td></td></tr></tbody></table>`;
}

function figure(img: ReportImage): string {
  return `<figure><img src="${escapeHtml(img.src)}" alt="${escapeHtml(img.name)}"><figcaption>${escapeHtml(img.name)}</figcaption></figure>`;
}

/** The page as one HTML string; pure, so tests feed it hostile names directly. */
export function renderReportHtml(input: ReportInput): string {
  const { run, metrics } = input;
  const title =
    run && isObject(run.dataset) && typeof run.dataset.root === "string"
      ? `Run report: ${path.basename(run.dataset.root)}`
      : "Run report";
  const settingsKeys = [
    "versions",
    "engine",
    "views",
    "ttaViews",
    "features",
    "crossValidation",
    "head",
    "fineTune",
    "peakRssMiB",
  ];
  const settings = run
    ? Object.fromEntries(settingsKeys.filter((k) => k in run).map((k) => [k, run[k] as Json]))
    : {};
  const datasetExtras =
    run && isObject(run.dataset)
      ? {
          classNames: run.dataset.classNames ?? null,
          masksExcluded: run.dataset.masksExcluded ?? null,
          skipped: run.dataset.skipped ?? [],
          duplicateGroups: Array.isArray(run.dataset.duplicateGroups)
            ? run.dataset.duplicateGroups.map((g) => (Array.isArray(g) ? g.join(" = ") : String(g)))
            : [],
        }
      : null;
  const thumbs = input.misclassified.map(
    (m) =>
      `<div class="thumb">${m.src ? `<img src="${escapeHtml(m.src)}" alt="${escapeHtml(m.file)}">` : '<span class="na">(image not on this machine)</span>'}` +
      `<div>${escapeHtml(m.file)}</div><div>true <b>${escapeHtml(m.trueClass)}</b>, predicted <b>${escapeHtml(m.predictedClass)}</b>${m.confidence === null ? "" : ` (${escapeHtml(formatNumber(m.confidence))})`}</div></div>`,
  );
  const sections = [
    `<section><h2>Summary</h2>${cards(metrics, run) || '<p class="na">No metrics.json in this folder.</p>'}</section>`,
    run ? `<section><h2>Provenance</h2>${provenance(run)}</section>` : "",
    input.plots.length || input.omitted.length
      ? `<section><h2>Plots</h2><div class="plots">${input.plots.map(figure).join("")}</div>${input.omitted.length ? `<p class="na">Not embedded (too large): ${escapeHtml(input.omitted.join(", "))}</p>` : ""}</section>`
      : "",
    metrics ? `<section><h2>Metrics (test split)</h2>${renderJsonTables(metrics)}</section>` : "",
    input.misclassifiedGrid || input.misclassified.length
      ? `<section><h2>Misclassified test images (${input.misclassified.length + input.misclassifiedMore})</h2>${input.misclassifiedGrid ? figure(input.misclassifiedGrid) : ""}<div class="thumbs">${thumbs.join("")}</div>${input.misclassifiedMore ? `<p class="na">${input.misclassifiedMore} more in predictions.csv.</p>` : ""}</section>`
      : "",
    run && isObject(run.timings) ? `<section><h2>Timings</h2>${timingsTable(run.timings)}</section>` : "",
    run ? `<section><h2>Settings</h2>${renderJsonTables(settings)}</section>` : "",
    datasetExtras ? `<section><h2>Dataset</h2>${renderJsonTables(datasetExtras)}</section>` : "",
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><header><h1>${escapeHtml(title)}</h1><p>rescale-run report, generated ${escapeHtml(input.generatedAt)}</p></header>
<main>${sections.join("\n")}</main></body></html>
`;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading an output folder

async function readJson(file: string): Promise<Record<string, Json> | null> {
  try {
    const value = JSON.parse(await readFile(file, "utf8")) as Json;
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

const MIME: Record<string, string> = {
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
};

async function dataUri(file: string): Promise<string> {
  const mime = MIME[path.extname(file).toLowerCase()] ?? "application/octet-stream";
  return `data:${mime};base64,${(await readFile(file)).toString("base64")}`;
}

/** A small JPEG thumbnail as a data: URI, or null when the file cannot be read as an image. */
async function thumbnail(file: string): Promise<string | null> {
  try {
    const jpeg = await sharp(file)
      .resize(THUMBNAIL_PX, THUMBNAIL_PX, { fit: "inside" })
      .jpeg({ quality: 60 })
      .toBuffer();
    return `data:image/jpeg;base64,${jpeg.toString("base64")}`;
  } catch {
    return null;
  }
}

/** The image file of a predictions.csv row, looked up under the dataset root, never outside it. */
function imagePath(datasetRoot: string, file: string): string | null {
  const full = path.resolve(datasetRoot, file);
  const rel = path.relative(datasetRoot, full);
  return rel.startsWith("..") || path.isAbsolute(rel) ? null : full;
}

export interface WriteReportOptions {
  /** Where the dataset's images are (default run.json's dataset.root), for the thumbnails. */
  datasetRoot?: string;
}

/** Gathers what the page shows from an output folder. */
export async function collectReport(outDir: string, options: WriteReportOptions = {}): Promise<ReportInput> {
  const [run, metrics] = await Promise.all([
    readJson(path.join(outDir, "run.json")),
    readJson(path.join(outDir, "metrics.json")),
  ]);
  const names = (await readdir(outDir, { withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  const images = names.filter((n) => /\.(svg|png|jpe?g)$/i.test(n));
  const stem = (n: string) => n.replace(/\.[^.]+$/, "");
  // A plot rendered both ways is shown once, as SVG (sharper, usually smaller).
  const svgStems = new Set(images.filter((n) => n.toLowerCase().endsWith(".svg")).map(stem));
  const plots: ReportImage[] = [];
  const omitted: string[] = [];
  let misclassifiedGrid: ReportImage | null = null;
  for (const name of images) {
    if (!name.toLowerCase().endsWith(".svg") && svgStems.has(stem(name))) continue;
    const file = path.join(outDir, name);
    if ((await stat(file)).size > MAX_EMBEDDED_IMAGE_BYTES) {
      omitted.push(name);
      continue;
    }
    const image = { name, src: await dataUri(file) };
    if (/misclassified/i.test(name) && !misclassifiedGrid) misclassifiedGrid = image;
    else plots.push(image);
  }

  let rows: Misclassified[] = [];
  try {
    rows = misclassifiedRows(await readFile(path.join(outDir, "predictions.csv"), "utf8"));
  } catch {
    rows = [];
  }
  const root =
    options.datasetRoot ??
    (run && isObject(run.dataset) && typeof run.dataset.root === "string" ? run.dataset.root : null);
  const shown = rows.slice(0, MAX_THUMBNAILS);
  const misclassified: ReportThumbnail[] = [];
  for (const row of shown) {
    const file = root ? imagePath(root, row.file) : null;
    misclassified.push({ ...row, src: file ? await thumbnail(file) : null });
  }
  return {
    run,
    metrics,
    plots,
    omitted,
    misclassifiedGrid,
    misclassified,
    misclassifiedMore: rows.length - shown.length,
    generatedAt: new Date().toISOString(),
  };
}

/** Writes `outDir/report.html` from what the folder holds and returns its path. */
export async function writeRunReport(outDir: string, options: WriteReportOptions = {}): Promise<string> {
  const file = path.join(outDir, REPORT_FILE);
  await writeFileAtomic(file, renderReportHtml(await collectReport(outDir, options)));
  return file;
}
