import path from "node:path";
import { type LocalPlatform, startLocalPlatform } from "@rescale-run/local";
import {
  jobBody,
  looksLikeStackTrace,
  makeSandbox,
  RawApi,
  REPO_ROOT,
  runProcess,
  type Sandbox,
  tsSourceArgs,
} from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Issue 14, item 5: without a daemon, a second command must not attach to the platform that lives inside the
// first command (its job would be killed when the first command exits). It is refused up front, saying why;
// `local start` and `local stop` refuse too; the first command's job keeps running throughout.

const bin = path.join(REPO_ROOT, "packages/cli/src/bin.ts");
let sandbox: Sandbox;
let platform: LocalPlatform;
let api: RawApi;

beforeAll(async () => {
  sandbox = await makeSandbox("cli-concurrency-");
  // what `submit` without a daemon does: the platform in its own process (standalone: false)
  platform = await startLocalPlatform({
    dataDir: path.join(sandbox.dataDir, "rescale-run", "local"),
    apiKey: "first-command-key-0123456789",
  });
  api = new RawApi(platform.url, platform.apiKey);
});
afterAll(async () => {
  await platform?.close();
  await sandbox?.cleanup();
});

const rescaleRun = (args: string[]) =>
  runProcess(process.execPath, [...tsSourceArgs(bin), ...args], {
    cwd: REPO_ROOT,
    env: { ...sandbox.env, NO_COLOR: "1", RESCALE_API_KEY: undefined, RESCALE_PROFILE: undefined },
    timeoutMs: 90_000,
  });

describe("a second command while the first runs the platform in-process", () => {
  it("is refused up front (exit 2, one clear line) and the first command's job keeps running", async () => {
    const { id } = await api.createJob(jobBody({ name: "first", command: "sleep 60" }));
    await api.submit(id);
    await api.waitForStatus(id, ["Executing"], 20_000);

    for (const args of [["list"], ["local", "start"], ["local", "stop"]]) {
      const r = await rescaleRun(args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(
        /another rescale-run command \(pid \d+\)|runs inside another rescale-run command/,
      );
      expect(looksLikeStackTrace(r.stderr + r.stdout)).toBe(false);
    }
    const newest = (await api.statuses(id))[0]!;
    expect(newest.status).toBe("Executing");
    await api.request("POST", `/api/v2/jobs/${id}/stop/`);
  }, 240_000);
});
