import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { RescaleClient } from "@rescale-run/sdk";
import {
  FAULT_KINDS,
  type FaultProxy,
  type FaultRates,
  makeSandbox,
  RawApi,
  rescaleFlowWorstCases,
  type Sandbox,
  sha256File,
  startFaultProxy,
  writeValidPng,
} from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPlatform, startLocalPlatform } from "../src/index.js";

// Issue 4, network faults at the SDK level: the whole create -> submit -> wait -> list outputs -> download
// flow runs through the fault proxy against the real local platform. Server-side counts prove the job was
// created once and submitted once; downloads are byte-identical to what the job wrote.

/** About half of all requests faulted, every kind represented. */
const RATES: FaultRates = {
  "429-seconds": 0.04,
  "429-date": 0.04,
  "500": 0.05,
  "502": 0.05,
  "503": 0.05,
  "504": 0.06,
  reset: 0.07,
  stall: 0.04,
  "lost-response": 0.1,
};

let sandbox: Sandbox;
let platform: LocalPlatform;
let direct: RawApi;

beforeAll(async () => {
  sandbox = await makeSandbox("faults-sdk-");
  platform = await startLocalPlatform({
    dataDir: path.join(sandbox.dataDir, "platform"),
    apiKey: "faults-sdk-key-0123456789abcdef",
    killGraceMs: 200,
  });
  direct = new RawApi(platform.url, platform.apiKey);
});
afterAll(async () => {
  await platform?.close();
  await sandbox?.cleanup();
});

function clientThrough(proxy: FaultProxy, warnings: string[]): RescaleClient {
  return new RescaleClient({
    apiKey: platform.apiKey,
    baseUrl: proxy.url,
    timeoutMs: 1_500, // a stalled request is given up after this and retried
    retry: { retries: 6, minTimeoutMs: 20, maxTimeoutMs: 200 },
    logger: { warn: (message) => warnings.push(message) },
  });
}

async function waitFinished(
  client: RescaleClient,
  jobId: string,
): Promise<{ status: string; reason: string }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const newest = (await client.jobs.statuses(jobId))[0];
    if (newest?.status === "Completed") return { status: newest.status, reason: newest.statusReason ?? "" };
    if (Date.now() > deadline) throw new Error("job did not finish");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("SDK flow through injected network faults", () => {
  it("creates once, submits once and downloads byte-identical outputs", async () => {
    // Uploads are exempt here: the SDK never retries a streamed upload (see the next test).
    const proxy = await startFaultProxy({
      target: platform.url,
      rates: RATES,
      seed: 20261125,
      retryAfterSeconds: 1,
      stallMs: 10_000,
      maxConsecutivePerRoute: 2,
      shouldFault: ({ method, path: p }) => !(method === "POST" && p === "/api/v2/files/contents/"),
      plan: rescaleFlowWorstCases(),
    });
    const warnings: string[] = [];
    try {
      const client = clientThrough(proxy, warnings);
      const input = await writeValidPng(path.join(sandbox.root, "input.png"), 11, 64);
      const uploaded = await client.files.upload(input);

      const job = await client.jobs.create(
        {
          name: "faults-flow",
          analysis: { code: "user_included", version: "0" },
          command:
            "sleep 6 && head -c 3000000 /dev/urandom > weights.bin && cp input.png copy-of-input.png && sha256sum weights.bin copy-of-input.png",
          hardware: { coreType: "local", cores: 1, walltime: 1 },
          inputFiles: [uploaded.id],
        },
        { retryDelayMs: 50 },
      );
      await client.jobs.submit(job.id, { retryDelayMs: 50 });
      const final = await waitFinished(client, job.id);
      expect(final.reason).toBe("Completed successfully");

      const outputs = await client.jobs.files(job.id);
      const byName = new Map(outputs.map((f) => [f.relativePath ?? f.name, f]));
      const logPath = path.join(sandbox.root, "process_output.log");
      await client.files.download(byName.get("process_output.log")!.id, { to: logPath });
      const printed = new Map(
        (await readFile(logPath, "utf8"))
          .trim()
          .split("\n")
          .map((line) => line.split(/\s+/))
          .map(([sha, name]) => [name!, sha!]),
      );
      for (const name of ["weights.bin", "copy-of-input.png"]) {
        const to = path.join(sandbox.root, `downloaded-${name}`);
        await client.files.download(byName.get(name)!.id, { to });
        expect(await sha256File(to), name).toBe(printed.get(name));
      }
      expect(printed.get("copy-of-input.png")).toBe(await sha256File(input));

      // Server-side truth, read directly (not through the proxy).
      const jobs = (await direct.request<{ results: { id: string; name: string }[] }>("GET", "/api/v2/jobs/"))
        .body.results;
      expect(jobs.filter((j) => j.name.startsWith("faults-flow"))).toHaveLength(1);
      const statuses = (await direct.statuses(job.id)).map((s) => s.status);
      expect(statuses.filter((s) => s === "Queued")).toHaveLength(1);

      const stats = proxy.stats();
      console.log(
        `[faults-sdk-flow] requests=${stats.requests} injected=${stats.totalFaults} ${JSON.stringify(stats.faults)} ` +
          `retriesObserved=${stats.retriesObserved} sdkRetryWarnings=${warnings.length} ` +
          `createsForwarded=${proxy.forwardedCount("POST", "/api/v2/jobs/")} ` +
          `submitsForwarded=${proxy.forwardedCount("POST", /\/submit\/$/)}`,
      );
      for (const kind of FAULT_KINDS) expect(stats.faults[kind], kind).toBeGreaterThan(0);
      // The lost create and the lost submit reached the server, yet it holds one job, submitted once.
      expect(proxy.forwardedCount("POST", "/api/v2/jobs/")).toBeGreaterThanOrEqual(1);
      expect(proxy.log.find((e) => e.method === "POST" && e.path === "/api/v2/jobs/")?.fault).toBe(
        "lost-response",
      );
      expect(stats.retriesObserved).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  // Uploads were never retried (the body is a stream) until the SDK reopened the path per attempt.
  it("retries an upload from a path after one 503 and one 429", async () => {
    const proxy = await startFaultProxy({
      target: platform.url,
      rates: { "503": 0.5, "429-seconds": 0.5 },
      seed: 3,
      maxConsecutivePerRoute: 1,
      retryAfterSeconds: 1,
      shouldFault: ({ method, path: p }) => method === "POST" && p === "/api/v2/files/contents/",
    });
    try {
      const client = clientThrough(proxy, []);
      const input = await writeValidPng(path.join(sandbox.root, "retry-upload.png"), 12);
      const uploaded = await client.files.upload(input);
      expect(uploaded.decryptedSize).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  // A download into a stream was not resumed after a cut (the CLI reads the job log this way) until the SDK
  // resumed it with Range.
  it("resumes a download into a stream after a mid-body cut", async () => {
    const source = path.join(sandbox.root, "stream-source.png");
    await writeValidPng(source, 13, 64);
    const uploaded = await direct.upload(source);
    const proxy = await startFaultProxy({
      target: platform.url,
      rates: {},
      plan: ({ method, routeCount }) => (method === "GET" && routeCount === 0 ? "truncated-body" : undefined),
    });
    try {
      const client = clientThrough(proxy, []);
      const chunks: Buffer[] = [];
      const sink = new Writable({
        write(chunk, _encoding, done) {
          chunks.push(Buffer.from(chunk));
          done();
        },
      });
      await client.files.download(uploaded.id, { to: sink });
      expect(createHash("sha256").update(Buffer.concat(chunks)).digest("hex")).toBe(await sha256File(source));
    } finally {
      await proxy.close();
    }
  });
});
