/**
 * The CLI as a real process (packages/cli/dist/bin.js, built with `npx -y pnpm@9 -r build`) against the local
 * platform it starts in-process: submit on a tiny generated dataset with a short training, Completed, artifacts
 * downloaded and valid; then status / list / logs from the platform's persisted state.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import yauzl from "yauzl";
import { loadRunner } from "../src/runner-module.js";
import { BIN, REPO, runBin, sandboxEnv } from "./helpers.js";

const RUNNER_BIN = join(REPO, "packages/runner/dist/bin.js");
/** Runner bundles are cached by content hash: sharing the cache across runs keeps repeat runs fast. */
const SHARED_CACHE = join(tmpdir(), "rescale-run-cli-e2e-cache");

function zipEntries(file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      const names: string[] = [];
      zip.on("entry", (e: yauzl.Entry) => {
        names.push(e.fileName);
        zip.readEntry();
      });
      zip.on("end", () => resolve(names));
      zip.on("error", reject);
      zip.readEntry();
    });
  });
}

let env: NodeJS.ProcessEnv;
let dataDir: string;

beforeAll(async () => {
  for (const file of [BIN, RUNNER_BIN]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: build first with npx -y pnpm@9 -r build`);
  }
  env = sandboxEnv({ XDG_CACHE_HOME: SHARED_CACHE });
  dataDir = join(mkdtempSync(join(tmpdir(), "rr-e2e-data-")), "tiny-busi");
  const { generateSyntheticDataset } = await loadRunner();
  await generateSyntheticDataset(dataDir, { perClass: 8, size: 96, seed: 7 });
});

describe("rescale-run against the local platform (real process)", () => {
  it("refuses a core count the machine's core type does not offer, before uploading", async () => {
    const r = await runBin(["submit", "--data", dataDir, "--cores", "64", "--walltime", "1h", "--yes"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/No core type on this platform offers 64 cores on one node/);
    expect(r.stderr).toMatch(/Core counts offered: 1, 2/);
  });

  it("submit trains on a tiny dataset, completes, and downloads valid artifacts", {
    timeout: 900_000,
  }, async () => {
    const out = mkdtempSync(join(tmpdir(), "rr-e2e-out-"));
    const r = await runBin(
      [
        "submit",
        "--data",
        dataDir,
        "--cores",
        "2",
        "--walltime",
        "1h",
        "--epochs",
        "3",
        // A short training: no cross-validation, one view per image.
        "--runner-arg=--cv-folds=0",
        "--runner-arg=--views=1",
        "--yes",
        "--poll",
        "0.5",
        "--out",
        out,
      ],
      env,
      { timeoutMs: 880_000 },
    );
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("Plan");
    expect(r.stdout).toContain("[rescale-run] runner exited with status 0");
    // Training lines streamed from the job's log while it ran (the dense head's exact fit reports its solve).
    expect(r.stdout).toMatch(
      /head: \S+ l2=[\d.]+ dropout=0 fitted exactly on \d+ images \(\d+ rows\): \d+ L-BFGS iterations/,
    );
    expect(r.stdout).toMatch(/✓ job (\S+) Completed: Completed successfully/);
    const jobId = /✓ job (\S+) Completed/.exec(r.stdout)![1]!;

    const metrics = JSON.parse(readFileSync(join(out, "outputs", "metrics.json"), "utf8"));
    expect(typeof metrics.accuracy).toBe("number");
    expect(metrics.accuracy).toBeGreaterThanOrEqual(0);
    expect(metrics.accuracy).toBeLessThanOrEqual(1);
    const history = JSON.parse(readFileSync(join(out, "outputs", "history.json"), "utf8"));
    expect(JSON.stringify(history)).toMatch(/loss/);
    const entries = await zipEntries(join(out, "outputs", "artifacts.zip"));
    expect(entries.some((e) => e.endsWith("metrics.json"))).toBe(true);
    expect(readFileSync(join(out, "process_output.log"), "utf8")).toContain(
      "starting the runner with 2 threads",
    );
    // Only the runner's outputs and the log come back: never the unpacked runner or the inputs.
    const files = readdirSync(out, { recursive: true }).map(String);
    expect(files.filter((f) => f.includes("node_modules") || f.endsWith(".tgz"))).toEqual([]);

    // State persisted by the platform: a new process sees the job, its timeline and its log.
    const status = await runBin(["status", jobId, "--json"], env);
    expect(status.code, status.stderr).toBe(0);
    const timeline = JSON.parse(status.stdout);
    expect(timeline.outcome).toBe("succeeded");
    expect(timeline.schema).toBe(1);
    expect(timeline.hardware).toMatchObject({
      coreType: "local",
      cores: 2,
      walltimeHours: 1,
      type: "workstation",
    });
    expect(timeline.statuses.map((s: { status: string }) => s.status)).toEqual(
      expect.arrayContaining(["Pending", "Executing", "Completed"]),
    );

    const list = await runBin(["list", "--json"], env);
    const listed = JSON.parse(list.stdout);
    expect(listed.schema).toBe(1);
    const row = listed.jobs.find((j: { id: string }) => j.id === jobId);
    // the summary list is completed by the job's own record and statuses
    expect(row).toMatchObject({ outcome: "succeeded", cores: 2, coreType: "local", type: "workstation" });
    expect(typeof row.durationSeconds).toBe("number");

    const logs = await runBin(["logs", jobId], env);
    expect(logs.stdout).toContain("runner exited with status 0");
  });
});
