/**
 * The jobs commands against a nock-mocked Rescale answering as Rescale does (the team's Rescale API notes; docs/sdk.md): the
 * list is a summary, a failed run is told on the Stopping entry, projects may be required, the tail has no
 * trailing slash. In-process CLI, JSON checked for numbers as numbers and the schema field.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CORETYPES_2017_JP_FILE } from "@rescale-run/testkit";
import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runInProcess, sandboxEnv } from "./helpers.js";

const BASE = "https://platform.rescale.jp";
const KEY = "test-key-0123456789abcdef";
const env = () => sandboxEnv({ RESCALE_API_KEY: KEY, RESCALE_API_BASE_URL: BASE });
const d = (m: number) => `2026-01-01T00:${String(m).padStart(2, "0")}:00Z`;
const page = (results: unknown[]) => ({ count: results.length, next: null, previous: null, results });
const summary = (id: string, content: string) => ({
  id,
  name: `run ${id} [rr-0123456789abcdef]`,
  dateInserted: d(0),
  owner: "me@example.org",
  analysisNames: ["Conda Miniconda Interactive"],
  storage: 0,
  jobStatus: { content, labelClass: "", useLabel: false },
  clusterStatusDisplay: { content: "Stopped", labelClass: "", useLabel: false },
});
const fullJob = (id: string) => ({
  id,
  name: `run ${id}`,
  jobanalyses: [
    {
      analysis: { code: "miniconda_e2e", version: "4.8.4_e2ed" },
      hardware: { coreType: "hpc-3", coresPerSlot: 4, slots: 1, walltime: 8, type: "interactive" },
    },
  ],
});
const failedStatuses = page([
  { status: "Completed", statusDate: d(9), statusReason: null },
  { status: "Stopping", statusDate: d(8), statusReason: "A run failed" },
  { status: "Executing", statusDate: d(5), statusReason: null },
  { status: "Pending", statusDate: d(1), statusReason: null },
]);
const succeededStatuses = page([
  { status: "Completed", statusDate: d(7), statusReason: "Completed successfully" },
  { status: "Stopping", statusDate: d(6), statusReason: null },
  { status: "Executing", statusDate: d(2), statusReason: null },
  { status: "Pending", statusDate: d(1), statusReason: null },
]);

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => nock.enableNetConnect());

describe("jobs commands against Rescale (nock)", () => {
  it("list fetches what it shows for the printed rows: hardware, outcome from Stopping, duration, local metrics", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "rr-list-"));
    mkdirSync(join(cwd, "rescale-run-OK1", "outputs"), { recursive: true });
    writeFileSync(
      join(cwd, "rescale-run-OK1", "outputs", "metrics.json"),
      JSON.stringify({ accuracy: 0.8125, macroAuc: 0.9031 }),
    );
    const scope = nock(BASE)
      .get("/api/v2/jobs/")
      .query(true)
      .reply(200, page([summary("OK1", "Completed"), summary("BAD1", "Completed"), summary("NEW1", "")]))
      .get("/api/v2/jobs/OK1/")
      .reply(200, fullJob("OK1"))
      .get("/api/v2/jobs/OK1/statuses/")
      .query(true)
      .reply(200, succeededStatuses)
      .get("/api/v2/jobs/BAD1/")
      .reply(200, fullJob("BAD1"))
      .get("/api/v2/jobs/BAD1/statuses/")
      .query(true)
      .reply(200, failedStatuses)
      .get("/api/v2/jobs/NEW1/")
      .reply(200, fullJob("NEW1"))
      .get("/api/v2/jobs/NEW1/statuses/")
      .query(true)
      .reply(200, page([]));
    const r = await runInProcess(["list", "--json"], env(), cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(scope.isDone()).toBe(true);
    const body = JSON.parse(r.stdout);
    expect(body.schema).toBe(1);
    const [ok, bad, fresh] = body.jobs;
    expect(ok).toMatchObject({
      id: "OK1",
      name: "run OK1",
      type: "workstation",
      outcome: "succeeded",
      cores: 4,
      coreType: "hpc-3",
      walltimeHours: 8,
      durationSeconds: 300,
      testAccuracy: 0.8125,
      testMacroAuc: 0.9031,
    });
    expect(bad).toMatchObject({ outcome: "failed", statusReason: "A run failed", testAccuracy: null });
    expect(fresh).toMatchObject({ status: null, outcome: "pending", durationSeconds: null });
  });

  it("list in the table: no '0 x' cores, a failure says so, a success is not red", async () => {
    nock(BASE)
      .get("/api/v2/jobs/")
      .query(true)
      .reply(200, page([summary("OK1", "Completed"), summary("BAD1", "Completed")]))
      .get("/api/v2/jobs/OK1/")
      .reply(200, fullJob("OK1"))
      .get("/api/v2/jobs/OK1/statuses/")
      .query(true)
      .reply(200, succeededStatuses)
      .get("/api/v2/jobs/BAD1/")
      .reply(404, { detail: "Not found." })
      .get("/api/v2/jobs/BAD1/statuses/")
      .query(true)
      .reply(200, failedStatuses);
    const r = await runInProcess(["list"], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/\b0 x/);
    expect(r.stdout).toMatch(/OK1.*4 x hpc-3/);
    expect(r.stdout).toMatch(/BAD1.*Completed \(A run failed\)/);
    expect(r.stdout).not.toMatch(/OK1.*\(no reason\)/);
  });

  it("status of a run that failed on its Stopping entry: failed, exit 1", async () => {
    nock(BASE)
      .get("/api/v2/jobs/BAD1/")
      .reply(200, fullJob("BAD1"))
      .get("/api/v2/jobs/BAD1/statuses/")
      .query(true)
      .reply(200, failedStatuses)
      .get("/api/v2/jobs/BAD1/cluster_statuses/")
      .query(true)
      .reply(200, page([{ status: "Stopped", statusDate: d(9) }]));
    const r = await runInProcess(["status", "BAD1", "--json"], env());
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({
      schema: 1,
      outcome: "failed",
      statusReason: "A run failed",
    });
  });

  it("stop and connect on a job that has already ended say so (stop: exit 0, connect: exit 2)", async () => {
    nock(BASE).get("/api/v2/jobs/OK1/statuses/").query(true).reply(200, succeededStatuses);
    const stop = await runInProcess(["stop", "OK1"], env());
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain("job OK1 has already ended (succeeded");
    nock(BASE)
      .get("/api/v2/jobs/OK1/")
      .reply(200, fullJob("OK1"))
      .get("/api/v2/jobs/OK1/statuses/")
      .query(true)
      .reply(200, succeededStatuses);
    const connect = await runInProcess(["connect", "OK1"], env());
    expect(connect.code).toBe(2);
    expect(connect.stderr).toContain("job OK1 has already ended");
    expect(connect.stderr).toContain("nothing to connect to");
  });

  it("connect on a running workstation shows the platform's user and port, inventing neither", async () => {
    nock(BASE)
      .get("/api/v2/jobs/RUN1/")
      .reply(200, fullJob("RUN1"))
      .get("/api/v2/jobs/RUN1/statuses/")
      .query(true)
      .reply(200, page([{ status: "Executing", statusDate: d(5), statusReason: null }]))
      .get("/api/v2/jobs/RUN1/cluster_statuses/")
      .query(true)
      .reply(200, page([{ status: "Started", statusDate: d(5) }]))
      .get("/api/v2/jobs/RUN1/instances/")
      .query(true)
      .reply(
        200,
        page([
          {
            clusterId: "C1",
            publicHostname: "node.example",
            publicIp: "203.0.113.9",
            username: null,
            role: "MPI_MASTER",
          },
        ]),
      );
    const r = await runInProcess(["connect", "RUN1", "--json"], env());
    expect(r.code, r.stderr).toBe(0);
    const { connection } = JSON.parse(r.stdout);
    expect(connection.sshCommand).toBe("ssh -p 22 node.example");
    expect(connection.sshCommand).not.toContain("uprod");
    expect(connection.desktopUrl).toBe(`${BASE}/in-browser-desktops/C1/`);
  });

  it("a job that does not exist is named, not the API path", async () => {
    nock(BASE).get("/api/v2/jobs/NOPE/statuses/").query(true).reply(404, { detail: "Not found." });
    const r = await runInProcess(["stop", "NOPE"], env());
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('No job "NOPE"');
    expect(r.stderr).not.toContain("/api/v2/");
  });

  it("logs of a running job whose log is not there yet says so instead of printing nothing", async () => {
    nock(BASE)
      .get("/api/v2/jobs/RUN1/statuses/")
      .query(true)
      .reply(200, page([{ status: "Executing", statusDate: d(5), statusReason: null }]))
      .get("/api/v2/jobs/RUN1/runs/")
      .query(true)
      .reply(200, page([{ id: 1 }]))
      .get("/api/v2/jobs/RUN1/runs/1/directory-contents/")
      .query(true)
      .reply(404, { detail: "Not found." });
    const r = await runInProcess(["logs", "RUN1"], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("log not available yet");
  });

  it("projects lists GET /api/v2/users/me/projects/", async () => {
    nock(BASE)
      .get("/api/v2/users/me/projects/")
      .query(true)
      .reply(200, page([{ id: "P1", name: "Breast ultrasound" }]));
    const r = await runInProcess(["projects", "--json"], env());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      schema: 1,
      projects: [{ id: "P1", name: "Breast ultrasound", code: null }],
    });
  });
});

describe("submit into a workspace that requires projects (nock)", () => {
  const catalog = JSON.parse(readFileSync(CORETYPES_2017_JP_FILE, "utf8"));
  it("a 400 naming the project is one line with the hint; --project sends projectId", async () => {
    const root = mkdtempSync(join(tmpdir(), "rr-proj-"));
    const data = join(root, "data");
    for (const cls of ["a", "b"]) {
      mkdirSync(join(data, cls), { recursive: true });
      for (let i = 1; i <= 6; i++) writeFileSync(join(data, cls, `${i}.png`), `png ${cls} ${i}`);
    }
    const bundle = join(root, "rescale-run-runner-x.tgz");
    writeFileSync(bundle, "bundle");
    let sentProject: unknown = "unset";
    nock(BASE)
      .persist()
      .get("/api/v2/billing/computeprices/")
      .query(true)
      .reply(200, [
        { coreType: "hpc-3", value: { amount: "30" }, planType: "INSTANT", os: "linux", isActive: true },
      ])
      .get("/api/v2/coretypes/")
      .query(true)
      .reply(200, catalog)
      .get("/api/v2/analyses/")
      .query(true)
      .reply(
        200,
        page([{ code: "user_included", name: "BYOS", versions: [{ version: "0", versionCode: "0" }] }]),
      )
      .get("/api/v2/users/me/projects/")
      .query(true)
      .reply(200, page([{ id: "P1", name: "Breast ultrasound" }]))
      .get("/api/v2/files/")
      .query(true)
      .reply(200, page([]))
      .post("/api/v2/files/contents/")
      .reply(201, { id: "F", name: "f" })
      .post("/api/v2/jobs/", (body) => {
        sentProject = body.projectId;
        return body.projectId === undefined;
      })
      .reply(400, { projectId: ["This field is required."] })
      .post("/api/v2/jobs/", (body) => body.projectId === "P1")
      .reply(201, { id: "J1", name: "x" })
      .post("/api/v2/jobs/J1/submit/")
      .reply(200, "");
    const base = [
      "submit",
      "--data",
      data,
      "--software",
      "user_included",
      "--core-type",
      "hpc-3",
      "--cores",
      "4",
    ];
    const args = [...base, "--walltime", "1h", "--runner-bundle", bundle, "--yes", "--detach"];
    const refused = await runInProcess(args, env());
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/this workspace needs a project/);
    expect(refused.stderr).toMatch(/--project/);
    expect(
      refused.stderr
        .trim()
        .split("\n")
        .filter((l) => /error|needs a project/i.test(l)).length,
    ).toBe(1);

    const dry = await runInProcess([...args, "--project", "Breast ultrasound", "--dry-run", "--json"], env());
    expect(dry.code, dry.stderr).toBe(0);
    const { plan } = JSON.parse(dry.stdout);
    expect(plan.project).toEqual({ id: "P1", name: "Breast ultrasound" });
    expect(plan.priceSource).toBe("computeprices");
    expect(plan.pricePerHour).toBe(120);

    const ok = await runInProcess([...args, "--project", "P1"], env());
    expect(ok.code, ok.stderr).toBe(0);
    expect(sentProject).toBe("P1");
  });
});
