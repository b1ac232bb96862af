import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FaultKind, type FaultProxy, startFaultProxy } from "../src/index.js";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(url: string, method = "GET", body?: string, timeoutMs = 5_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, timeout: timeoutMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
      });
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("client timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

let upstream: http.Server;
let upstreamUrl: string;
const seenUpstream: { method: string; url: string; body: string }[] = [];

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => {
      body += d;
    });
    req.on("end", () => {
      seenUpstream.push({ method: req.method!, url: req.url!, body });
      const payload = JSON.stringify({ echoed: body, url: req.url });
      res.writeHead(201, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(payload),
        "x-upstream": "yes",
      });
      res.end(payload);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

const proxies: FaultProxy[] = [];
async function proxy(options: Omit<Parameters<typeof startFaultProxy>[0], "target">): Promise<FaultProxy> {
  const p = await startFaultProxy({ target: upstreamUrl, ...options });
  proxies.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  seenUpstream.length = 0;
});

describe("fault proxy", () => {
  it("forwards method, path, query, body, status and headers when no fault is drawn", async () => {
    const p = await proxy({ rates: {} });
    const reply = await send(`${p.url}/api/v2/jobs/?page=2`, "POST", '{"name":"x"}');
    expect(reply.status).toBe(201);
    expect(reply.headers["x-upstream"]).toBe("yes");
    expect(JSON.parse(reply.body)).toEqual({ echoed: '{"name":"x"}', url: "/api/v2/jobs/?page=2" });
    expect(p.stats()).toMatchObject({ requests: 1, forwarded: 1, totalFaults: 0 });
    expect(p.forwardedCount("POST", "/api/v2/jobs/")).toBe(1);
  });

  it("answers 429 with Retry-After in seconds, without reaching the server", async () => {
    const p = await proxy({ rates: { "429-seconds": 1 }, retryAfterSeconds: 3 });
    const reply = await send(`${p.url}/api/v2/jobs/`, "POST", "{}");
    expect(reply.status).toBe(429);
    expect(reply.headers["retry-after"]).toBe("3");
    expect(JSON.parse(reply.body).detail).toMatch(/throttled/);
    expect(seenUpstream).toHaveLength(0);
  });

  it("answers 429 with Retry-After as an HTTP-date in the future", async () => {
    const p = await proxy({ rates: { "429-date": 1 }, retryAfterSeconds: 5 });
    const reply = await send(`${p.url}/x/`);
    expect(reply.status).toBe(429);
    const when = Date.parse(String(reply.headers["retry-after"]));
    expect(reply.headers["retry-after"]).toMatch(/GMT$/);
    expect(when - Date.now()).toBeGreaterThan(3_000);
    expect(when - Date.now()).toBeLessThanOrEqual(5_000);
  });

  it.each(["500", "502", "503", "504"] as const)("answers %s with a gateway page", async (kind) => {
    const p = await proxy({ rates: { [kind]: 1 } });
    const reply = await send(`${p.url}/x/`);
    expect(reply.status).toBe(Number(kind));
    expect(reply.headers["content-type"]).toBe("text/html");
    expect(p.stats().faults[kind]).toBe(1);
    expect(seenUpstream).toHaveLength(0);
  });

  it("resets the connection", async () => {
    const p = await proxy({ rates: { reset: 1 } });
    await expect(send(`${p.url}/x/`)).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(seenUpstream).toHaveLength(0);
  });

  it("stalls past the client's timeout and releases the socket when the client gives up", async () => {
    const p = await proxy({ rates: { stall: 1 }, stallMs: 60_000 });
    const started = Date.now();
    await expect(send(`${p.url}/x/`, "GET", undefined, 300)).rejects.toThrow(/client timeout/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(p.stats().faults.stall).toBe(1);
    expect(seenUpstream).toHaveLength(0);
  });

  it("loses the response after the server acted on the request", async () => {
    const p = await proxy({ rates: { "lost-response": 1 } });
    await expect(send(`${p.url}/api/v2/jobs/`, "POST", '{"name":"once"}')).rejects.toThrow(
      /socket hang up|ECONNRESET/,
    );
    expect(seenUpstream).toEqual([{ method: "POST", url: "/api/v2/jobs/", body: '{"name":"once"}' }]);
    expect(p.forwardedCount("POST", "/api/v2/jobs/")).toBe(1);
  });

  it("cuts a response body in the middle", async () => {
    const p = await proxy({ rates: { "truncated-body": 1 } });
    const received = await new Promise<{ status: number; bytes: number; error?: string }>((resolve) => {
      http.get(`${p.url}/x/`, { agent: false }, (res) => {
        let bytes = 0;
        res.on("data", (d: Buffer) => {
          bytes += d.length;
        });
        res.on("error", (e) => resolve({ status: res.statusCode!, bytes, error: e.message }));
        res.on("end", () => resolve({ status: res.statusCode!, bytes }));
        res.on("close", () => resolve({ status: res.statusCode!, bytes, error: "closed" }));
      });
    });
    expect(received.status).toBe(201);
    expect(received.error).toBeDefined();
    const full = JSON.stringify({ echoed: "", url: "/x/" }).length;
    expect(received.bytes).toBe(Math.floor(full / 2));
    expect(p.forwardedCount("GET", "/x/")).toBe(1);
  });

  it("is deterministic for a seed, and injects close to the configured share", async () => {
    const rates = { "503": 0.2, "429-seconds": 0.1, reset: 0.1 };
    const sequences: (FaultKind | null)[][] = [];
    for (let round = 0; round < 2; round++) {
      const p = await proxy({ rates, seed: 42 });
      for (let i = 0; i < 200; i++) await send(`${p.url}/r/${i}/`).catch(() => undefined);
      sequences.push(p.log.map((e) => e.fault));
      const { totalFaults, requests } = p.stats();
      expect(requests).toBe(200);
      expect(totalFaults / requests).toBeGreaterThan(0.3);
      expect(totalFaults / requests).toBeLessThan(0.5);
    }
    expect(sequences[0]).toEqual(sequences[1]);
    const other = await proxy({ rates, seed: 43 });
    for (let i = 0; i < 200; i++) await send(`${other.url}/r/${i}/`).catch(() => undefined);
    expect(other.log.map((e) => e.fault)).not.toEqual(sequences[0]);
  });

  it("caps consecutive faults per route and counts the client's retries", async () => {
    const p = await proxy({ rates: { "503": 1 }, maxConsecutivePerRoute: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await send(`${p.url}/api/v2/jobs/1/statuses/`)).status);
    expect(statuses).toEqual([503, 503, 201]);
    expect(p.stats()).toMatchObject({ requests: 3, forwarded: 1, totalFaults: 2, retriesObserved: 2 });
  });

  it("only faults the requests the filter selects, and rates can change mid-test", async () => {
    const p = await proxy({ rates: { "500": 1 }, shouldFault: ({ method }) => method === "GET" });
    expect((await send(`${p.url}/a/`, "POST", "")).status).toBe(201);
    expect((await send(`${p.url}/a/`)).status).toBe(500);
    p.setRates({});
    expect((await send(`${p.url}/a/`)).status).toBe(201);
  });

  it("follows a scripted plan before the random draw", async () => {
    const p = await proxy({
      rates: { "500": 1 },
      plan: ({ method, routeCount }) =>
        method === "POST" && routeCount === 0 ? "lost-response" : routeCount === 1 ? null : undefined,
    });
    await expect(send(`${p.url}/api/v2/jobs/`, "POST", "{}")).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect((await send(`${p.url}/api/v2/jobs/`, "POST", "{}")).status).toBe(201);
    expect((await send(`${p.url}/api/v2/jobs/`, "POST", "{}")).status).toBe(500);
    expect(seenUpstream).toHaveLength(2);
  });

  it("refuses bad rates and a non-loopback target", async () => {
    await expect(startFaultProxy({ target: "http://example.com", rates: {} })).rejects.toThrow(/loopback/);
    await expect(startFaultProxy({ target: upstreamUrl, rates: { "500": 0.7, "503": 0.7 } })).rejects.toThrow(
      /sum/,
    );
  });

  it("answers 502 (not an injected fault) when the upstream is down", async () => {
    const p = await startFaultProxy({ target: "http://127.0.0.1:1", rates: {} });
    proxies.push(p);
    expect((await send(`${p.url}/a/`)).status).toBe(502);
    expect(p.stats()).toMatchObject({ upstreamErrors: 1, totalFaults: 0 });
  });
});
