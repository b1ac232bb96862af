import path from "node:path";
import { CORETYPES_2017_JP_FILE } from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, it } from "vitest";
import { type LocalPlatform, startLocalPlatform } from "../src/index.js";
import { type ContractTarget, contractCases, NO_FIXTURES, testClient } from "./contract.js";
import { startTestPlatform, type TestPlatform } from "./helpers.js";

// The contract suite against the real local platform on 127.0.0.1 (the same checks run on the nock fixtures).

let t: TestPlatform;
let projectWorkspace: LocalPlatform;
let target: ContractTarget;

beforeAll(async () => {
  // Outputs are listed in full only a while after Completed, as on Rescale: a client must wait for them.
  t = await startTestPlatform({ maxCores: 2, catalogFile: CORETYPES_2017_JP_FILE, outputSyncMs: 600 });
  projectWorkspace = await startLocalPlatform({
    dataDir: path.join(t.sandbox.root, "project-workspace"),
    maxCores: 2,
    requireProject: true,
  });
  target = {
    client: testClient(t.platform.url, t.platform.apiKey),
    baseUrl: t.platform.url,
    coreType: "local",
    cores: 2,
    disallowedCores: 3,
    scratchDir: t.sandbox.root,
    projectWorkspace: testClient(projectWorkspace.url, projectWorkspace.apiKey),
  };
});
afterAll(async () => {
  await projectWorkspace?.close();
  await t?.close();
});

describe("contract: local platform", () => {
  for (const c of contractCases(NO_FIXTURES)) it(c.name, () => c.check(target));
});
