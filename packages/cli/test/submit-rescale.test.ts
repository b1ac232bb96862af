/**
 * `submit` against a nock-mocked Rescale, in-process: the exact requests Rescale expects (walltime in hours,
 * coresPerSlot among the type's cores, hardware.type interactive), upload, submit, the status timeline,
 * the log tail, the stop after training, and the download of the outputs.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CORETYPES_2017_JP_FILE } from "@rescale-run/testkit";
import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runInProcess, sandboxEnv } from "./helpers.js";

const BASE = "https://platform.rescale.jp";
const KEY = "test-key-0123456789abcdef";
const catalog = JSON.parse(readFileSync(CORETYPES_2017_JP_FILE, "utf8"));

let dataDir: string;
let bundle: string;

beforeAll(() => {
  nock.disableNetConnect();
  const root = mkdtempSync(join(tmpdir(), "rr-nock-"));
  dataDir = join(root, "Dataset_BUSI_with_GT");
  for (const cls of ["benign", "malignant", "normal"]) {
    const dir = join(dataDir, cls);
    require("node:fs").mkdirSync(dir, { recursive: true });
    for (let i = 1; i <= 6; i++) writeFileSync(join(dir, `${cls} (${i}).png`), `fake png ${cls} ${i}`);
    writeFileSync(join(dir, `${cls} (1)_mask.png`), "mask");
  }
  bundle = join(root, "rescale-run-runner-test.tgz");
  writeFileSync(bundle, "not really a tarball; never unpacked in this test");
});

afterEach(() => nock.cleanAll());
afterAll(() => nock.enableNetConnect());

function page(results: unknown[]) {
  return { count: results.length, next: null, previous: null, results };
}

function mockCatalog(scope: nock.Scope) {
  return scope
    .get("/api/v2/billing/computeprices/")
    .query(true)
    .optionally()
    .reply(404, { detail: "Not found." })
    .get("/api/v2/coretypes/")
    .query(true)
    .reply(200, catalog)
    .get("/api/v2/analyses/")
    .query(true)
    .reply(
      200,
      page([
        {
          code: "user_included",
          name: "Bring Your Own Software",
          versions: [{ version: "0", versionCode: "0" }],
        },
        {
          code: "miniconda_e2e",
          name: "Conda Miniconda Interactive",
          versions: [
            { version: "4.8.4_e2ed", versionCode: "4.8.4_e2ed", allowedCoreTypes: ["hpc-3", "titanium"] },
          ],
        },
      ]),
    );
}

describe("submit against Rescale (nock)", () => {
  it("validates, uploads, creates the exact job, follows it, stops it after training and downloads outputs", async () => {
    const env = sandboxEnv({ RESCALE_API_KEY: KEY, RESCALE_API_URL: BASE });
    const out = mkdtempSync(join(tmpdir(), "rr-out-"));
    const uploads: string[] = [];
    let created: Record<string, unknown> | undefined;
    let state: "created" | "submitted" | "executing" | "stopped" = "created";
    let polls = 0;
    const date = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const scope = nock(BASE).matchHeader("authorization", `Token ${KEY}`);
    mockCatalog(scope);
    // The runner bundle is already among the user's files (same name, size, MD5): reused, not uploaded again.
    const bundleBytes = readFileSync(bundle);
    const bundleMd5 = createHash("md5").update(bundleBytes).digest("hex");
    scope
      .get("/api/v2/files/")
      .query((q) => q.search === "rescale-run-runner-test.tgz")
      .reply(
        200,
        page([
          {
            id: "OLDBUNDLE",
            name: "rescale-run-runner-test.tgz",
            decryptedSize: bundleBytes.length,
            md5: bundleMd5,
            isUploaded: true,
          },
        ]),
      )
      .get("/api/v2/files/")
      .query((q) => q.search !== "rescale-run-runner-test.tgz")
      .times(2)
      .reply(200, page([]))
      .post("/api/v2/files/contents/")
      .times(2)
      .reply(201, (_uri, body) => {
        // nock hands binary bodies over hex-encoded.
        const text = /^[0-9a-f]+$/.test(String(body))
          ? Buffer.from(String(body), "hex").toString("latin1")
          : String(body);
        const name = /filename="([^"]+)"/.exec(text)?.[1] ?? "?";
        uploads.push(name);
        return { id: `f${uploads.length}`, name, decryptedSize: 10, isUploaded: true };
      })
      .post("/api/v2/jobs/", (body) => {
        created = body;
        return true;
      })
      .reply(201, () => ({ id: "JOB1", name: created?.name, jobanalyses: created?.jobanalyses }))
      .post("/api/v2/jobs/JOB1/submit/")
      .reply(200, () => {
        state = "submitted";
        return "";
      })
      .get("/api/v2/jobs/JOB1/statuses/")
      .query(true)
      .times(20)
      .reply(200, () => {
        polls++;
        if (state === "submitted" && polls >= 2) state = "executing";
        const s = [
          { status: "Pending", statusDate: date(0), statusReason: null },
          { status: "Queued", statusDate: date(1) },
        ];
        if (state === "executing" || state === "stopped")
          s.push({ status: "Executing", statusDate: date(2) });
        if (state === "stopped")
          s.push({ status: "Completed", statusDate: date(3), statusReason: "Stopped by user" } as never);
        return page(s.reverse());
      })
      .get("/api/v2/jobs/JOB1/runs/")
      .query(true)
      .times(20)
      .reply(200, page([{ id: "R1" }]))
      // The log's path comes from directory-contents; tail has no trailing slash (a workstation: shared/).
      .get("/api/v2/jobs/JOB1/runs/R1/directory-contents/")
      .query(true)
      .times(20)
      .reply(200, [{ path: "shared/process_output.log", resource: "" }])
      .get("/api/v2/jobs/JOB1/runs/R1/tail/shared/process_output.log")
      .query(true)
      .times(20)
      .reply(200, {
        fileType: "text",
        lines: [
          "[rescale-run] starting the runner with 4 threads",
          "epoch 1/2 loss 0.9",
          "epoch 2/2 loss 0.5",
          "[rescale-run] runner exited with status 0",
        ],
      })
      .post("/api/v2/jobs/JOB1/stop/")
      .reply(202, () => {
        state = "stopped";
        return "";
      })
      .get("/api/v2/jobs/JOB1/files/")
      .query((q) => q.search === "process_output.log")
      .reply(
        200,
        page([
          { id: "o1", name: "process_output.log", relativePath: "process_output.log", decryptedSize: 20 },
        ]),
      )
      .get("/api/v2/files/o1/contents/")
      .reply(
        200,
        "[rescale-run] starting the runner with 4 threads\nepoch 1/2 loss 0.9\nepoch 2/2 loss 0.5\n[rescale-run] runner exited with status 0\n",
      )
      // Right after Completed the list is incomplete while the cluster stops; it is read again once Stopped.
      .get("/api/v2/jobs/JOB1/cluster_statuses/")
      .query(true)
      .reply(200, page([{ status: "Stopping", statusDate: date(4) }]))
      .get("/api/v2/jobs/JOB1/files/")
      .query((q) => q.search === undefined)
      .reply(
        200,
        page([
          { id: "o1", name: "process_output.log", relativePath: "process_output.log", decryptedSize: 20 },
        ]),
      )
      .get("/api/v2/jobs/JOB1/cluster_statuses/")
      .query(true)
      .reply(200, page([{ status: "Stopped", statusDate: date(5) }]))
      .get("/api/v2/jobs/JOB1/files/")
      .query((q) => q.search === undefined)
      .reply(
        200,
        page([
          { id: "o1", name: "process_output.log", relativePath: "process_output.log", decryptedSize: 20 },
          { id: "o2", name: "metrics.json", relativePath: "outputs/metrics.json", decryptedSize: 30 },
          { id: "o3", name: "run.json", relativePath: "outputs/run.json", decryptedSize: 40 },
        ]),
      )
      .get("/api/v2/files/o1/contents/")
      .reply(200, "log\n")
      .get("/api/v2/files/o2/contents/")
      .reply(200, JSON.stringify({ accuracy: 0.9, macroF1: 0.88 }))
      // the runner's own completion record: submit succeeds only with it
      .get("/api/v2/files/o3/contents/")
      .reply(200, JSON.stringify({ finishedAt: "2026-01-01T00:00:00.000Z" }));

    const r = await runInProcess(
      [
        "submit",
        "--data",
        dataDir,
        "--core-type",
        "HPC-3",
        "--cores",
        "4",
        "--walltime",
        "7h30m",
        "--allow-ip",
        "203.0.113.7",
        "--runner-bundle",
        bundle,
        "--yes",
        "--poll",
        "0.01",
        "--out",
        out,
        "--epochs",
        "2",
      ],
      env,
    );
    expect(r.stderr).not.toContain(KEY);
    expect(r.stdout).not.toContain(KEY);
    expect(r.code, r.stderr).toBe(0);

    // The exact create body Rescale expects.
    expect(created).toBeDefined();
    const ja = (created!.jobanalyses as Record<string, unknown>[])[0]!;
    expect(ja.hardware).toEqual({
      coreType: "hpc-3",
      coresPerSlot: 4,
      slots: 1,
      walltime: 8,
      type: "interactive",
    });
    expect(ja.flags).toEqual({ igCv: true, runForever: true });
    expect(ja.analysis).toEqual({ code: "miniconda_e2e", version: "4.8.4_e2ed" });
    expect(ja.command).toBe("sh rescale-run-bootstrap.sh");
    expect(ja.inputFiles).toEqual([
      { id: "f1", decompress: true },
      { id: "OLDBUNDLE", decompress: false },
      { id: "f2", decompress: false },
    ]);
    expect(r.stderr).toMatch(
      /runner bundle: already uploaded as file OLDBUNDLE \(same MD5 [0-9a-f]{32}\), reused/,
    );
    expect(created!.billingPriorityValue).toBe("INSTANT");
    expect(created!.cidrRule).toBe("203.0.113.7/32");
    expect(String(created!.name)).toMatch(/^rescale-run Dataset_BUSI_with_GT \[rr-[0-9a-f]+\]$/);
    expect(uploads[0]).toMatch(/^dataset-[0-9a-f]+\.zip$/);
    expect(uploads.slice(1)).toEqual(["rescale-run-bootstrap.sh"]);

    // Plan, streamed training lines, stop after training, outcome from the runner's exit status.
    expect(r.stdout).toContain("walltime        8 h (7 h 30 min requested, rounded up to whole hours)");
    expect(r.stdout).toContain("maximum cost");
    expect(r.stdout.match(/epoch 2\/2 loss 0.5/g)).toHaveLength(1);
    expect(r.stderr).toContain("stopping workstation JOB1");
    expect(readFileSync(join(out, "outputs/metrics.json"), "utf8")).toContain("0.9");
    expect(r.stdout).toContain("accuracy 0.900, macro F1 0.880");
    expect(
      scope.pendingMocks().filter((m) => !/statuses|runs|tail|directory-contents|computeprices/.test(m)),
    ).toEqual([]);
  });

  it("refuses cores the core type does not offer before uploading anything", async () => {
    const env = sandboxEnv({ RESCALE_API_KEY: KEY, RESCALE_API_URL: BASE });
    mockCatalog(nock(BASE));
    const r = await runInProcess(
      ["submit", "--data", dataDir, "--core-type", "bronze", "--cores", "4", "--walltime", "8h", "--yes"],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Bronze (bronze) offers 28 cores per node, not 4");
  });

  it("suggests a core type for a misspelling", async () => {
    const env = sandboxEnv({ RESCALE_API_KEY: KEY, RESCALE_API_URL: BASE });
    mockCatalog(nock(BASE));
    const r = await runInProcess(
      [
        "submit",
        "--data",
        dataDir,
        "--core-type",
        "titanum",
        "--cores",
        "4",
        "--walltime",
        "8h",
        "--dry-run",
      ],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Did you mean "titanium"');
  });

  it("--dry-run prints the plan with the cheapest type and uploads nothing", async () => {
    const env = sandboxEnv({ RESCALE_API_KEY: KEY, RESCALE_API_URL: BASE });
    mockCatalog(nock(BASE));
    const r = await runInProcess(
      [
        "submit",
        "--data",
        dataDir,
        "--cores",
        "4",
        "--walltime",
        "8h",
        "--dry-run",
        "--json",
        "--software",
        "user_included",
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const { plan, bootstrapScript } = JSON.parse(r.stdout);
    // Cheapest 4-core type in the 2017 JP catalog by on-demand priority price.
    // A workstation: only types that can host a desktop (remoteVizAllowed).
    const fits = catalog.results.filter(
      (t: { cores: number[]; isDeprecated: boolean; remoteVizAllowed: boolean }) =>
        t.cores.includes(4) && !t.isDeprecated && t.remoteVizAllowed,
    );
    const cheapest = fits.sort((a: { price: number }, b: { price: number }) => a.price - b.price)[0];
    expect(plan.coreType.code).toBe(cheapest.code);
    expect(plan.maxCost).toBeCloseTo(cheapest.price * 4 * 8, 6);
    expect(plan.walltime.hours).toBe(8);
    expect(plan.priceSource).toBe("coretypes"); // computeprices answered 404: the core type's own price
    expect(bootstrapScript).toContain("--threads 4");
  });

  it("maps a 401 to exit code 3 without printing the key", async () => {
    const env = sandboxEnv({ RESCALE_API_KEY: KEY, RESCALE_API_URL: BASE });
    nock(BASE).get("/api/v2/coretypes/").query(true).reply(401, { detail: "Invalid token." });
    const r = await runInProcess(["coretypes", "list"], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("Invalid token.");
    expect(r.stderr).not.toContain(KEY);
  });

  it("--batch --detach creates a compute job (no workstation flags) at economy priority and returns its id", async () => {
    const env = sandboxEnv({ RESCALE_API_KEY: KEY, RESCALE_API_URL: BASE });
    let created: Record<string, unknown> | undefined;
    let n = 0;
    const scope = mockCatalog(nock(BASE))
      .get("/api/v2/files/")
      .query(true)
      .times(3)
      .reply(200, page([]))
      .post("/api/v2/files/contents/")
      .times(3)
      .reply(201, () => ({ id: `b${++n}`, name: `file${n}` }))
      .post("/api/v2/jobs/", (body) => {
        created = body;
        return true;
      })
      .reply(201, () => ({ id: "JOB2", name: created?.name }))
      .post("/api/v2/jobs/JOB2/submit/")
      .reply(200, "");
    const r = await runInProcess(
      [
        "submit",
        "--data",
        dataDir,
        "--core-type",
        "titanium",
        "--cores",
        "8",
        "--walltime",
        "1d12h",
        "--batch",
        "--priority",
        "on-demand-economy",
        "--runner-bundle",
        bundle,
        "--detach",
        "--yes",
        "--json",
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).jobId).toBe("JOB2");
    const ja = (created!.jobanalyses as Record<string, unknown>[])[0]!;
    expect(ja.hardware).toEqual({
      coreType: "titanium",
      coresPerSlot: 8,
      slots: 1,
      walltime: 36,
      type: "compute",
    });
    expect(ja.flags).toBeUndefined();
    expect(created!.billingPriorityValue).toBe("ON_DEMAND");
    expect(created!.isLowPriority).toBe(true);
    expect(scope.pendingMocks().filter((m) => !/computeprices/.test(m))).toEqual([]);
  });

  it("status shows the timeline oldest first and exits 1 for Completed with a failure reason", async () => {
    const env = sandboxEnv({ RESCALE_API_KEY: KEY, RESCALE_API_URL: BASE });
    const d = (m: number) => `2026-01-01T00:${String(m).padStart(2, "0")}:00Z`;
    nock(BASE)
      .get("/api/v2/jobs/J9/")
      .reply(200, {
        id: "J9",
        name: "busi [rr-0123456789abcdef]",
        jobanalyses: [
          {
            analysis: { code: "x" },
            hardware: { coreType: "hpc-3", coresPerSlot: 4, walltime: 8, type: "interactive" },
          },
        ],
      })
      .get("/api/v2/jobs/J9/statuses/")
      .query(true)
      .reply(
        200,
        page([
          { status: "Completed", statusDate: d(9), statusReason: "A run failed" },
          { status: "Executing", statusDate: d(5) },
          { status: "Queued", statusDate: d(1) },
        ]),
      )
      .get("/api/v2/jobs/J9/cluster_statuses/")
      .query(true)
      .reply(200, page([{ status: "Stopped", statusDate: d(9) }]));
    const r = await runInProcess(["status", "J9", "--json"], env);
    expect(r.code).toBe(1);
    const s = JSON.parse(r.stdout);
    expect(s.name).toBe("busi");
    expect(s.outcome).toBe("failed");
    expect(s.statuses.map((x: { status: string }) => x.status)).toEqual(["Queued", "Executing", "Completed"]);
    expect(s.schema).toBe(1);
    expect(s.hardware).toEqual({ coreType: "hpc-3", cores: 4, walltimeHours: 8, type: "workstation" });
    expect(s.durationSeconds).toBe(240);
  });
});
