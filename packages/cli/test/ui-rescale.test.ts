/**
 * The dashboard against Rescale (nock): the server asks Rescale with the profile's key, and the pages show the job
 * rows (walltime left, cost so far from the catalog's price) and the Explorer without the key ever in a page.
 */
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { RescaleClient } from "@rescale-run/sdk";
import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Target } from "../src/target.js";
import { SESSION_COOKIE } from "../src/ui/security.js";
import { startUiServer, type UiServer } from "../src/ui/server.js";
import { sandboxEnv } from "./helpers.js";
import { quietFactory } from "./ui-helpers.js";

const BASE = "https://platform.rescale.test";
const KEY = "rescale-test-key-0123456789abcdef";
const TOKEN = "ui-rescale-session-token-0123456789abcdef";
const catalog = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "ui-catalog.json"), "utf8"));

let server: UiServer;

function get(path: string): Promise<{ status: number; body: string }> {
  const url = new URL(path, server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: url.port,
        path: url.pathname + url.search,
        headers: { cookie: `${SESSION_COOKIE}=${TOKEN}` },
      },
      (res) => {
        let body = "";
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const page = (results: unknown[]) => ({ count: results.length, next: null, previous: null, results });

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  const client = new RescaleClient({ apiKey: KEY, baseUrl: BASE });
  const target: Target = {
    kind: "rescale",
    label: "Rescale (test)",
    baseUrl: BASE,
    client,
    inProcess: false,
    close: async () => {},
  };
  server = await startUiServer({ target, factory: quietFactory(sandboxEnv(), process.cwd()), token: TOKEN });
});

afterAll(async () => {
  await server?.close();
  nock.cleanAll();
  nock.enableNetConnect();
});

describe("dashboard against Rescale (nock)", () => {
  it("lists the jobs with walltime left and cost so far, asking Rescale with the key", async () => {
    const started = new Date(Date.now() - 90 * 60_000);
    const scope = nock(BASE)
      .matchHeader("authorization", `Token ${KEY}`)
      .get("/api/v2/coretypes/")
      .query(true)
      .reply(200, page(catalog))
      .get("/api/v2/jobs/")
      .query((q) => q.page === "1")
      .reply(
        200,
        page([
          {
            id: "AbCdE",
            name: "busi run",
            billingPriorityValue: "INSTANT",
            dateInserted: new Date(started.getTime() - 60_000).toISOString(),
            jobStatus: { status: "Executing" },
            jobanalyses: [
              {
                analysis: { code: "miniconda_e2e", version: "4.8.4_e2ed" },
                hardware: {
                  coreType: { code: "test-onyx" },
                  coresPerSlot: 2,
                  walltime: 3,
                  type: "interactive",
                },
              },
            ],
          },
        ]),
      )
      .get("/api/v2/jobs/AbCdE/statuses/")
      .query(true)
      .reply(
        200,
        page([
          { status: "Executing", statusDate: started.toISOString(), statusReason: null },
          {
            status: "Queued",
            statusDate: new Date(started.getTime() - 30_000).toISOString(),
            statusReason: null,
          },
        ]),
      );
    const r = await get("/workstations");
    expect(r.status, r.body).toBe(200);
    scope.done();
    const row = /<tr data-job="AbCdE">([\s\S]*?)<\/tr>/.exec(r.body)?.[1] ?? "";
    expect(row).toContain("busi run");
    expect(row).toContain("Executing");
    expect(row).toContain("test-onyx");
    // 0.45 per core-hour x 2 cores x 1.5 h; 3 h walltime - 1.5 h run.
    expect(row).toMatch(/>1\.35\d</);
    expect(row).toContain(">1h30m<");
    expect(r.body).not.toContain(KEY);
  });

  it("the Explorer recommends as `coretypes compare` does, in the chosen tier", async () => {
    nock(BASE).get("/api/v2/coretypes/").query(true).reply(200, page(catalog));
    // The comparison's context, as `coretypes compare` fetches it: no runner software listed (any type), and a
    // compute-price list this workspace does not offer (404: the core types' own prices are used).
    nock(BASE).get("/api/v2/analyses/").query(true).reply(200, page([]));
    nock(BASE).get("/api/v2/billing/computeprices/").query(true).reply(404, { detail: "Not found." });
    const r = await get("/coretypes?cores=4&walltime=2h&priority=onDemandEconomy");
    expect(r.status).toBe(200);
    // Economy: Emerald 0.12 x 4 x 2 = 0.96 beats Onyx 0.20 x 4 x 2; Jade has no economy price.
    expect(r.body).toMatch(/<tr data-code="test-emerald" class="rec">/);
    expect(r.body).toContain("0.960 for 2 h");
    expect(r.body).not.toContain(KEY);
  });
});
