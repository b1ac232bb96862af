import { makeSandbox, type Sandbox } from "@rescale-run/testkit";
import {
  analysis,
  clusterStatus,
  completedStatuses,
  coreType,
  instance,
  job,
  jobStatus,
  minicondaInteractive,
  page,
  rescaleFile,
  TEST_API_KEY,
  TEST_BASE_URL,
} from "@rescale-run/testkit/rescale-payloads";
import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ContractTarget,
  contractCases,
  type FixtureHooks,
  testClient,
  UPLOAD_MD5,
  UPLOAD_TEXT,
} from "./contract.js";

// The same contract suite against the SDK's nock fixtures of Rescale (see contract.ts). Every interceptor a
// case installs must be used, so the fixtures cannot hold shapes the checks never look at.

let sandbox: Sandbox;
let target: ContractTarget;

beforeAll(async () => {
  sandbox = await makeSandbox("local-contract-fixtures-");
  nock.disableNetConnect();
  target = {
    client: testClient(TEST_BASE_URL, TEST_API_KEY),
    baseUrl: TEST_BASE_URL,
    coreType: "emerald",
    cores: 4,
    disallowedCores: 3,
    scratchDir: sandbox.root,
    projectWorkspace: testClient(TEST_BASE_URL, TEST_API_KEY),
  };
});
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending, "fixtures the case never used").toEqual([]);
});
afterAll(async () => {
  nock.enableNetConnect();
  await sandbox?.cleanup();
});

const api = () => nock(TEST_BASE_URL);

/** Answers a list endpoint page by page from `items`, like Django REST Framework (absolute `next`). */
function paged(path: string, items: unknown[]) {
  return (uri: string): [number, unknown] => {
    const url = new URL(uri, TEST_BASE_URL);
    const size = Number(url.searchParams.get("page_size") ?? 25);
    const n = Number(url.searchParams.get("page") ?? 1);
    const link = (p: number) => `${path}?page=${p}&page_size=${size}`;
    return [
      200,
      page(items.slice((n - 1) * size, n * size), {
        count: items.length,
        next: n * size < items.length ? link(n + 1) : null,
        previous: n > 1 ? link(n - 1) : null,
      }),
    ];
  };
}

const JOBS = "/api/v2/jobs/";
const running = [
  jobStatus("Executing", "2026-11-25T11:10:00Z"),
  jobStatus("Validated", "2026-11-25T11:09:00Z"),
  jobStatus("Started", "2026-11-25T11:08:00Z"),
  jobStatus("Queued", "2026-11-25T11:00:30Z"),
  jobStatus("Pending", "2026-11-25T11:00:00Z"),
];

const stopped = [
  jobStatus("Completed", "2026-11-25T11:20:00Z", null),
  jobStatus("Stopping", "2026-11-25T11:19:00Z", "User Terminated"),
  ...running,
];
/** A failed run as Rescale records it (nf-rescale-hpc's tests): the reason is on the Stopping entry. */
const failed = [
  jobStatus("Completed", "2026-11-25T11:20:00Z", null),
  jobStatus("Stopping", "2026-11-25T11:19:00Z", "A run failed"),
  ...running,
];
const clusterStarted = page([
  clusterStatus("Started", "2026-11-25T11:08:00Z"),
  clusterStatus("Starting", "2026-11-25T11:01:00Z"),
  clusterStatus("Not Started", "2026-11-25T11:00:00Z"),
]);

const fixtures: FixtureHooks = {
  coreTypes() {
    const types = [coreType(), coreType({ code: "ruby", name: "Ruby", cores: [1, 2, 4, 8], memory: 8000 })];
    api().get("/api/v2/coretypes/").query(true).times(3).reply(paged("/api/v2/coretypes/", types));
  },
  analyses() {
    api()
      .get("/api/v2/analyses/")
      .query(true)
      .times(3)
      .reply(200, page([analysis(), minicondaInteractive()]));
  },
  fileRoundTrip() {
    const file = rescaleFile({
      id: "FiLe1",
      name: "contract-upload.csv",
      decryptedSize: UPLOAD_TEXT.length,
      md5: UPLOAD_MD5,
    });
    api()
      .post("/api/v2/files/contents/")
      .reply(201, file)
      .get("/api/v2/files/FiLe1/")
      .reply(200, file)
      .get("/api/v2/files/FiLe1/contents/")
      .reply(200, UPLOAD_TEXT)
      .delete("/api/v2/files/FiLe1/")
      .reply(204)
      .get("/api/v2/files/FiLe1/")
      .reply(404, { detail: "Not found." });
  },
  jobLifecycle() {
    api()
      .post(JOBS)
      .reply(201, (_uri, body) => {
        const b = body as { name: string; jobanalyses: unknown[] };
        return job({ id: "JoB1", name: b.name, jobanalyses: b.jobanalyses });
      })
      .post(`${JOBS}JoB1/submit/`)
      .reply(200)
      .get(`${JOBS}JoB1/statuses/`)
      .query(true)
      .reply(200, page(completedStatuses()))
      // Right after Completed the list is incomplete and the cluster still Stopping; then it is Stopped.
      .get(`${JOBS}JoB1/cluster_statuses/`)
      .query(true)
      .reply(200, page([clusterStatus("Stopping", "2026-11-25T12:00:01Z")]))
      .get(`${JOBS}JoB1/files/`)
      .query(true)
      .reply(
        200,
        page([
          rescaleFile({
            id: "OuT1",
            name: "process_output.log",
            typeId: 5,
            relativePath: "process_output.log",
          }),
        ]),
      )
      .get(`${JOBS}JoB1/cluster_statuses/`)
      .query(true)
      .reply(
        200,
        page([
          clusterStatus("Stopped", "2026-11-25T12:00:04Z"),
          clusterStatus("Stopping", "2026-11-25T12:00:01Z"),
        ]),
      )
      .get(`${JOBS}JoB1/files/`)
      .query(true)
      .reply(
        200,
        page([
          rescaleFile({
            id: "OuT1",
            name: "process_output.log",
            typeId: 5,
            relativePath: "process_output.log",
          }),
          rescaleFile({ id: "OuT2", name: "result.txt", typeId: 5, relativePath: "result.txt" }),
        ]),
      )
      .get(`${JOBS}JoB1/cluster_statuses/`)
      .query(true)
      .reply(
        200,
        page([
          clusterStatus("Stopped", "2026-11-25T12:00:04Z"),
          clusterStatus("Stopping", "2026-11-25T12:00:01Z"),
          clusterStatus("Started", "2026-11-25T11:08:00Z"),
          clusterStatus("Starting", "2026-11-25T11:01:00Z"),
          clusterStatus("Not Started", "2026-11-25T11:00:00Z"),
        ]),
      )
      .delete(`${JOBS}JoB1/`)
      .reply(204)
      .get(`${JOBS}JoB1/`)
      .reply(404, { detail: "Not found." });
  },
  runningJob() {
    api()
      .post(JOBS)
      .reply(201, (_uri, body) => job({ id: "JoB2", name: (body as { name: string }).name }))
      .post(`${JOBS}JoB2/submit/`)
      .reply(200)
      .get(`${JOBS}JoB2/statuses/`)
      .query(true)
      .reply(200, page(running))
      .get(`${JOBS}JoB2/runs/`)
      .query(true)
      .times(3)
      .reply(200, page([{ id: 1 }]))
      .get(`${JOBS}JoB2/runs/1/directory-contents/`)
      .query(true)
      .times(2)
      .reply(200, [
        {
          path: "process_output.log",
          resource: `${TEST_BASE_URL}${JOBS}JoB2/runs/1/tail/process_output.log`,
        },
      ])
      .get(`${JOBS}JoB2/runs/1/tail/process_output.log`)
      .query({ lines: "10" })
      .reply(200, { fileType: "text", lines: ["epoch 1/3"] })
      .get(`${JOBS}JoB2/instances/`)
      .query(true)
      .reply(200, page([instance()]))
      .post(`${JOBS}JoB2/stop/`)
      .reply(202)
      .get(`${JOBS}JoB2/statuses/`)
      .query(true)
      .reply(200, page(stopped));
  },
  workstation() {
    api()
      .get("/api/v2/analyses/")
      .query(true)
      .times(2)
      .reply(200, page([analysis(), minicondaInteractive()]))
      .post(JOBS)
      .reply(201, (_uri, body) => {
        const b = body as { name: string; jobanalyses: unknown[] };
        return job({ id: "WoRk1", name: b.name, jobanalyses: b.jobanalyses });
      })
      .post(`${JOBS}WoRk1/submit/`)
      .reply(200)
      .get(`${JOBS}WoRk1/statuses/`)
      .query(true)
      .times(2)
      .reply(200, page(running))
      .get(`${JOBS}WoRk1/cluster_statuses/`)
      .query(true)
      .times(2)
      .reply(200, clusterStarted)
      .get(`${JOBS}WoRk1/instances/`)
      .query(true)
      .reply(200, page([instance()]))
      .get(`${JOBS}WoRk1/runs/`)
      .query(true)
      .reply(200, page([{ id: 1 }]))
      .get(`${JOBS}WoRk1/runs/1/directory-contents/`)
      .query(true)
      .reply(200, [
        {
          path: "shared/process_output.log",
          resource: `${TEST_BASE_URL}${JOBS}WoRk1/runs/1/tail/shared/process_output.log`,
        },
      ])
      .post(`${JOBS}WoRk1/stop/`)
      .reply(202)
      .get(`${JOBS}WoRk1/statuses/`)
      .query(true)
      .times(2)
      .reply(200, page(stopped));
  },
  jobList() {
    const ids = ["LiSt1", "LiSt2", "LiSt3"];
    const scope = api();
    for (const id of ids) {
      scope.post(JOBS).reply(201, (_uri, body) => job({ id, name: (body as { name: string }).name }));
    }
    // List rows are summaries (the team's Rescale API notes; docs/sdk.md): no jobanalyses, no reason; saved = empty status.
    const summary = (id: string) => ({
      id,
      name: `contract-list ${id}`,
      dateInserted: "2026-11-25T11:00:00Z",
      owner: "researcher@example.org",
      analysisNames: ["Bring Your Own Software"],
      storage: 0,
      jobStatus: { content: "", labelClass: "", useLabel: false },
      clusterStatusDisplay: { content: "Not Started", labelClass: "", useLabel: false },
    });
    const newestFirst = [...ids].reverse().map(summary);
    scope.get(JOBS).query(true).times(3).reply(paged(JOBS, newestFirst));
    scope.get(`${JOBS}LiSt1/statuses/`).query(true).reply(200, page([]));
    for (const id of ids) scope.delete(`${JOBS}${id}/`).reply(204);
  },
  validation() {
    api()
      .post(JOBS)
      .reply(400, { jobanalyses: [{ hardware: { coresPerSlot: ["Must be one of 1, 2, 4, 8, 16, 32."] } }] });
  },
  wrongKey() {
    nock(TEST_BASE_URL, { reqheaders: { authorization: `Token ${"f".repeat(40)}` } })
      .get("/api/v2/coretypes/")
      .query(true)
      .reply(401, { detail: "Invalid token." });
  },
  notFound() {
    api().get(`${JOBS}nOsUcH/`).reply(404, { detail: "Not found." });
  },
  failedRun() {
    api()
      .post(JOBS)
      .reply(201, (_uri, body) => job({ id: "FaIl1", name: (body as { name: string }).name }))
      .post(`${JOBS}FaIl1/submit/`)
      .reply(200)
      .get(`${JOBS}FaIl1/statuses/`)
      .query(true)
      .reply(200, page(failed));
  },
  projects() {
    const mine = [{ id: "PrOj1", name: "Breast ultrasound" }];
    api()
      .get("/api/v2/users/me/projects/")
      .query(true)
      .times(2)
      .reply(200, page(mine))
      .post(JOBS, (body) => body.projectId === undefined)
      .reply(400, { projectId: ["This field is required."] })
      .post(JOBS, (body) => body.projectId === "PrOj1")
      .reply(201, (_uri, body) =>
        job({ id: "PrJ1", name: (body as { name: string }).name, projectId: "PrOj1" }),
      )
      .delete(`${JOBS}PrJ1/`)
      .reply(204);
  },
  computePrices() {
    api()
      .get("/api/v2/billing/computeprices/")
      .query(true)
      .reply(200, [
        { coreType: "emerald", value: { amount: "0.10" }, planType: "INSTANT", os: "linux", isActive: true },
        {
          coreType: "emerald",
          value: { amount: "0.05" },
          planType: "ON_DEMAND",
          os: "linux",
          isActive: true,
        },
      ]);
  },
};

describe("contract: nock fixtures of Rescale", () => {
  for (const c of contractCases(fixtures)) {
    it(c.name, async () => {
      c.fixtures(target);
      await c.check(target);
    });
  }
});
