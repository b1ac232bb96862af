import { inspect } from "node:util";
import { coreType, page, TEST_API_KEY, TEST_BASE_URL } from "@rescale-run/testkit/rescale-payloads";
import { describe, expect, it } from "vitest";
import {
  AuthenticationError,
  authorizationHeader,
  ConflictError,
  ConnectionError,
  NotFoundError,
  PermissionError,
  parseRetryAfter,
  RateLimitError,
  RescaleClient,
  RescaleError,
  ServerError,
  TimeoutError,
  ValidationError,
} from "../src/index.js";
import { api, testClient, useNock } from "./helpers.js";

useNock();

async function caught(promise: Promise<unknown>): Promise<RescaleError> {
  try {
    await promise;
  } catch (error) {
    return error as RescaleError;
  }
  throw new Error("expected a rejection");
}

function expectNoKey(error: unknown, logs: string[] = []): void {
  const views = [
    String(error),
    (error as Error).message,
    (error as Error).stack ?? "",
    inspect(error, { depth: 10, showHidden: true }),
    JSON.stringify(error),
    ...logs,
  ];
  for (const view of views) expect(view).not.toContain(TEST_API_KEY);
}

describe("transport", () => {
  it("sends Token auth, a user agent and a trailing slash", async () => {
    const scope = api()
      .matchHeader("user-agent", "tests/1")
      .get("/api/v2/coretypes/")
      .query({ isActive: "true" })
      .reply(200, page([coreType()]));
    const client = testClient({ userAgent: "tests/1" });
    const types = await client.coreTypes.list({ isActive: true });
    expect(types.map((t) => t.code)).toEqual(["emerald"]);
    scope.done();
  });

  it("uses Bearer for session JWTs", () => {
    expect(authorizationHeader("eyJhbGciOi.eyJzdWIi.c2ln")).toBe("Bearer eyJhbGciOi.eyJzdWIi.c2ln");
    expect(authorizationHeader("abc123")).toBe("Token abc123");
  });

  it.each([
    [400, { name: ["This field is required."] }, ValidationError],
    [401, { detail: "API key is no longer active" }, AuthenticationError],
    [403, { detail: "You do not have permission to perform this action." }, PermissionError],
    [404, { detail: "Not found." }, NotFoundError],
    [409, { detail: "Conflict" }, ConflictError],
    [429, { detail: "Request was throttled." }, RateLimitError],
    [500, "<html>oops</html>", ServerError],
  ])(
    "maps %i to its error class with status, method, path, request id and body",
    async (status, body, cls) => {
      api()
        .post("/api/v2/jobs/")
        .reply(status, body as never, { "X-Request-Id": "req-42", "Retry-After": "99999" });
      const error = await caught(testClient().jobs.create(minimalJob(), { clientToken: false }));
      expect(error).toBeInstanceOf(cls);
      expect(error).toBeInstanceOf(RescaleError);
      expect(error.status).toBe(status);
      expect(error.method).toBe("POST");
      expect(error.path).toBe("/api/v2/jobs/");
      expect(error.requestId).toBe("req-42");
      expect(error.body).toEqual(body);
      expect(error.name).toBe(cls.name);
      expectNoKey(error);
    },
  );

  it("flattens nested 400 field maps into readable messages", async () => {
    api()
      .post("/api/v2/jobs/")
      .reply(400, {
        jobanalyses: [
          { hardware: { coresPerSlot: ["Select a valid choice. 3 is not one of the available choices."] } },
        ],
        name: ["This field may not be blank."],
      });
    const error = (await caught(
      testClient().jobs.create(minimalJob(), { clientToken: false }),
    )) as ValidationError;
    expect(error.fieldErrors).toEqual([
      {
        path: "jobanalyses.0.hardware.coresPerSlot",
        message: "Select a valid choice. 3 is not one of the available choices.",
      },
      { path: "name", message: "This field may not be blank." },
    ]);
    expect(error.message).toContain("jobanalyses.0.hardware.coresPerSlot: Select a valid choice");
  });

  it("retries GET on 5xx and then succeeds", async () => {
    api().get("/api/v2/jobs/J1/statuses/").reply(504, "Gateway Timeout");
    api().get("/api/v2/jobs/J1/statuses/").reply(502, "Bad Gateway");
    api()
      .get("/api/v2/jobs/J1/statuses/")
      .reply(200, page([{ status: "Queued", statusDate: "2026-11-25T10:00:00Z", statusReason: null }]));
    const statuses = await testClient().jobs.statuses("J1");
    expect(statuses.map((s) => s.status)).toEqual(["Queued"]);
  });

  it("gives up after the configured retries with the last ServerError", async () => {
    api().get("/api/v2/files/F/").times(3).reply(503, { detail: "down" });
    const error = await caught(testClient().files.get("F"));
    expect(error).toBeInstanceOf(ServerError);
    expect(error.status).toBe(503);
  });

  it("does not retry other 4xx", async () => {
    api().post("/api/v2/jobs/J1/submit/").reply(403, { detail: "no" });
    const error = await caught(testClient().jobs.submit("J1"));
    expect(error).toBeInstanceOf(PermissionError);
  });

  it("honours Retry-After in seconds on 429", async () => {
    api().get("/api/v2/files/F/").reply(429, { detail: "throttled" }, { "Retry-After": "1" });
    api().get("/api/v2/files/F/").reply(200, { id: "F", name: "a.txt" });
    const started = Date.now();
    const file = await testClient().files.get("F");
    expect(file.name).toBe("a.txt");
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("honours Retry-After as an HTTP date on 429", async () => {
    const at = new Date(Date.now() + 2000).toUTCString(); // second resolution: waits 1-2 s
    api().get("/api/v2/files/F/").reply(429, { detail: "throttled" }, { "Retry-After": at });
    api().get("/api/v2/files/F/").reply(200, { id: "F", name: "a.txt" });
    const started = Date.now();
    await testClient().files.get("F");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("parses both Retry-After forms", () => {
    const now = Date.parse("2026-11-25T10:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 25 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it("throws RateLimitError with retryAfterMs when the wait is over the limit", async () => {
    api().get("/api/v2/files/F/").reply(429, { detail: "throttled" }, { "Retry-After": "3600" });
    const warnings: string[] = [];
    const error = (await caught(
      testClient({ logger: { warn: (m) => warnings.push(m) } }).files.get("F"),
    )) as RateLimitError;
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.retryAfterMs).toBe(3_600_000);
    expect(warnings).toEqual([]); // no retry announced, no hour-long wait started in the background
  });

  it("maps connection failures to ConnectionError and retries idempotent requests", async () => {
    api().get("/api/v2/files/F/").replyWithError(resetError());
    api().get("/api/v2/files/F/").reply(200, { id: "F", name: "a.txt" });
    expect((await testClient().files.get("F")).id).toBe("F");

    api().get("/api/v2/files/G/").times(3).replyWithError(resetError());
    const error = (await caught(testClient().files.get("G"))) as ConnectionError;
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBe("ECONNRESET");
  });

  it("maps a slow answer to TimeoutError", async () => {
    api().get("/api/v2/files/F/").delay(300).reply(200, { id: "F", name: "a" });
    const error = await caught(testClient({ timeoutMs: 50, retry: { retries: 0 } }).files.get("F"));
    expect(error).toBeInstanceOf(TimeoutError);
  });

  it("rejects with the abort reason when aborted", async () => {
    api().get("/api/v2/files/F/").delay(500).reply(200, { id: "F", name: "a" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const error = await caught(testClient().files.get("F", { signal: controller.signal }));
    expect((error as Error).name).toBe("AbortError");
  });

  it("keeps the key out of errors, inspection, JSON and logs, even when the server echoes it", async () => {
    const logs: string[] = [];
    const logger = {
      debug: (m: string, meta?: unknown) => logs.push(m + JSON.stringify(meta ?? {})),
      warn: (m: string, meta?: unknown) => logs.push(m + JSON.stringify(meta ?? {})),
    };
    api()
      .get("/api/v2/files/F/")
      .reply(401, {
        detail: `Invalid token ${TEST_API_KEY}`,
        echo: { Authorization: `Token ${TEST_API_KEY}` },
      });
    const error = await caught(testClient({ logger }).files.get("F"));
    expect(error).toBeInstanceOf(AuthenticationError);
    expectNoKey(error, logs);
    expect(logs.length).toBeGreaterThan(0);
    api().get("/api/v2/files/F/").times(3).replyWithError(`connect failed with Token ${TEST_API_KEY}`);
    const connection = await caught(testClient({ logger }).files.get("F"));
    expect(connection).toBeInstanceOf(ConnectionError);
    expectNoKey(connection, logs);
    api().get("/api/v2/files/F/").reply(200, { id: "F", echoedKey: TEST_API_KEY }); // no name: a shape error
    const shape = await caught(testClient({ logger }).files.get("F"));
    expect(shape.name).toBe("ResponseShapeError");
    expectNoKey(shape, logs);
    const client = testClient();
    expect(inspect(client, { depth: 5 })).not.toContain(TEST_API_KEY);
    expect(JSON.stringify(client)).not.toContain(TEST_API_KEY);
    for (const part of [client.transport, client.jobs, client.files, client.workstations]) {
      expect(inspect(part, { depth: 8, showHidden: true })).not.toContain(TEST_API_KEY);
      expect(JSON.stringify(part)).not.toContain(TEST_API_KEY);
    }
  });

  it("strips a trailing /api/v2 and slash from the base URL", () => {
    const client = new RescaleClient({ apiKey: TEST_API_KEY, baseUrl: `${TEST_BASE_URL}/api/v2/` });
    expect(client.baseUrl).toBe(TEST_BASE_URL);
  });
});

describe("pagination", () => {
  it("follows absolute next links across pages and re-applies page_size", async () => {
    api()
      .get("/api/v2/coretypes/")
      .query({ page_size: "2" })
      .reply(
        200,
        page([coreType({ code: "a" }), coreType({ code: "b" })], {
          count: 5,
          next: "/api/v2/coretypes/?page=2",
        }),
      );
    api()
      .get("/api/v2/coretypes/")
      .query({ page: "2", page_size: "2" })
      .reply(
        200,
        page([coreType({ code: "c" }), coreType({ code: "d" })], {
          count: 5,
          next: "http://internal-lb/api/v2/coretypes/?page=3",
        }),
      );
    api()
      .get("/api/v2/coretypes/")
      .query({ page: "3", page_size: "2" })
      .reply(200, page([coreType({ code: "e" })], { count: 5 }));
    const codes = (await testClient().coreTypes.list({ pageSize: 2 })).map((t) => t.code);
    expect(codes).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("stops early when the consumer breaks", async () => {
    api()
      .get("/api/v2/coretypes/")
      .reply(
        200,
        page([coreType({ code: "a" }), coreType({ code: "b" })], {
          count: 4,
          next: "/api/v2/coretypes/?page=2",
        }),
      );
    const seen: string[] = [];
    for await (const type of testClient().coreTypes.iterate()) {
      seen.push(type.code);
      break;
    }
    expect(seen).toEqual(["a"]);
  });
});

function minimalJob() {
  return {
    name: "n",
    analysis: { code: "user_included", version: "0" },
    command: "true",
    hardware: { coreType: "emerald", cores: 1, walltime: 1 },
  };
}

function resetError(): Error {
  return Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
}
