import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  looksLikeStackTrace,
  makeSandbox,
  processRunning,
  REPO_ROOT,
  runProcess,
  type Sandbox,
  startProcess,
  tsSourceArgs,
  waitUntil,
} from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Issue 14, items 6 and 10: `submit` with the local platform inside it (no daemon). Ctrl-C during an upload
// exits 130, not 70; SIGHUP (a closed terminal) or SIGTERM stops its job's whole process tree (a child in its
// own session included) and removes the job's directory with its temporary files; after a kill -9, the next
// command's platform cleans up what was left. The runner is a stand-in that starts a `setsid sleep`.

const bin = path.join(REPO_ROOT, "packages/cli/src/bin.ts");
let sandbox: Sandbox;
let dataset: string;
let fakeRunner: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
beforeAll(async () => {
  sandbox = await makeSandbox("cli-signals-");
  dataset = path.join(sandbox.root, "ds");
  for (const cls of ["a", "b"]) {
    mkdirSync(path.join(dataset, cls), { recursive: true });
    for (let i = 0; i < 6; i++)
      writeFileSync(path.join(dataset, cls, `${i}.png`), `not really a png ${cls}${i}`);
  }
  // a runner bundle whose "runner" records its pids, starts a child in a new session, and waits
  const pack = path.join(sandbox.root, "fake-runner");
  mkdirSync(pack);
  writeFileSync(
    path.join(pack, "package.json"),
    JSON.stringify({ name: "fake", bin: { "rescale-runner": "run.js" } }),
  );
  writeFileSync(
    path.join(pack, "run.js"),
    `const { spawn } = require("node:child_process");
const fs = require("node:fs");
const child = spawn("setsid", ["sleep", "300"], { stdio: "ignore" });
const file = process.env.FAKE_RUNNER_PID_FILE;
fs.writeFileSync(file + ".tmp", JSON.stringify({ runner: process.pid, session: child.pid, tmp: process.env.TMPDIR }));
fs.renameSync(file + ".tmp", file);
console.log("fake runner started");
setInterval(() => {}, 1000);
`,
  );
  fakeRunner = path.join(sandbox.root, "fake-runner.tgz");
  execFileSync("tar", ["-czf", fakeRunner, "-C", pack, "."]);
});
afterAll(() => sandbox?.cleanup());

const env = () => ({ ...sandbox.env, NO_COLOR: "1", RESCALE_API_KEY: undefined, RESCALE_PROFILE: undefined });
const jobsDir = () => path.join(sandbox.dataDir, "rescale-run", "local", "jobs");

/** `submit` on the in-process platform with a runner bundle (the stand-in by default) and extra arguments. */
function submit(extra: string[], bundle = fakeRunner, extraEnv: Record<string, string> = {}) {
  return startProcess(
    process.execPath,
    [
      ...tsSourceArgs(bin),
      "submit",
      "--yes",
      "--cores",
      "1",
      "--walltime",
      "1h",
      "--data",
      dataset,
      "--runner-bundle",
      bundle,
      ...extra,
    ],
    { cwd: sandbox.root, env: { ...env(), ...extraEnv }, timeoutMs: 150_000 },
  );
}

/** Starts `submit` with the stand-in runner and waits until the runner has recorded its pids. */
async function submitUntilRunning(label: string) {
  const pidFile = path.join(sandbox.root, `pids-${label}.json`);
  // The stand-in runner finds its pid file through the environment (the job inherits the command's, less
  // RESCALE_*): an extra runner argument would be refused by submit's check of the runner's flags.
  const p = submit([], fakeRunner, { FAKE_RUNNER_PID_FILE: pidFile });
  expect(
    await waitUntil(120_000, () => existsSync(pidFile) || p.child.exitCode !== null),
    p.output().stderr,
  ).toBe(true);
  const pids = JSON.parse(readFileSync(pidFile, "utf8")) as { runner: number; session: number; tmp: string };
  return { p, pids };
}

describe.skipIf(process.platform !== "linux")("submit with the in-process platform, signalled", () => {
  it.each(["SIGHUP", "SIGTERM"] as const)(
    "%s stops the job's whole process tree and removes its directory and temporary files",
    async (signal) => {
      const { p, pids } = await submitUntilRunning(signal);
      expect(processRunning(pids.session)).toBe(true);
      expect(pids.tmp.startsWith(jobsDir())).toBe(true); // the runner's temporary files live in the job's directory
      p.child.kill(signal);
      const r = await p.result;
      expect(r.code, r.stderr).toBe(130);
      expect(looksLikeStackTrace(r.stderr)).toBe(false);
      expect(await waitUntil(5000, () => !processRunning(pids.runner) && !processRunning(pids.session))).toBe(
        true,
      );
      expect(existsSync(pids.tmp)).toBe(false);
      expect(readdirSync(jobsDir())).toEqual([]);
    },
    180_000,
  );

  it("after a kill -9, the next command's platform ends the leftovers and removes the job's directory", async () => {
    const { p, pids } = await submitUntilRunning("kill9");
    p.child.kill("SIGKILL");
    await p.result;
    expect(processRunning(pids.session)).toBe(true); // nothing could clean up yet
    const next = await runProcess(process.execPath, [...tsSourceArgs(bin), "list"], {
      cwd: sandbox.root,
      env: env(),
      timeoutMs: 90_000,
    });
    expect(next.code, next.stderr).toBe(0);
    expect(await waitUntil(5000, () => !processRunning(pids.runner) && !processRunning(pids.session))).toBe(
      true,
    );
    expect(readdirSync(jobsDir())).toEqual([]);
  }, 240_000);
});

describe("Ctrl-C during an upload", () => {
  it("exits 130 (interrupted), not 70 (bug), and creates no job", async () => {
    const big = path.join(sandbox.root, "big-runner.tgz");
    writeFileSync(big, "");
    truncateSync(big, 2 * 1024 ** 3); // sparse: costs no disk, takes a while to upload
    const p = submit([], big);
    expect(
      await waitUntil(
        120_000,
        () => /runner bundle big-runner\.tgz/.test(p.output().stderr) || p.child.exitCode !== null,
      ),
    ).toBe(true);
    await sleep(300);
    p.child.kill("SIGINT");
    const r = await p.result;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).not.toMatch(/looks like a bug/);
    expect(looksLikeStackTrace(r.stderr)).toBe(false);
    expect(r.stderr).not.toMatch(/submitted/);
  }, 180_000);
});
