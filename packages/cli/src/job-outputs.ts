/**
 * A job's outputs on the user's disk: downloading them (with progress, never writing outside the chosen folder) and
 * reading the run's test metrics back for `submit`'s summary and `--json`.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, resolve, sep } from "node:path";
import {
  PROCESS_OUTPUT_LOG,
  type RescaleClient,
  type RescaleFile,
  waitForFinalOutputs,
} from "@rescale-run/sdk";
import { CliError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";
import type { Output } from "./output.js";

export interface DownloadedFile {
  id: string;
  name: string;
  path: string;
  bytes: number;
}

/** Where a job file goes under `outDir`: its path in the job's working directory, refused if it escapes. */
export function localPathFor(outDir: string, file: Pick<RescaleFile, "name" | "relativePath">): string {
  const rel = normalize(String(file.relativePath || file.name)).replace(/^(\.\.(\/|\\|$))+/, "");
  const target = resolve(outDir, rel);
  const root = resolve(outDir);
  if (isAbsolute(rel) || (target !== root && !target.startsWith(root + sep))) {
    throw new CliError(
      `refusing to write job file "${file.relativePath}" outside ${outDir}`,
      ExitCode.Internal,
    );
  }
  return target;
}

export async function downloadJobOutputs(
  client: RescaleClient,
  jobId: string,
  outDir: string,
  out: Output,
  options: {
    signal?: AbortSignal;
    filter?: (file: RescaleFile) => boolean;
    /** The list to download (e.g. once final); default: the job's list now. */
    files?: RescaleFile[];
  } = {},
): Promise<DownloadedFile[]> {
  const files = (options.files ?? (await client.jobs.files(jobId, { signal: options.signal }))).filter(
    options.filter ?? (() => true),
  );
  const done: DownloadedFile[] = [];
  for (const file of files) {
    const path = localPathFor(outDir, file);
    await mkdir(dirname(path), { recursive: true });
    const size = typeof file.decryptedSize === "number" ? file.decryptedSize : undefined;
    const bar = out.progress(`download ${file.relativePath || file.name}`, size);
    const result = await client.files.download(String(file.id), {
      to: path,
      file, // resume only this file's .part; check the result against its checksum
      signal: options.signal,
      onProgress: (e) => bar.update(e.loaded),
    });
    bar.finish();
    done.push({ id: String(file.id), name: file.name, path, bytes: result.bytes });
  }
  return done;
}

/**
 * Downloads the job's outputs once their list is final (cluster Stopped, or stable over successive reads; right
 * after Completed Rescale's list can be incomplete). Names what is still missing when it gives up.
 */
export async function downloadFinalOutputs(
  client: RescaleClient,
  jobId: string,
  outDir: string,
  out: Output,
  options: { signal?: AbortSignal; expected?: string[]; pollMs?: number } = {},
): Promise<DownloadedFile[]> {
  out.status(`job ${jobId}: waiting for its output list to be complete...`);
  const every = Math.min(2000, options.pollMs ?? 2000);
  const final = await waitForFinalOutputs(client.jobs, jobId, {
    expected: options.expected ?? [PROCESS_OUTPUT_LOG],
    minDelayMs: every,
    maxDelayMs: Math.max(every, 10_000),
    signal: options.signal,
  });
  out.clearStatus();
  if (final.final === "gave up")
    out.warn(
      `job ${jobId}'s output list did not settle in time${final.missing.length ? `; still missing: ${final.missing.join(", ")}` : ""}. Downloading what is there; \`rescale-run download ${jobId}\` later fetches the rest.`,
    );
  return downloadJobOutputs(client, jobId, outDir, out, { signal: options.signal, files: final.files });
}

/**
 * The `schema` of `submit --json`'s result. JSON naming rule for every command (and the runner's files): camelCase
 * keys, numbers as JSON numbers (never formatted strings), `null` for unknown, and a `schema` string
 * `rescale-run/<document>@<version>` whose version goes up only when a field is renamed, removed or changes meaning.
 */
export const SUBMIT_SCHEMA = "rescale-run/submit@1";

export interface Interval {
  low: number;
  high: number;
}

/** The key test-split figures of a run's metrics.json, as numbers; `null` where the file lacks one. */
export interface RunMetricsSummary {
  /** metrics.json's own `schema` (null for a runner that wrote none). */
  schema: string | null;
  /** Path of the metrics.json read. */
  file: string;
  n: number | null;
  accuracy: number | null;
  /** 95% bootstrap interval of accuracy. */
  accuracyCi: Interval | null;
  balancedAccuracy: number | null;
  macroF1: number | null;
  macroAuc: number | null;
  /** 95% bootstrap interval of the macro AUC. */
  macroAucCi: Interval | null;
  cohenKappa: number | null;
  logLoss: number | null;
  perClass: {
    className: string;
    precision: number;
    recall: number;
    specificity: number | null;
    f1: number;
    support: number;
  }[];
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const interval = (v: unknown): Interval | null => {
  const o = v as { low?: unknown; high?: unknown } | null | undefined;
  const low = num(o?.low);
  const high = num(o?.high);
  return low === null || high === null ? null : { low, high };
};

/**
 * Reads the first metrics.json of `candidates` that exists and parses; `null` when none does. Tolerates files of
 * older runners (fields missing become `null`).
 */
export async function readRunMetrics(candidates: readonly string[]): Promise<RunMetricsSummary | null> {
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof m !== "object" || m === null) continue;
    const ci = m.confidenceIntervals as Record<string, unknown> | undefined;
    const perClass = Array.isArray(m.perClass) ? (m.perClass as Record<string, unknown>[]) : [];
    return {
      schema: typeof m.schema === "string" ? m.schema : null,
      file,
      n: num(m.n),
      accuracy: num(m.accuracy),
      accuracyCi: interval(ci?.accuracy),
      balancedAccuracy: num(m.balancedAccuracy),
      macroF1: num(m.macroF1),
      macroAuc: num(m.macroAuc),
      macroAucCi: interval(ci?.macroAuc),
      cohenKappa: num(m.cohenKappa),
      logLoss: num(m.logLoss),
      perClass: perClass
        .filter((c) => typeof c.className === "string")
        .map((c) => ({
          className: c.className as string,
          precision: num(c.precision) ?? 0,
          recall: num(c.recall) ?? 0,
          specificity: num(c.specificity),
          f1: num(c.f1) ?? 0,
          support: num(c.support) ?? 0,
        })),
    };
  }
  return null;
}

/** metrics.json where a job's outputs were downloaded: the runner's output folder, or the top level. */
export function metricsCandidates(outDir: string, runnerOut: string): string[] {
  return [join(outDir, runnerOut, "metrics.json"), join(outDir, "metrics.json")];
}
