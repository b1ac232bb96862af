import path from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { type ContractTarget, contractCases, NO_FIXTURES, testClient } from "./contract.js";
import { startTestPlatform, type TestPlatform } from "./helpers.js";

// The contract suite against the real local platform on 127.0.0.1 (the same checks run on the nock fixtures).

let t: TestPlatform;
let target: ContractTarget;

beforeAll(async () => {
  const catalogFile = path.resolve(import.meta.dirname, "../../sdk/test/fixtures/coretypes-2017-jp.json");
  t = await startTestPlatform({ maxCores: 2, catalogFile });
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
