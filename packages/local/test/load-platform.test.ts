import path from "node:path";
import {
  concurrentStatusPolls,
  concurrentUploads,
  jobBody,
  makeSandbox,
  RawApi,
  type Sandbox,
} from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPlatform, startLocalPlatform } from "../src/index.js";

// Issue 4, load (bounded version of `pnpm bench:load`): 200 concurrent status polls of an executing job and
// 20 concurrent uploads complete without errors, on loopback, within generous time bounds.

let sandbox: Sandbox;
let platform: LocalPlatform;
let api: RawApi;

beforeAll(async () => {
  sandbox = await makeSandbox("local-load-");
  platform = await startLocalPlatform({
    dataDir: path.join(sandbox.dataDir, "platform"),
    apiKey: "load-test-key-0123456789abcdef",
    killGraceMs: 200,
  });
  api = new RawApi(platform.url, platform.apiKey);
});
afterAll(async () => {
  await platform?.close();
  await sandbox?.cleanup();
});

describe("local platform under concurrent load", () => {
  it("answers 200 concurrent status polls of an executing job without an error", async () => {
    const job = await api.createJob(jobBody({ name: "load-poll-target", command: "sleep 30" }));
    await api.submit(job.id);
    await api.waitForStatus(job.id, ["Executing"], 20_000);
    const result = await concurrentStatusPolls(api, job.id, 200);
    expect(result).toMatchObject({ requests: 200, errors: 0 });
    expect(result.wallMs).toBeLessThan(20_000);
    await api.request("POST", `/api/v2/jobs/${job.id}/stop/`);
  });

  it("stores 20 concurrent uploads intact", async () => {
    const result = await concurrentUploads(api, sandbox.root, 20, 1 << 20);
    expect(result).toMatchObject({ requests: 20, errors: 0, checksumMismatches: 0 });
    expect(result.wallMs).toBeLessThan(30_000);
  });
});
