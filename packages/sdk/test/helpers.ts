import { TEST_API_KEY, TEST_BASE_URL } from "@rescale-run/testkit/rescale-payloads";
import nock from "nock";
import { afterAll, afterEach, beforeAll } from "vitest";
import { RescaleClient, type RescaleClientOptions } from "../src/index.js";

/** Blocks real network (loopback allowed for local servers) and checks every nock expectation was used. */
export function useNock(): void {
  beforeAll(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    if (pending.length) throw new Error(`unused nock expectations: ${pending.join(", ")}`);
  });
  afterAll(() => {
    nock.enableNetConnect();
  });
}

export function api() {
  return nock(TEST_BASE_URL, { reqheaders: { authorization: `Token ${TEST_API_KEY}` } });
}

export function testClient(options: Partial<RescaleClientOptions> = {}): RescaleClient {
  return new RescaleClient({
    apiKey: TEST_API_KEY,
    baseUrl: TEST_BASE_URL,
    retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5 },
    ...options,
  });
}
