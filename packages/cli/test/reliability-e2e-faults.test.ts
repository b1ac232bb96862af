import { existsSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type LocalPlatform, startLocalPlatform } from "@rescale-run/local";
import {
  collectMatches,
  FAULT_KINDS,
  type FaultProxy,
  hashTree,
  looksLikeStackTrace,
  makeSandbox,
  RawApi,
  REPO_ROOT,
  type RunResult,
  rescaleFlowWorstCases,
  runProcess,
  type Sandbox,
  scanForSecrets,
  sha256File,
  startFaultProxy,
  writeImageFolderDataset,
} from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Issue 4, end to end: `rescale-run submit` (a real process, waiting for the job) talks to a local platform
// through the fault-injecting proxy, as it would to Rescale over a flaky connection. The platform counts
// jobs and submits on its side; the downloaded artifacts must be byte-identical to what the runner wrote;
// and nothing the run printed, logged or wrote may contain the API key or the job-scoped key.
//
// Needs the built CLI and runner (`npx -y pnpm@9 -r build`, which `pnpm test` runs first): the runner bundle
// sent to the job is packed from packages/runner/dist.

const cliBin = path.join(REPO_ROOT, "packages/cli/dist/bin.js");
const runnerBin = path.join(REPO_ROOT, "packages/runner/dist/bin.js");
/** Shared with the CLI's own e2e test: runner bundles are cached by content hash. */
const SHARED_CACHE = path.join(tmpdir(), "rescale-run-cli-e2e-cache");
const API_KEY = "e2e-faults-api-key-5f1c2d3e4b5a69788796a5b4";

/** A fault on roughly a third of requests. Stalls only where scripted: each costs the SDK's 60 s timeout. */
const RATES = {
  "429-seconds": 0.03,
  "429-date": 0.03,
  "500": 0.03,
  "502": 0.03,
  "503": 0.03,
  "504": 0.04,
  reset: 0.04,
  "lost-response": 0.05,
  "truncated-body": 0.03,
} as const;

let sandbox: Sandbox;
let platform: LocalPlatform;
let proxy: FaultProxy;
let direct: RawApi;
let dataDir: string;
let outDir: string;
let run: RunResult;
const savedEnv = { ...process.env };

beforeAll(async () => {
  for (const file of [cliBin, runnerBin]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: build first with npx -y pnpm@9 -r build`);
  }
  sandbox = await makeSandbox("e2e-faults-");
  // The platform runs in this process and its jobs inherit this environment: sandbox it too.
  Object.assign(process.env, sandbox.env, { XDG_CACHE_HOME: SHARED_CACHE });
  platform = await startLocalPlatform({
    dataDir: path.join(sandbox.dataDir, "platform"),
    apiKey: API_KEY,
    killGraceMs: 2_000,
  });
  direct = new RawApi(platform.url, API_KEY);
  proxy = await startFaultProxy({
    target: platform.url,
    rates: RATES,
    seed: 4,
    retryAfterSeconds: 1,
    stallMs: 120_000,
    maxConsecutivePerRoute: 2,
    // The CLI never retries an upload (reported): uploads pass untouched, everything else is fair game.
    shouldFault: ({ method, path: p }) => !(method === "POST" && p === "/api/v2/files/contents/"),
    plan: rescaleFlowWorstCases(),
  });
  dataDir = path.join(sandbox.root, "tiny dataset (copy)");
  await writeImageFolderDataset(dataDir, {
    classes: { benign: 8, malignant: 8, normal: 8 },
    size: 64,
    seed: 500,
  });
  outDir = path.join(sandbox.root, "out");
  run = await runProcess(
    process.execPath,
    [
      cliBin,
      "submit",
      "--data",
      dataDir,
      "--cores",
      "1",
      "--walltime",
      "1h",
      "--epochs",
      "2",
      "--runner-arg=--cv-folds=0",
      "--runner-arg=--views=1",
      "--yes",
      "--poll",
      "0.5",
      "--out",
      outDir,
    ],
    {
      cwd: sandbox.root,
      env: {
        ...sandbox.env,
        XDG_CACHE_HOME: SHARED_CACHE,
        NO_COLOR: "1",
        RESCALE_API_KEY: API_KEY,
        RESCALE_API_URL: proxy.url,
        RESCALE_PROFILE: undefined,
      },
      timeoutMs: 840_000,
    },
  );
}, 900_000);

afterAll(async () => {
  await proxy?.close();
  await platform?.close();
  process.env = savedEnv;
  await sandbox?.cleanup();
});

describe("rescale-run submit through injected network faults (real process, local platform)", () => {
  it("completes: exit 0, no stack trace", () => {
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.code, output).toBe(0);
    expect(looksLikeStackTrace(output), output).toBe(false);
    const stats = proxy.stats();
    console.log(
      `[e2e-faults] requests=${stats.requests} injected=${stats.totalFaults} ${JSON.stringify(stats.faults)} ` +
        `retriesObserved=${stats.retriesObserved} createsForwarded=${proxy.forwardedCount("POST", "/api/v2/jobs/")} ` +
        `submitsForwarded=${proxy.forwardedCount("POST", /\/submit\/$/)} cliSeconds=${(run.durationMs / 1000).toFixed(0)}`,
    );
    for (const kind of FAULT_KINDS) expect(stats.faults[kind], kind).toBeGreaterThan(0);
  });

  it("created the job once and submitted it once (counted on the platform)", async () => {
    const jobs = (await direct.request<{ results: { id: string }[] }>("GET", "/api/v2/jobs/")).body.results;
    expect(jobs).toHaveLength(1);
    const statuses = (await direct.statuses(jobs[0]!.id)).map((s) => s.status);
    expect(statuses.filter((s) => s === "Queued")).toHaveLength(1);
    expect(statuses[0]).toBe("Completed");
    // The first create and the first submit were acted on by the server and their answers lost.
    const first = (p: RegExp) => proxy.log.find((e) => e.method === "POST" && p.test(e.path))?.fault;
    expect(first(/^\/api\/v2\/jobs\/$/)).toBe("lost-response");
    expect(first(/\/submit\/$/)).toBe("lost-response");
  });

  it("downloaded every output byte-identical to the platform's copy and to what the runner wrote", async () => {
    const jobId = (await direct.request<{ results: { id: string }[] }>("GET", "/api/v2/jobs/")).body
      .results[0]!.id;
    const outputs = (
      await direct.request<{
        results: { relativePath: string; fileChecksums: { hashFunction: string; fileHash: string }[] }[];
      }>("GET", `/api/v2/jobs/${jobId}/files/?page_size=1000`)
    ).body.results;
    const local = await hashTree(outDir);
    let compared = 0;
    for (const file of outputs) {
      const sha = file.fileChecksums.find((c) => c.hashFunction === "sha256")?.fileHash;
      if (!local.has(file.relativePath)) continue; // the CLI may leave some outputs on the platform
      expect(local.get(file.relativePath), file.relativePath).toBe(sha);
      compared++;
    }
    expect(compared).toBeGreaterThan(3);
    // The runner records the sha256 of each artifact it uploaded: the downloaded copies match them.
    const uploadedJson = [...local.keys()].find((k) => k.endsWith("uploaded.json"));
    expect(uploadedJson, [...local.keys()].join(", ")).toBeDefined();
    const uploaded = JSON.parse(readFileSync(path.join(outDir, uploadedJson!), "utf8")) as {
      name: string;
      sha256: string;
    }[];
    const runnerDir = path.dirname(path.join(outDir, uploadedJson!));
    let checked = 0;
    for (const entry of uploaded) {
      const downloaded = path.join(runnerDir, entry.name);
      if (!existsSync(downloaded)) continue;
      expect(await sha256File(downloaded), entry.name).toBe(entry.sha256);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
    expect(uploaded.some((f) => f.name === "artifacts.zip")).toBe(true);
    expect(statSync(path.join(runnerDir, "artifacts.zip")).size).toBeGreaterThan(0);
  });

  it("never printed, logged or wrote the API key or the job-scoped key", { timeout: 300_000 }, async () => {
    const targets = {
      texts: { "cli stdout": run.stdout, "cli stderr": run.stderr },
      // Everything on disk: the output folder, HOME, config, the platform's database, file store and logs.
      paths: [sandbox.root],
    };
    const report = await scanForSecrets({ apiKey: API_KEY }, targets);
    expect(report.findings).toEqual([]);
    expect(report.filesScanned).toBeGreaterThan(10);
    // The job-scoped key is random: collect every token shaped like one and ask the platform about each.
    // A leaked job key is the one the platform calls "no longer active" (its job has ended).
    const candidates = await collectMatches(/\b[0-9a-f]{48}\b/g, targets);
    const leaked: string[] = [];
    for (const [token, places] of candidates) {
      const res = await direct.withKey(token).request<{ detail?: string }>("GET", "/api/v2/jobs/");
      if (res.status !== 401 || res.body?.detail !== "Invalid token.") leaked.push(places.join(", "));
    }
    expect(leaked).toEqual([]);
  });
});
