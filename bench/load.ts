/**
 * `pnpm bench:load` (or `npx tsx bench/load.ts`): the local platform under concurrent load, on loopback.
 * Rounds of N concurrent status polls of an executing job, then rounds of M concurrent uploads; prints
 * throughput and latency (p50 / p99 / max) and, with --write-docs, rewrites the "Load" section of
 * docs/benchmarks.md (between its markers; nothing else in that file is touched).
 *
 * Flags: --polls 200 --uploads 20 --upload-mb 4 --rounds 5 --write-docs
 */
import { cpus, loadavg, totalmem } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalPlatform } from "@rescale-run/local";
import {
  concurrentStatusPolls,
  concurrentUploads,
  jobBody,
  type LoadPhaseResult,
  makeSandbox,
  RawApi,
  summarizeLatencies,
  type UploadPhaseResult,
} from "@rescale-run/testkit";

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} needs a positive integer`);
  return value;
}

const polls = flag("polls", 200);
const uploads = flag("uploads", 20);
const uploadMb = flag("upload-mb", 4);
const rounds = flag("rounds", 5);
const writeDocs = process.argv.includes("--write-docs");
const MARK_START = "<!-- load:start (bench/load.ts writes this section) -->";
const MARK_END = "<!-- load:end -->";

function merge(results: LoadPhaseResult[]) {
  const samples = results.flatMap((r) => r.samplesMs);
  const wallMs = results.reduce((n, r) => n + r.wallMs, 0);
  return {
    requests: samples.length,
    errors: results.reduce((n, r) => n + r.errors, 0),
    requestsPerSecond: samples.length / (wallMs / 1000),
    latency: summarizeLatencies(samples),
  };
}

const ms = (v: number) => `${v.toFixed(1)} ms`;

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  const sandbox = await makeSandbox("bench-load-");
  // The bench runs with its own key and state: never the user's platform or key.
  const platform = await startLocalPlatform({
    dataDir: path.join(sandbox.dataDir, "platform"),
    apiKey: `bench-${Date.now()}-0123456789abcdef`,
    killGraceMs: 200,
  });
  try {
    const api = new RawApi(platform.url, platform.apiKey);
    const job = await api.createJob(jobBody({ name: "bench-load-target", command: "sleep 600" }));
    await api.submit(job.id);
    await api.waitForStatus(job.id, ["Executing"], 30_000);

    const pollRounds: LoadPhaseResult[] = [];
    for (let i = 0; i < rounds; i++) pollRounds.push(await concurrentStatusPolls(api, job.id, polls));
    const uploadRounds: UploadPhaseResult[] = [];
    for (let i = 0; i < rounds; i++) {
      uploadRounds.push(await concurrentUploads(api, sandbox.root, uploads, uploadMb * 2 ** 20));
    }
    await api.request("POST", `/api/v2/jobs/${job.id}/stop/`);

    const pollSummary = merge(pollRounds);
    const uploadSummary = {
      ...merge(uploadRounds),
      megabytesPerSecond:
        (uploadRounds.length * uploads * uploadMb) / (uploadRounds.reduce((n, r) => n + r.wallMs, 0) / 1000),
      checksumMismatches: uploadRounds.reduce((n, r) => n + r.checksumMismatches, 0),
    };
    const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
    const loadAfter = loadavg()[0]!;
    const report = {
      machine,
      loadBefore,
      loadAfter,
      rounds,
      polls,
      uploads,
      uploadMb,
      pollSummary,
      uploadSummary,
    };
    console.log(JSON.stringify(report, null, 2));

    const section = [
      MARK_START,
      "## Load",
      "",
      `Measured by \`pnpm bench:load\` (bench/load.ts) on ${new Date().toISOString().slice(0, 10)}: the local platform`,
      `in-process on 127.0.0.1 (the load generator runs in the same Node process), ${machine}; the machine was`,
      `shared with other work (load average, 1 min: ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after), so treat the`,
      `numbers as an order of magnitude. Each phase ran ${rounds} rounds; a round starts all its requests at once.`,
      "",
      "| Phase | Requests | Errors | Throughput | p50 | p99 | max |",
      "|---|---:|---:|---:|---:|---:|---:|",
      `| ${polls} concurrent \`GET /jobs/{id}/statuses/\` (job executing) | ${pollSummary.requests} | ${pollSummary.errors} | ${pollSummary.requestsPerSecond.toFixed(0)} req/s | ${ms(pollSummary.latency.p50Ms)} | ${ms(pollSummary.latency.p99Ms)} | ${ms(pollSummary.latency.maxMs)} |`,
      `| ${uploads} concurrent uploads of ${uploadMb} MiB (multipart) | ${uploadSummary.requests} | ${uploadSummary.errors} | ${uploadSummary.requestsPerSecond.toFixed(1)} req/s, ${uploadSummary.megabytesPerSecond.toFixed(0)} MiB/s | ${ms(uploadSummary.latency.p50Ms)} | ${ms(uploadSummary.latency.p99Ms)} | ${ms(uploadSummary.latency.maxMs)} |`,
      "",
      `Every upload's stored sha256 was checked against what was sent: ${uploadSummary.checksumMismatches} mismatches.`,
      "The bounded version of this run is packages/local/test/load-platform.test.ts (one round, 1 MiB uploads).",
      MARK_END,
    ].join("\n");
    console.log(`\n${section}`);
    if (writeDocs) await writeSection(section);
    if (pollSummary.errors + uploadSummary.errors + uploadSummary.checksumMismatches > 0)
      process.exitCode = 1;
  } finally {
    await platform.close();
    await sandbox.cleanup();
  }
}

async function writeSection(section: string): Promise<void> {
  const { readFile, writeFile } = await import("node:fs/promises");
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../docs/benchmarks.md");
  let text = "";
  try {
    text = await readFile(file, "utf8");
  } catch {
    text = "# Benchmarks\n";
  }
  const start = text.indexOf(MARK_START);
  const end = text.indexOf(MARK_END);
  const next =
    start >= 0 && end > start
      ? text.slice(0, start) + section + text.slice(end + MARK_END.length)
      : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(file, next);
  console.log(`wrote the Load section of ${file}`);
}

await main();
