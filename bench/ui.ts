/**
 * `pnpm bench:ui` (or `npx tsx bench/ui.ts`): how fast the dashboard (`rescale-run ui`) renders its pages against the
 * local platform holding 200 jobs. The platform and the dashboard run in this process on 127.0.0.1 with their own
 * sandboxed state; jobs are created straight through the platform's API (150 ran `true` and completed, 2 are
 * executing, the rest were created and never submitted). Each page is fetched --rounds times, one at a time, and
 * timed from request to last byte. Target: every page under 300 ms. With --write-docs, rewrites the "Dashboard"
 * section of docs/benchmarks.md (between its markers; nothing else there is touched).
 *
 * Flags: --jobs 200 --rounds 20 --write-docs
 */
import { readFile, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { jobBody, makeSandbox, percentile, RawApi, summarizeLatencies } from "@rescale-run/testkit";
import { JOBS_PER_PAGE } from "../packages/cli/src/ui/data.js";
import { startUiServer } from "../packages/cli/src/ui/server.js";
import { localTarget, quietFactory } from "../packages/cli/test/ui-helpers.js";
import { startLocalPlatform } from "../packages/local/src/index.js";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "200" },
    rounds: { type: "string", default: "20" },
    "write-docs": { type: "boolean", default: false },
  },
});
const [jobs, rounds] = [Number(values.jobs), Number(values.rounds)];
if (!(Number.isInteger(jobs) && jobs >= 3 && Number.isInteger(rounds) && rounds >= 1))
  throw new Error("--jobs needs a whole number >= 3 and --rounds >= 1");
const writeDocs = values["write-docs"];
const TARGET_MS = 300;
const MARK_START = "<!-- ui:start (bench/ui.ts writes this section) -->";
const MARK_END = "<!-- ui:end -->";
const TOKEN = `bench-ui-${Date.now()}-0123456789abcdef`;

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  const sandbox = await makeSandbox("bench-ui-");
  const platform = await startLocalPlatform({
    dataDir: path.join(sandbox.dataDir, "platform"),
    apiKey: `bench-${Date.now()}-0123456789abcdef`,
    maxCores: 8,
    killGraceMs: 200,
  });
  const api = new RawApi(platform.url, platform.apiKey);
  const completed = Math.min(150, jobs - 2);
  const ids: string[] = [];
  console.error(`creating ${jobs} jobs (${completed} run \`true\`, 2 keep executing)...`);
  for (let i = 0; i < jobs; i++) {
    const running = i >= jobs - 2;
    const job = await api.createJob(
      jobBody({ name: `bench job ${i}`, command: running ? "sleep 600" : "true", cores: 1 }),
    );
    ids.push(job.id);
    if (i < completed || running) await api.submit(job.id);
  }
  for (const id of ids.slice(0, completed)) await api.waitForStatus(id, ["Completed"], 120_000);
  const runningId = ids.at(-1)!;
  await api.waitForStatus(runningId, ["Executing"], 60_000);

  const factory = quietFactory(sandbox.env, sandbox.root);
  const target = localTarget(platform, "local platform (bench)");
  const ui = await startUiServer({ target, factory, token: TOKEN });
  const lastPage = Math.ceil(jobs / JOBS_PER_PAGE);
  const pages: [string, string][] = [
    [`Workstations, newest ${Math.min(jobs, JOBS_PER_PAGE)} of ${jobs}`, "/workstations"],
    [`Workstations, page ${lastPage} (the oldest)`, `/workstations?page=${lastPage}`],
    ["a completed job (log, outputs, timeline)", `/workstations/${ids[0]}`],
    ["an executing job (live log, connect)", `/workstations/${runningId}`],
    ["its live update (JSON the page polls)", `/api/jobs/${runningId}/live`],
    ["New workstation (form)", "/new"],
    ["Coretype Explorer", "/coretypes?cores=2&walltime=8h"],
  ];
  const results: {
    page: string;
    path: string;
    cold: number;
    p50: number;
    p95: number;
    max: number;
    bytes: number;
  }[] = [];
  try {
    for (const [name, p] of pages) {
      const samples: number[] = [];
      let bytes = 0;
      let cold = 0;
      for (let i = 0; i < rounds + 1; i++) {
        const t0 = performance.now();
        const res = await fetch(`${ui.url}${p}`, { headers: { cookie: `rescale_run_ui=${TOKEN}` } });
        const body = await res.text();
        const ms = performance.now() - t0;
        if (res.status !== 200) throw new Error(`${p}: HTTP ${res.status}`);
        bytes = body.length;
        // The first fetch is cold: code paths not yet warm, no finished job's timeline kept yet.
        if (i === 0) cold = ms;
        else samples.push(ms);
      }
      const s = summarizeLatencies(samples);
      results.push({
        page: name,
        path: p,
        cold,
        p50: s.p50Ms,
        p95: percentile(samples, 95),
        max: s.maxMs,
        bytes,
      });
    }
  } finally {
    await ui.close();
    await api.request("POST", `/api/v2/jobs/${ids.at(-2)}/stop/`);
    await api.request("POST", `/api/v2/jobs/${runningId}/stop/`);
    await platform.close();
    await sandbox.cleanup();
  }
  const loadAfter = loadavg()[0]!;
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  console.log(JSON.stringify({ machine, loadBefore, loadAfter, jobs, rounds, results }, null, 2));
  const worst = Math.max(...results.map((r) => r.max));
  const section = [
    MARK_START,
    "## Dashboard",
    "",
    `Measured by \`pnpm bench:ui\` (bench/ui.ts) on ${new Date().toISOString().slice(0, 10)}: \`rescale-run ui\`'s server and the local`,
    `platform in one process on 127.0.0.1, ${jobs} jobs on the platform, each page fetched ${rounds} times one after another`,
    `after a first (cold) fetch, timed to the last byte; ${machine}. The dashboard keeps the status timelines of jobs`,
    "that have ended (they never change), so after the first fetch the Workstations page asks the platform about running",
    // A load average above the core count means other work shared the machine: then the times are upper bounds.
    `jobs only. Load average, 1 min: ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after ` +
      (Math.max(loadBefore, loadAfter) > cpus().length
        ? "(the machine was shared with other work, so these are upper bounds)."
        : `(no other heavy work on the ${cpus().length} cores).`) +
      ` Target: < ${TARGET_MS} ms.`,
    "",
    "| Page | first fetch | p50 | p95 | max | HTML |",
    "|---|---:|---:|---:|---:|---:|",
    ...results.map(
      (r) =>
        `| ${r.page} (\`${r.path.replace(/\/[A-Za-z0-9]{6}(?=$|\/)/g, "/ID")}\`) | ${r.cold.toFixed(1)} ms | ${r.p50.toFixed(1)} ms | ${r.p95.toFixed(1)} ms | ${r.max.toFixed(1)} ms | ${(r.bytes / 1024).toFixed(0)} KiB |`,
    ),
    "",
    `Slowest fetch after the first: ${worst.toFixed(1)} ms (${worst < TARGET_MS ? "within" : "over"} the target). Slowest first fetch`,
    `(cold, before any finished job's timeline is kept): ${Math.max(...results.map((r) => r.cold)).toFixed(1)} ms.`,
    MARK_END,
  ].join("\n");
  console.log(`\n${section}`);
  if (writeDocs) await writeSection(section);
  if (worst >= TARGET_MS) process.exitCode = 1;
}

async function writeSection(section: string): Promise<void> {
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../docs/benchmarks.md");
  const text = await readFile(file, "utf8").catch(() => "# Benchmarks\n");
  const start = text.indexOf(MARK_START);
  const end = text.indexOf(MARK_END);
  const next =
    start >= 0 && end > start
      ? text.slice(0, start) + section + text.slice(end + MARK_END.length)
      : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(file, next);
}

await main();
