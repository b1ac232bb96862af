/** The built CLI as a real process (build first: npx -y pnpm@9 -r build), against the local platform it starts. */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { writeArchive } from "../src/archive.js";
import { BIN, runBin, sandboxEnv } from "./helpers.js";

let env: NodeJS.ProcessEnv;
let dataDir: string;
let okBundle: string;
let failingBundle: string;
let slowBundle: string;

/** `submit` of the test dataset, 1 core for 1 h, no questions, with `bundle` as the runner; then `extra`. */
const submitArgs = (bundle: string, ...extra: string[]) => [
  "submit",
  "--data",
  dataDir,
  "--cores",
  "1",
  "--walltime",
  "1h",
  "--yes",
  "--runner-bundle",
  bundle,
  ...extra,
];

/** A stand-in runner (the real one is exercised by e2e-local.test.ts): prints epochs, writes metrics, exits `code`. */
async function fakeRunnerBundle(dir: string, code: number, epochs: number): Promise<string> {
  const { mkdirSync, writeFileSync } = await import("node:fs");
  const src = join(dir, `fake-runner-src-${code}-${epochs}`);
  mkdirSync(join(src, "dist"), { recursive: true });
  writeFileSync(
    join(src, "package.json"),
    JSON.stringify({
      name: "@rescale-run/runner",
      type: "module",
      bin: { "rescale-runner": "./dist/bin.js" },
    }),
  );
  writeFileSync(
    join(src, "dist", "bin.js"),
    `import fs from "node:fs";
const a = process.argv.slice(2);
const out = a[a.indexOf("--out") + 1];
console.log("runner args " + a.join(" ") + " classes " + fs.readdirSync(a[a.indexOf("--data") + 1]).sort().join(","));
for (let e = 1; e <= ${epochs}; e++) { console.log("epoch " + e); await new Promise((r) => setTimeout(r, 300)); }
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(out + "/metrics.json", JSON.stringify({ accuracy: 0.75 }));
// like the real runner's last act: the completion record submit requires
if (${code} === 0) fs.writeFileSync(out + "/run.json", JSON.stringify({ finishedAt: new Date().toISOString() }));
process.exit(${code});
`,
  );
  const file = join(dir, `fake-runner-${code}-${epochs}.tgz`);
  await writeArchive(file, "tgz", (a) => a.directory(src, false));
  return file;
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first with npx -y pnpm@9 -r build`);
  env = sandboxEnv();
  const root = mkdtempSync(join(tmpdir(), "rr-bin-"));
  dataDir = join(root, "busi");
  // Tiny placeholder "images": the CLI checks the layout, the runner (not run here) decodes them.
  const { mkdirSync, writeFileSync } = await import("node:fs");
  for (const cls of ["benign", "malignant", "normal"]) {
    mkdirSync(join(dataDir, cls), { recursive: true });
    // The runner's minimum per class (runner/src/rules.ts), which submit checks before uploading.
    for (let i = 1; i <= 6; i++) writeFileSync(join(dataDir, cls, `${cls} (${i}).png`), "x");
  }
  okBundle = await fakeRunnerBundle(root, 0, 3);
  failingBundle = await fakeRunnerBundle(root, 3, 1);
  slowBundle = await fakeRunnerBundle(root, 0, 20);
});

describe("rescale-run (real process)", () => {
  it("--help and --version", async () => {
    const help = await runBin(["--help"], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("rescale-run submit");
    const version = await runBin(["--version"], env);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("coretypes list --json describes this machine on the local platform", async () => {
    const r = await runBin(["coretypes", "list", "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    const types = JSON.parse(r.stdout);
    expect(types[0].code).toBe("local");
    expect(types[0].price).toBe(0);
  });

  it("submit --dry-run prints the plan and the script, uploads nothing, exits 0", async () => {
    const r = await runBin(
      ["submit", "--data", dataDir, "--cores", "1", "--walltime", "90m", "--dry-run"],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("walltime        2 h (1 h 30 min requested, rounded up to whole hours)");
    expect(r.stdout).toContain("#!/bin/sh");
    expect(r.stdout).toContain("Dry run: nothing was uploaded or created.");
    const list = await runBin(["list", "--json"], env);
    expect(JSON.parse(list.stdout)).toEqual({ schema: 1, jobs: [] });
  });

  it("--detach without a daemon is refused before uploading", async () => {
    const r = await runBin(
      ["submit", "--data", dataDir, "--cores", "1", "--walltime", "1h", "--detach", "--yes"],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("rescale-run local start");
  });

  it("submit runs the whole flow: upload, job, bootstrap, streamed log, outputs downloaded, exit 0", async () => {
    const out = mkdtempSync(join(tmpdir(), "rr-bin-out-"));
    const r = await runBin(submitArgs(okBundle, "--poll", "0.3", "--out", out, "--epochs", "3"), env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "runner args train --data dataset --out outputs --threads 1 --no-quiet --epochs 3 classes benign,malignant,normal",
    );
    expect(r.stdout.match(/^epoch 3$/gm)).toHaveLength(1);
    expect(r.stdout).toMatch(/✓ job \S+ Completed: Completed successfully/);
    expect(r.stdout).toContain("accuracy 0.750");
    const { readFileSync } = await import("node:fs");
    expect(JSON.parse(readFileSync(join(out, "outputs", "metrics.json"), "utf8")).accuracy).toBe(0.75);
    expect(readFileSync(join(out, "process_output.log"), "utf8")).toContain("runner exited with status 0");
  });

  it("a runner that fails makes submit exit 1 with the job's reason", async () => {
    const out = mkdtempSync(join(tmpdir(), "rr-bin-out-"));
    const r = await runBin(submitArgs(failingBundle, "--poll", "0.3", "--out", out), env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("runner exited with status 3");
    expect(r.stdout).toMatch(/✗ job \S+ Completed: .*(exit|status).*3/);
  });

  it("with a daemon: --detach returns at once; logs --follow, status and download re-attach", async () => {
    const start = await runBin(["local", "start", "--max-cores", "2"], env);
    expect(start.code, start.stderr).toBe(0);
    try {
      const sub = await runBin(submitArgs(okBundle, "--detach", "--json"), env);
      expect(sub.code, sub.stderr).toBe(0);
      const { jobId } = JSON.parse(sub.stdout);
      expect(sub.stderr).toContain(`logs ${jobId} --follow`);
      const logs = await runBin(["logs", jobId, "--follow", "--poll", "0.3"], env);
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toContain("runner exited with status 0");
      const status = await runBin(["status", jobId, "--json"], env);
      expect(JSON.parse(status.stdout).outcome).toBe("succeeded");
      const out = mkdtempSync(join(tmpdir(), "rr-bin-dl-"));
      const dl = await runBin(["download", jobId, "--out", out, "--json"], env);
      expect(dl.code, dl.stderr).toBe(0);
      expect(
        JSON.parse(dl.stdout)
          .files.map((f: { name: string }) => f.name)
          .sort(),
      ).toEqual(["metrics.json", "process_output.log", "run.json"]);
    } finally {
      await runBin(["local", "stop"], env);
    }
  });

  it("Ctrl-C while waiting detaches (exit 130) and the job keeps running on the daemon", async () => {
    const start = await runBin(["local", "start", "--max-cores", "2"], env);
    expect(start.code, start.stderr).toBe(0);
    try {
      const { spawn } = await import("node:child_process");
      const child = spawn(process.execPath, [BIN, ...submitArgs(slowBundle, "--poll", "0.3")], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stderr.on("data", (d) => {
        stderr += d;
      });
      const code = await new Promise<number | null>((resolve) => {
        child.stdout.on("data", (d) => {
          stdout += d;
          if (/^epoch 2$/m.test(stdout)) child.kill("SIGINT");
        });
        child.on("close", resolve);
      });
      expect(code, stderr).toBe(130);
      const jobId = /detached: job (\S+) keeps running/.exec(stderr)?.[1];
      expect(jobId, stderr).toBeDefined();
      expect(stderr).toContain(`rescale-run logs ${jobId} --follow`);
      const logs = await runBin(["logs", jobId!, "--follow", "--poll", "0.3"], env);
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toContain("epoch 20");
    } finally {
      await runBin(["local", "stop"], env);
    }
  });
});
