import { afterAll, beforeAll, describe, it } from "vitest";
import { CORETYPES_2017_JP_FILE } from "../../testkit/src/fixtures.js";
import { type ContractTarget, contractCases, NO_FIXTURES, testClient } from "./contract.js";
import { startTestPlatform, type TestPlatform } from "./helpers.js";

// The contract suite against the real local platform on 127.0.0.1 (the same checks run on the nock fixtures).

let t: TestPlatform;
let target: ContractTarget;

beforeAll(async () => {
  t = await startTestPlatform({ maxCores: 2, catalogFile: CORETYPES_2017_JP_FILE });
  target = {
    client: testClient(t.platform.url, t.platform.apiKey),
    baseUrl: t.platform.url,
    coreType: "local",
    cores: 2,
    disallowedCores: 3,
    scratchDir: t.sandbox.root,
  };
});
afterAll(() => t?.close());

describe("contract: local platform", () => {
  for (const c of contractCases(NO_FIXTURES)) it(c.name, () => c.check(target));
});
