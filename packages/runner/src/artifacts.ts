/**
 * The run's artifacts on disk: history (JSON and CSV), predictions as CSV, and `artifacts.zip` of the output folder.
 * Field names follow one rule everywhere (JSON keys and CSV headers): camelCase, as the SDK and metrics.json use;
 * every JSON document carries a `schema` string (see {@link SCHEMAS}).
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { isAtomicWriteTemp, replaceFileAtomically, writeFileAtomic } from "@rescale-run/sdk/atomic-write";
import archiver from "archiver";
import { UserInputError } from "./errors.js";
import type { EpochRecord } from "./head.js";
import { argmax, METRICS_SCHEMA } from "./metrics.js";

/**
 * The `schema` field of each JSON document the runner writes: `<document>@<version>`. The version goes up when a
 * field is renamed or removed or changes meaning; adding a field keeps it.
 */
export const SCHEMAS = {
  run: "rescale-run/run@1",
  metrics: METRICS_SCHEMA,
  history: "rescale-run/history@1",
  onnxExport: "rescale-run/onnx-export@1",
} as const;

/** history.json: the per-epoch record of head training. */
export interface HistoryDocument {
  schema: typeof SCHEMAS.history;
  /** Epoch whose weights were kept (lowest validation loss after `startFromEpoch`); 0 when none was watched yet. */
  bestEpoch: number;
  /** What `loss`, `dataLoss` and `valLoss` measure. */
  lossNote: string;
  epochs: EpochRecord[];
}

export const LOSS_NOTE =
  "loss: training objective (class-weighted cross-entropy, dropout on, mean over the epoch's batches, plus the L2 " +
  "penalty); dataLoss: the same without the L2 penalty; valLoss: cross-entropy on the validation split, no penalty. " +
  "Compare dataLoss with valLoss.";

/** One test-split prediction. */
export interface PredictionRow {
  /** Image path or name as the user should see it, e.g. "benign/benign (1).png". */
  file: string;
  /** True class index into `classNames`. */
  trueClass: number;
  /** Probability per class, in `classNames` order. */
  probs: number[];
}

// ---------------------------------------------------------------------------------------------------------------
// CSV

/** Formats one CSV field (RFC 4180): quoted when it holds a comma, quote, CR/LF or edge whitespace. */
export function csvField(value: string | number): string {
  if (typeof value === "number")
    return Number.isFinite(value) ? String(value) : Number.isNaN(value) ? "NaN" : value > 0 ? "inf" : "-inf";
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Renders a header and rows as CSV text, one record per line, `\n` line ends. */
export function toCsv(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  return [header, ...rows].map((row) => `${row.map(csvField).join(",")}\n`).join("");
}

/** Column order of history.csv: the keys of {@link EpochRecord}, as in history.json. */
export const HISTORY_CSV_COLUMNS = [
  "epoch",
  "loss",
  "dataLoss",
  "accuracy",
  "valLoss",
  "valAccuracy",
] as const;

/**
 * Writes the training history as CSV with the same names as history.json:
 * `epoch,loss,dataLoss,accuracy,valLoss,valAccuracy` (an empty `dataLoss` cell where the record has none).
 */
export async function writeHistoryCsv(history: readonly EpochRecord[], file: string): Promise<void> {
  const rows = history.map((h) => HISTORY_CSV_COLUMNS.map((column) => h[column] ?? ""));
  await writeFileAtomic(file, toCsv(HISTORY_CSV_COLUMNS, rows));
}

/** Writes `history.json` ({@link HistoryDocument}) and `history.csv` into `outDir`. */
export async function writeHistory(
  outDir: string,
  history: readonly EpochRecord[],
  bestEpoch: number,
): Promise<void> {
  const doc: HistoryDocument = {
    schema: SCHEMAS.history,
    bestEpoch,
    lossNote: LOSS_NOTE,
    epochs: [...history],
  };
  await writeFileAtomic(path.join(outDir, "history.json"), `${JSON.stringify(doc, null, 2)}\n`);
  await writeHistoryCsv(history, path.join(outDir, "history.csv"));
}

/**
 * Writes predictions as CSV: `file,trueClass,predictedClass,prob_<class>...`, classes by name, the predicted class
 * being the most probable one (first wins ties, as in {@link computeMetrics}). The probability columns are
 * `prob_` + the class name verbatim (class names are data, not field names, so they are not re-cased).
 *
 * @throws {RangeError} when a row's class index or probability count does not match `classNames`.
 */
export async function writePredictionsCsv(
  rows: readonly PredictionRow[],
  classNames: readonly string[],
  file: string,
): Promise<void> {
  const records = rows.map((row, i) => {
    const trueName = classNames[row.trueClass];
    if (trueName === undefined) {
      throw new RangeError(
        `prediction ${i} (${row.file}): true class ${row.trueClass} is not in 0..${classNames.length - 1}`,
      );
    }
    if (row.probs.length !== classNames.length) {
      throw new RangeError(
        `prediction ${i} (${row.file}): ${row.probs.length} probabilities for ${classNames.length} classes`,
      );
    }
    return [row.file, trueName, classNames[argmax(row.probs)]!, ...row.probs];
  });
  const header = ["file", "trueClass", "predictedClass", ...classNames.map((c) => `prob_${c}`)];
  await writeFileAtomic(file, toCsv(header, records));
}

// ---------------------------------------------------------------------------------------------------------------
// Zip

/**
 * Left out of `artifacts.zip` unless named in `include`: folder names anywhere in the tree, and file-name suffixes
 * of temporary files. The zip itself and `uploaded.json` (written after the zip is uploaded) are always left out.
 */
export const DEFAULT_EXCLUDED_DIRS: readonly string[] = [
  "cache",
  ".cache",
  "checkpoint",
  "checkpoints",
  "tmp",
  ".tmp",
];
export const DEFAULT_EXCLUDED_SUFFIXES: readonly string[] = [".tmp", ".part", ".partial", ".swp", "~"];
const ALWAYS_EXCLUDED = ["uploaded.json"];

export interface PackageArtifactsOptions {
  /** Name of the zip, written inside `outDir` (default "artifacts.zip"). */
  zipName?: string;
  /**
   * Paths relative to `outDir` (files or folders) to zip instead of the default selection; use it to ship a
   * checkpoint or cache folder on purpose. Symbolic links are never followed.
   */
  include?: string[];
}

export interface ZipEntry {
  /** Path inside the zip, `/`-separated. */
  name: string;
  size: number;
}

export interface PackagedArtifacts {
  path: string;
  size: number;
  /** Hex SHA-256 of the zip file. */
  sha256: string;
  entries: ZipEntry[];
}

/** Regular files under `dir`, sorted, as `/`-separated paths relative to `root`; symbolic links are skipped. */
async function listFiles(root: string, dir: string, skipDir: (name: string) => boolean): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skipDir(entry.name)) found.push(...(await listFiles(root, full, skipDir)));
    } else if (entry.isFile()) {
      found.push(path.relative(root, full).split(path.sep).join("/"));
    }
  }
  return found;
}

async function selectFiles(
  outDir: string,
  zipName: string,
  include: string[] | undefined,
): Promise<string[]> {
  const isZip = (rel: string) => rel === zipName || isAtomicWriteTemp(rel, zipName);
  if (include === undefined) {
    const files = await listFiles(outDir, outDir, (name) => DEFAULT_EXCLUDED_DIRS.includes(name));
    return files.filter(
      (rel) =>
        !isZip(rel) &&
        !ALWAYS_EXCLUDED.includes(rel) &&
        !DEFAULT_EXCLUDED_SUFFIXES.some((s) => rel.endsWith(s)),
    );
  }
  const selected = new Set<string>();
  for (const item of include) {
    const full = path.resolve(outDir, item);
    const rel = path.relative(outDir, full);
    if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) {
      throw new UserInputError(`cannot include ${JSON.stringify(item)}: it is not inside ${outDir}`);
    }
    const info = await lstat(full).catch(() => null);
    if (info === null)
      throw new UserInputError(`cannot include ${JSON.stringify(item)}: no such file in ${outDir}`);
    if (info.isDirectory()) {
      for (const f of await listFiles(outDir, full, () => false)) selected.add(f);
    } else if (info.isFile()) {
      selected.add(rel.split(path.sep).join("/"));
    } else {
      throw new UserInputError(
        `cannot include ${JSON.stringify(item)}: not a regular file or folder (links are not followed)`,
      );
    }
  }
  return [...selected].filter((rel) => !isZip(rel)).sort();
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
}

/**
 * Zips the artifacts in `outDir` into `outDir/<zipName>` (written to a temporary name, then renamed) and returns
 * the zip's path, size, SHA-256 and entries. By default every regular file is included except the zip itself,
 * `uploaded.json`, temporary files and cache / checkpoint folders ({@link DEFAULT_EXCLUDED_DIRS},
 * {@link DEFAULT_EXCLUDED_SUFFIXES}); `include` selects paths explicitly instead.
 *
 * @throws {UserInputError} when `outDir` is missing, nothing is left to zip, or an `include` path is outside it.
 */
export async function packageArtifacts(
  outDir: string,
  options: PackageArtifactsOptions = {},
): Promise<PackagedArtifacts> {
  const { zipName = "artifacts.zip", include } = options;
  if (zipName.includes("/") || zipName.includes(path.sep) || zipName.startsWith(".")) {
    throw new UserInputError(`zip name ${JSON.stringify(zipName)} must be a plain file name`);
  }
  const dirInfo = await stat(outDir).catch(() => null);
  if (!dirInfo?.isDirectory()) throw new UserInputError(`output folder ${outDir} does not exist`);

  const files = await selectFiles(outDir, zipName, include);
  if (files.length === 0) throw new UserInputError(`no artifacts to package in ${outDir}`);

  const zipPath = path.join(outDir, zipName);
  const archive = archiver("zip", { zlib: { level: 6 } });
  const entries: ZipEntry[] = [];
  await replaceFileAtomically(zipPath, async (tmpPath) => {
    try {
      const written = pipeline(archive, createWriteStream(tmpPath));
      for (const name of files) {
        const full = path.join(outDir, ...name.split("/"));
        const info = await stat(full);
        archive.file(full, { name, date: info.mtime });
        entries.push({ name, size: info.size });
      }
      await archive.finalize();
      await written;
    } catch (error) {
      archive.abort();
      throw error;
    }
  });
  const { size } = await stat(zipPath);
  return { path: zipPath, size, sha256: await sha256File(zipPath), entries };
}
