/** `compare`: metrics and settings of runs side by side, from local folders or jobs (Rescale mocked with nock). */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runInProcess, sandboxEnv } from "./helpers.js";

const BASE = "https://platform.rescale.jp";
const KEY = "compare-test-key-0123456789abcdef";

function runFolder(dir: string, o: { accuracy: number; auc: number | null; head: string; seed: number }) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "metrics.json"),
    JSON.stringify({
      n: 83,
      accuracy: o.accuracy,
      macroF1: o.accuracy - 0.02,
      macroAuc: o.auc,
      cohenKappa: 0.7,
      perClass: [],
    }),
  );
  writeFileSync(
    join(dir, "run.json"),
    JSON.stringify({
      runner: { name: "@rescale-run/runner", version: "0.1.0" },
      startedAt: "2026-12-04T01:00:00.000Z",
      finishedAt: "2026-12-04T01:01:30.000Z",
      seed: o.seed,
      engine: { name: "onnx" },
      backend: "none",
      dataset: { fingerprint: "abcdef0123456789", counts: { benign: 305, malignant: 146, normal: 93 } },
      split: { train: 380, val: 81, test: 83 },
      views: ["orig", "flip"],
      ttaViews: ["orig", "flip"],
      crossValidation: { chosen: "conv4+conv5" },
      head: {
        config: { kind: o.head, layers: ["conv4", "conv5"], learningRate: 0.001, maxEpochs: 40 },
        epochs: 40,
        bestEpoch: 31,
      },
      fineTune: { ran: false },
    }),
  );
}

let cwd: string;
let env: NodeJS.ProcessEnv;
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), "rr-compare-"));
  env = sandboxEnv();
  runFolder(join(cwd, "dense"), { accuracy: 0.855, auc: 0.941, head: "dense", seed: 42 });
  // A job's downloaded folder: the runner's files sit in outputs/.
  runFolder(join(cwd, "rescale-run-JOB7", "outputs"), {
    accuracy: 0.831,
    auc: null,
    head: "flatten",
    seed: 7,
  });
});
afterAll(() => nock.enableNetConnect());

describe("compare", () => {
  it("prints metrics and settings of a local folder and a downloaded job side by side", async () => {
    const r = await runInProcess(["compare", "dense", "JOB7"], env, cwd);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/dense\s+JOB7$/);
    expect(lines.find((l) => l.startsWith("accuracy"))).toMatch(/0\.855\s+0\.831$/);
    expect(lines.find((l) => l.startsWith("macroAuc"))).toMatch(/0\.941\s+-$/);
    expect(lines.find((l) => l.startsWith("head "))).toMatch(/dense\s+flatten$/);
    expect(lines.find((l) => l.startsWith("seed"))).toMatch(/42\s+7$/);
    expect(lines.find((l) => l.startsWith("durationSeconds"))).toMatch(/90\s+90$/);
  });

  it("--json gives numbers as numbers", async () => {
    const r = await runInProcess(["compare", "dense", "JOB7", "--json"], env, cwd);
    const json = JSON.parse(r.stdout);
    expect(json.schema).toBe(1);
    expect(json.runs.map((x: { label: string }) => x.label)).toEqual(["dense", "JOB7"]);
    expect(json.runs[0].metrics).toMatchObject({ n: 83, accuracy: 0.855, macroAuc: 0.941 });
    expect(json.runs[1].metrics.macroAuc).toBeNull();
    expect(json.runs[1].settings).toMatchObject({ head: "flatten", seed: 7, split: "380/81/83" });
  });

  it("a job not downloaded yet: fetches only its run.json and metrics.json", async () => {
    nock.disableNetConnect();
    const metrics = { n: 83, accuracy: 0.88, macroF1: 0.86, macroAuc: 0.95, cohenKappa: 0.8 };
    nock(BASE)
      .get("/api/v2/jobs/JOB9/files/")
      .query(true)
      .reply(200, {
        count: 3,
        next: null,
        previous: null,
        results: [
          { id: "f1", name: "artifacts.zip", relativePath: "outputs/artifacts.zip", decryptedSize: 9 },
          { id: "f2", name: "metrics.json", relativePath: "outputs/metrics.json", decryptedSize: 9 },
          { id: "f3", name: "run.json", relativePath: "outputs/run.json", decryptedSize: 2 },
        ],
      })
      .get("/api/v2/files/f2/contents/")
      .reply(200, JSON.stringify(metrics))
      .get("/api/v2/files/f3/contents/")
      .reply(200, JSON.stringify({ seed: 3 }));
    const r = await runInProcess(
      ["compare", "dense", "JOB9", "--json"],
      { ...env, RESCALE_API_KEY: KEY, RESCALE_API_URL: BASE },
      cwd,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(nock.isDone()).toBe(true);
    expect(JSON.parse(r.stdout).runs[1]).toMatchObject({ label: "JOB9", metrics, settings: { seed: 3 } });
    nock.cleanAll();
  });

  it("a folder without run files is a usage error", async () => {
    mkdirSync(join(cwd, "empty"));
    const r = await runInProcess(["compare", "empty"], env, cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/holds no metrics\.json or run\.json/);
  });
});
