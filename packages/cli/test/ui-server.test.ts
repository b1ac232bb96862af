/**
 * The dashboard's server over a real local platform on 127.0.0.1 (in this process), spoken to with plain fetch:
 * loopback Host names only, the token-for-cookie exchange, 401 without the cookie, CSRF and Origin checks on every
 * POST, markup from the platform escaped, the report served sandboxed. The pages in a real browser:
 * ui-browser.test.ts.
 */
import { mkdtempSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LocalPlatform, startLocalPlatform } from "@rescale-run/local";
import { RescaleClient } from "@rescale-run/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobRow } from "../src/ui/data.js";
import { html } from "../src/ui/html.js";
import { EMPTY_FORM } from "../src/ui/pages.js";
import { csrfTokenFor, isSameOrigin, SESSION_COOKIE } from "../src/ui/security.js";
import { formToSubmitOptions, startUiServer, type UiServer } from "../src/ui/server.js";
import { runInProcess, sandboxEnv } from "./helpers.js";
import { localTarget, quietFactory } from "./ui-helpers.js";

const EVIL = `<script>alert("x")</script>`;
const TOKEN = "test-session-token-0123456789abcdefghijkl";

let platform: LocalPlatform;
let server: UiServer;
let client: RescaleClient;
let jobId: string;

/** A raw request, so the test controls the Host header (fetch does not let it). */
function raw(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(path, server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: url.port,
        path: url.pathname + url.search,
        method: options.method ?? "GET",
        headers: options.headers,
      },
      (res) => {
        let body = "";
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

const cookie = `${SESSION_COOKIE}=${TOKEN}`;
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = "application/x-www-form-urlencoded";

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "rr-ui-server-"));
  platform = await startLocalPlatform({ dataDir, port: 0, maxCores: 2, logger: false });
  client = new RescaleClient({ apiKey: platform.apiKey, baseUrl: platform.url });
  const job = await client.jobs.create({
    name: EVIL,
    analysis: { code: "user_included", version: "0" },
    command: "sleep 60",
    hardware: { coreType: "local", cores: 1, walltime: 1, type: "interactive" },
    inputFiles: [],
  } as never);
  jobId = String(job.id);
  await client.jobs.submit(jobId);
  const factory = quietFactory(sandboxEnv(), dataDir);
  const target = localTarget(platform, "local platform (test)");
  server = await startUiServer({ target, factory, token: TOKEN });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await platform?.close();
});

describe("dashboard security", () => {
  it("answers loopback Host names only (DNS rebinding)", async () => {
    const port = new URL(server.url).port;
    expect((await raw("/workstations", { headers: { host: `evil.example:${port}`, cookie } })).status).toBe(
      400,
    );
    expect((await raw("/workstations", { headers: { host: `localhost:${port}`, cookie } })).status).toBe(200);
  });

  it("exchanges the URL's token for an HttpOnly SameSite=Strict cookie, and wants it on every page", async () => {
    const login = await raw(`/coretypes?token=${TOKEN}&cores=1`);
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe("/coretypes?cores=1");
    expect(String(login.headers["set-cookie"])).toBe(
      `${SESSION_COOKIE}=${TOKEN}; HttpOnly; SameSite=Strict; Path=/`,
    );
    expect((await raw("/?token=wrong")).status).toBe(401);
    for (const path of [
      "/workstations",
      `/workstations/${jobId}`,
      "/new",
      "/coretypes",
      `/api/jobs/${jobId}/live`,
    ]) {
      expect((await raw(path)).status, path).toBe(401);
      expect((await raw(path, { headers: { cookie: `${SESSION_COOKIE}=nope` } })).status, path).toBe(401);
    }
  });

  it("refuses a POST without this session's CSRF token or from another origin", async () => {
    const port = new URL(server.url).port;
    const stop = `/workstations/${jobId}/stop`;
    const headers = { cookie, "content-type": FORM };
    const before = JSON.stringify(await client.jobs.statuses(jobId));
    expect((await raw(stop, { method: "POST", headers, body: "" })).status).toBe(403);
    expect((await raw(stop, { method: "POST", headers, body: form({ _csrf: "guess" }) })).status).toBe(403);
    const evil = { ...headers, origin: "http://evil.example" };
    expect(
      (await raw(stop, { method: "POST", headers: evil, body: form({ _csrf: csrfTokenFor(TOKEN) }) })).status,
    ).toBe(403);
    expect(JSON.stringify(await client.jobs.statuses(jobId))).toBe(before);
    // The page's own form: same origin, right token.
    const own = { ...headers, origin: `http://127.0.0.1:${port}` };
    const ok = await raw(stop, { method: "POST", headers: own, body: form({ _csrf: csrfTokenFor(TOKEN) }) });
    expect(ok.status).toBe(303);
    expect(isSameOrigin(`http://127.0.0.1:${port}`, `127.0.0.1:${port}`)).toBe(true);
    expect(isSameOrigin(`http://localhost.evil:${port}`, `localhost.evil:${port}`)).toBe(false);
    expect(isSameOrigin("null", `127.0.0.1:${port}`)).toBe(false);
  });

  it("escapes what the platform returns and sets a nonce-only script policy", async () => {
    const page = await raw("/workstations", { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.body).not.toContain(EVIL);
    expect(page.body).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(String(page.headers["content-security-policy"])).toMatch(/script-src 'nonce-[^']+'/);
    expect(page.headers["x-frame-options"]).toBe("DENY");
    const detail = await raw(`/workstations/${jobId}`, { headers: { cookie } });
    expect(detail.body).not.toContain(EVIL);
    // No page carries the platform's API key.
    for (const p of [page, detail]) expect(p.body).not.toContain(platform.apiKey);
  });

  it("shows a form mistake on the form, with the CLI's message", async () => {
    const port = new URL(server.url).port;
    const body = form({ ...EMPTY_FORM, cores: "64", _csrf: csrfTokenFor(TOKEN), action: "plan" });
    const r = await raw("/new", {
      method: "POST",
      headers: { cookie, "content-type": FORM, origin: `http://127.0.0.1:${port}` },
      body,
    });
    expect(r.status).toBe(400);
    expect(r.body).toMatch(
      /No core type on this platform offers 64 cores on one node( for [^<]*)?( on a workstation)?\./,
    );
  });
});

describe("rescale-run ui", () => {
  it("a port in use is a one-line usage error", async () => {
    const port = new URL(server.url).port;
    const r = await runInProcess(["ui", "--port", port], sandboxEnv());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--port ${port}: that port on 127.0.0.1 is in use.`);
  }, 60_000);
});

describe("dashboard pieces", () => {
  it("html escapes every interpolation, nested fragments once", () => {
    expect(html`<td>${EVIL}</td>${html`<b>${"&"}</b>`}${null}${[1, "<"]}`.text).toBe(
      "<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</td><b>&amp;</b>1&lt;",
    );
  });

  it("turns the form into submit's arguments", () => {
    const args = formToSubmitOptions({
      ...EMPTY_FORM,
      cores: "4",
      epochs: "3",
      attach: "a.txt\n\n b.zip ",
      runnerArgs: "--cv-folds=0  --views=1",
    });
    expect(args).toMatchObject({
      cores: 4,
      epochs: 3,
      attach: ["a.txt", "b.zip"],
      runnerArg: ["--cv-folds=0", "--views=1"],
    });
    expect(() => formToSubmitOptions({ ...EMPTY_FORM, epochs: "x" })).toThrow(/Epochs must be a number/);
  });

  it("costs a job from its executing time, price and cores", () => {
    const t0 = Date.parse("2026-01-01T00:00:00Z");
    const job = {
      id: "7",
      name: "n",
      billingPriorityValue: "INSTANT",
      jobanalyses: [{ analysis: { code: "x" }, hardware: { coreType: "t", coresPerSlot: 2, walltime: 3 } }],
      jobStatus: { status: "Executing" },
    };
    const statuses = [
      { status: "Executing", statusDate: new Date(t0) },
      { status: "Queued", statusDate: new Date(t0 - 60_000) },
    ];
    const types = [
      { code: "t", name: "T", cores: [2], memory: 1024, storage: 10, price: 0.5, lowPriorityPrice: 0.2 },
    ];
    const row = jobRow(job as never, statuses as never, types as never, t0 + 1.5 * 3_600_000);
    expect(row.runHours).toBeCloseTo(1.5);
    expect(row.walltimeLeftHours).toBeCloseTo(1.5);
    expect(row.pricePerHour).toBeCloseTo(1);
    expect(row.costSoFar).toBeCloseTo(1.5);
  });
});
