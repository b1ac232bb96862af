/**
 * `compare RUN...`: the test metrics and the settings of training runs side by side. A run is a local output
 * folder (a `rescale-run train --out` folder, or a job's downloaded folder with the runner's outputs/ inside), or
 * a job id: its folder ./rescale-run-<id> when already downloaded, else its run.json and metrics.json are
 * downloaded there first.
 */
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { UsageError } from "../errors.js";
import { defineCommand, type Factory } from "../factory.js";
import { downloadJobOutputs } from "../job-outputs.js";

/** The files compare reads, wherever in a run folder the runner wrote them. */
const RUN_FILES = ["metrics.json", "run.json"] as const;
/** Metrics shown first, in this order; any other top-level number in metrics.json follows. */
const KNOWN_METRICS = ["n", "accuracy", "balancedAccuracy", "macroF1", "macroAuc", "cohenKappa", "logLoss"];

export interface ComparedRun {
  /** What the user named (a folder or a job id). */
  label: string;
  /** The folder holding metrics.json / run.json. */
  dir: string;
  /** Top-level numbers of metrics.json (null where a metric is undefined for the run, e.g. AUC). */
  metrics: Record<string, number | null>;
  /** Settings from run.json that explain a difference in the metrics. */
  settings: Record<string, string | number | null>;
}

type Json = Record<string, unknown>;

/** The folder under `dir` that holds the runner's files: itself, or outputs/ (a job's downloaded layout). */
function runDir(dir: string): string | undefined {
  return [dir, join(dir, "outputs")].find((d) => RUN_FILES.some((f) => existsSync(join(d, f))));
}

async function readJson(file: string): Promise<Json | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(await readFile(file, "utf8")) as Json;
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

const get = (value: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((v, key) => (v && typeof v === "object" ? (v as Json)[key] : undefined), value);
const text = (value: unknown): string | number | null =>
  value === undefined || value === null
    ? null
    : typeof value === "number" || typeof value === "string"
      ? value
      : Array.isArray(value)
        ? value.join(",")
        : JSON.stringify(value);

/** The settings of run.json worth seeing next to the metrics. */
function settingsOf(run: Json | undefined): ComparedRun["settings"] {
  const counts = get(run, "dataset", "counts") as Record<string, number> | undefined;
  const seconds = (a: unknown, b: unknown) =>
    typeof a === "string" && typeof b === "string"
      ? Math.round((Date.parse(b) - Date.parse(a)) / 1000)
      : null;
  return {
    runner: text(get(run, "runner", "version")),
    startedAt: text(get(run, "startedAt")),
    durationSeconds: seconds(get(run, "startedAt"), get(run, "finishedAt")),
    dataset:
      typeof get(run, "dataset", "fingerprint") === "string"
        ? String(get(run, "dataset", "fingerprint")).slice(0, 12)
        : null,
    classes: counts
      ? Object.entries(counts)
          .map(([c, n]) => `${c} ${n}`)
          .join(", ")
      : null,
    split: get(run, "split")
      ? `${get(run, "split", "train")}/${get(run, "split", "val")}/${get(run, "split", "test")}`
      : null,
    seed: text(get(run, "seed")),
    engine: text(get(run, "engine", "name")),
    backend: text(get(run, "backend")),
    head: text(get(run, "head", "config", "kind")),
    layers: text(get(run, "head", "config", "layers")),
    learningRate: text(get(run, "head", "config", "learningRate")),
    maxEpochs: text(get(run, "head", "config", "maxEpochs")),
    epochsRun: text(get(run, "head", "epochs")),
    bestEpoch: text(get(run, "head", "bestEpoch")),
    views: text(get(run, "views")),
    ttaViews: text(get(run, "ttaViews")),
    crossValidation: text(get(run, "crossValidation", "chosen") ?? get(run, "crossValidation", "skipped")),
    fineTune: text(get(run, "fineTune", "ran")),
  };
}

function metricsOf(metrics: Json | undefined): ComparedRun["metrics"] {
  const out: ComparedRun["metrics"] = {};
  for (const [key, value] of Object.entries(metrics ?? {})) {
    if (typeof value === "number" || value === null) out[key] = value;
  }
  return out;
}

async function loadRun(label: string, dir: string): Promise<ComparedRun> {
  const found = runDir(dir);
  if (!found) {
    throw new UsageError(
      `${dir} holds no metrics.json or run.json (nor outputs/ with them).`,
      "Pass a training --out folder, a downloaded job folder, or a job id.",
    );
  }
  const [metrics, run] = await Promise.all(RUN_FILES.map((f) => readJson(join(found, f))));
  return { label, dir: found, metrics: metricsOf(metrics), settings: settingsOf(run) };
}

/** A folder on disk is read as it is; anything else is a job id, read from its download folder. */
async function resolveRuns(factory: Factory, runs: string[]): Promise<ComparedRun[]> {
  const result: ComparedRun[] = [];
  const jobs: string[] = [];
  for (const name of runs) {
    const path = resolve(factory.io.cwd, name);
    if (existsSync(path) && (await stat(path)).isDirectory()) result.push(await loadRun(name, path));
    else if (/^[A-Za-z0-9_-]+$/.test(name)) jobs.push(name);
    else throw new UsageError(`${name}: no such folder, and not a job id.`);
  }
  const missing = jobs.filter((id) => !runDir(resolve(factory.io.cwd, `rescale-run-${id}`)));
  if (missing.length > 0) {
    const { client } = await factory.target();
    for (const id of missing) {
      factory.out.note(`job ${id}: downloading its run.json and metrics.json into rescale-run-${id}/`);
      await downloadJobOutputs(client, id, resolve(factory.io.cwd, `rescale-run-${id}`), factory.out, {
        signal: factory.signal,
        filter: (file) => (RUN_FILES as readonly string[]).includes(file.name),
      });
    }
  }
  for (const id of jobs) result.push(await loadRun(id, resolve(factory.io.cwd, `rescale-run-${id}`)));
  // Keep the order the user gave.
  return runs.map((name) => result.find((r) => r.label === name)!);
}

function cell(value: string | number | null | undefined, metric: boolean): string {
  if (value === undefined || value === null) return "-";
  if (typeof value === "number" && metric && !Number.isInteger(value)) return value.toFixed(3);
  return String(value);
}

/** One row per metric, then per setting; one column per run. Settings equal in every run are dimmed. */
function renderComparison(factory: Factory, runs: ComparedRun[]): void {
  const { out } = factory;
  const metricKeys = [
    ...KNOWN_METRICS.filter((k) => runs.some((r) => k in r.metrics)),
    ...[...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].filter((k) => !KNOWN_METRICS.includes(k)),
  ];
  const settingKeys = Object.keys(runs[0]!.settings);
  type Row = { name: string; values: string[]; same: boolean; section: string };
  const rows: Row[] = [];
  for (const [section, keys, pick, metric] of [
    ["test metrics", metricKeys, (r: ComparedRun, k: string) => r.metrics[k], true],
    ["settings", settingKeys, (r: ComparedRun, k: string) => r.settings[k], false],
  ] as const) {
    for (const key of keys) {
      const values = runs.map((r) => cell(pick(r, key), metric));
      rows.push({ name: key, values, same: values.every((v) => v === values[0]), section });
    }
  }
  const labels = runs.map((r) => basename(r.label));
  out.table(rows, [
    { header: "", value: (row) => row.name },
    ...labels.map((label, i) => ({
      header: label,
      value: (row: Row) => (row.same && runs.length > 1 ? out.c.dim(row.values[i]!) : row.values[i]!),
      align: "right" as const,
    })),
  ]);
}

export const compareCommand = defineCommand({
  command: "compare <runs..>",
  describe: "Test metrics and settings of training runs side by side (output folders or job ids)",
  builder: (y) =>
    y
      .positional("runs", {
        type: "string",
        array: true,
        describe: "A training --out folder, a downloaded job folder, or a job id (downloads its run.json)",
      })
      .example("$0 compare outputs-dense outputs-flatten", "Two local runs")
      .example("$0 compare 4 7 --json", "Two jobs (their outputs are fetched if not downloaded yet)"),
  async run(options, factory) {
    const runs = await resolveRuns(factory, options.runs ?? []);
    factory.out.result({ schema: 1, runs }, () => renderComparison(factory, runs));
  },
});
