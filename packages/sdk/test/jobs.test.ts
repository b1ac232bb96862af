import {
  clusterStatus,
  completedStatuses,
  instance,
  job,
  jobStatus,
  page,
  rescaleFile,
} from "@rescale-run/testkit/rescale-payloads";
import { describe, expect, it } from "vitest";
import {
  ConnectionError,
  type CreateJobRequest,
  clientTokenOf,
  parseWalltime,
  ServerError,
  stripClientToken,
  toJobBody,
  ValidationError,
  WalltimeError,
} from "../src/index.js";
import { api, testClient, useNock } from "./helpers.js";

useNock();

const request: CreateJobRequest = {
  name: "resnet50-busi",
  analysis: { code: "user_included", version: "0" },
  command: "python train.py",
  hardware: { coreType: "emerald", cores: 4, walltime: parseWalltime("90m") },
  inputFiles: ["FiLe1", { id: "FiLe2", decompress: false }],
  envVars: { EPOCHS: "5" },
  priority: "onDemandEconomy",
  cidrRule: "203.0.113.7/32",
};

function resetError(): Error {
  return Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
}

describe("job body", () => {
  it("matches the documented wire shape with walltime in whole hours", () => {
    expect(toJobBody(request)).toEqual({
      name: "resnet50-busi",
      jobanalyses: [
        {
          analysis: { code: "user_included", version: "0" },
          command: "python train.py",
          hardware: { coreType: "emerald", coresPerSlot: 4, slots: 1, walltime: 2, type: "compute" },
          inputFiles: [
            { id: "FiLe1", decompress: true },
            { id: "FiLe2", decompress: false },
          ],
          envVars: { EPOCHS: "5" },
        },
      ],
      billingPriorityValue: "ON_DEMAND",
      isLowPriority: true,
      cidrRule: "203.0.113.7/32",
    });
  });

  it("tags the name with a client token that can be read back and stripped", () => {
    const body = toJobBody(request, "rr-0123456789abcdef");
    expect(body.name).toBe("resnet50-busi [rr-0123456789abcdef]");
    expect(clientTokenOf(body.name as string)).toBe("rr-0123456789abcdef");
    expect(stripClientToken(body.name as string)).toBe("resnet50-busi");
  });

  it("rejects bad cores and walltimes before any request", () => {
    expect(() => toJobBody({ ...request, hardware: { ...request.hardware, cores: 2.5 } })).toThrow(
      ValidationError,
    );
    expect(() => toJobBody({ ...request, hardware: { ...request.hardware, walltime: 400 } })).toThrow(
      WalltimeError,
    );
    expect(() => toJobBody({ ...request, name: " " })).toThrow(ValidationError);
  });
});

describe("jobs", () => {
  it("creates a job (POST /api/v2/jobs/ -> 201) with the token-tagged name", async () => {
    let sent: Record<string, unknown> | undefined;
    api()
      .post("/api/v2/jobs/", (body) => {
        sent = body;
        return true;
      })
      .reply(201, (_uri, body) => job({ name: (body as { name: string }).name }));
    const created = await testClient().jobs.create(request, { clientToken: "rr-00000000000000aa" });
    expect(sent?.name).toBe("resnet50-busi [rr-00000000000000aa]");
    expect(created.id).toBe("JoB1");
    expect(created.jobanalyses[0]?.hardware?.walltime).toBe(8);
  });

  it("does not duplicate a job when the create response is lost: finds it by token", async () => {
    const token = "rr-00000000000000bb";
    const posts: unknown[] = [];
    api()
      .post("/api/v2/jobs/", (body) => posts.push(body) > 0)
      .replyWithError(resetError());
    api()
      .get("/api/v2/jobs/")
      .query({ state: "not_completed", page_size: "100" })
      .reply(
        200,
        page([
          job({ id: "Other", name: "x [rr-ffffffffffffffff]" }),
          job({ id: "Made", name: `resnet50-busi [${token}]` }),
        ]),
      );
    const created = await testClient().jobs.create(request, { clientToken: token, retryDelayMs: 1 });
    expect(created.id).toBe("Made");
    expect(posts).toHaveLength(1);
  });

  it("keeps looking (never re-sends) while the lookup after a lost create answer itself fails", async () => {
    const token = "rr-00000000000000dd";
    const posts: unknown[] = [];
    api()
      .post("/api/v2/jobs/", (body) => posts.push(body) > 0)
      .replyWithError(resetError());
    api().get("/api/v2/jobs/").query(true).times(3).reply(503, "unavailable"); // one lookup, after its GET retries
    api() // a second create would land here and make a duplicate
      .post("/api/v2/jobs/", (body) => posts.push(body) > 0)
      .optionally()
      .reply(201, job({ id: "Duplicate", name: `resnet50-busi [${token}]` }));
    api()
      .get("/api/v2/jobs/")
      .query(true)
      .reply(200, page([job({ id: "Made", name: `resnet50-busi [${token}]` })]));
    const created = await testClient().jobs.create(request, { clientToken: token, retryDelayMs: 1 });
    expect(created.id).toBe("Made");
    expect(posts).toHaveLength(1);
  });

  it("re-sends a create whose lost answer left no job, once", async () => {
    const token = "rr-00000000000000cc";
    api().post("/api/v2/jobs/").reply(502, "Bad Gateway");
    api().get("/api/v2/jobs/").query(true).reply(200, page([]));
    api()
      .post("/api/v2/jobs/")
      .reply(201, job({ id: "Second", name: `resnet50-busi [${token}]` }));
    const created = await testClient().jobs.create(request, { clientToken: token, retryDelayMs: 1 });
    expect(created.id).toBe("Second");
  });

  it("never re-sends a create when the token is disabled", async () => {
    api().post("/api/v2/jobs/").reply(500, { detail: "boom" });
    await expect(testClient().jobs.create(request, { clientToken: false })).rejects.toBeInstanceOf(
      ServerError,
    );
  });

  it("submits (POST .../submit/ -> 200, empty)", async () => {
    const scope = api().post("/api/v2/jobs/JoB1/submit/").reply(200);
    await testClient().jobs.submit("JoB1");
    scope.done();
  });

  it("does not submit twice when the submit answer is lost but the job is queued", async () => {
    api().post("/api/v2/jobs/JoB1/submit/").replyWithError(resetError());
    api()
      .get("/api/v2/jobs/JoB1/statuses/")
      .reply(
        200,
        page([jobStatus("Queued", "2026-11-25T11:00:30Z"), jobStatus("Pending", "2026-11-25T11:00:00Z")]),
      );
    await testClient().jobs.submit("JoB1", { retryDelayMs: 1 });
  });

  it("gives up on submit with the last error when the job never shows as submitted (no status at all)", async () => {
    api().post("/api/v2/jobs/JoB1/submit/").times(2).replyWithError(resetError());
    api().get("/api/v2/jobs/JoB1/statuses/").times(2).reply(200, page([]));
    await expect(testClient().jobs.submit("JoB1", { retries: 1, retryDelayMs: 1 })).rejects.toBeInstanceOf(
      ConnectionError,
    );
  });

  it("takes Pending after a lost submit answer as submitted: never submits twice", async () => {
    // A saved job has no status; Pending is the first status after submit (the team's Rescale API notes; docs/sdk.md).
    api().post("/api/v2/jobs/JoB1/submit/").once().replyWithError(resetError());
    api()
      .get("/api/v2/jobs/JoB1/statuses/")
      .reply(200, page([jobStatus("Pending", "2026-11-25T11:00:00Z")]));
    await testClient().jobs.submit("JoB1", { retries: 3, retryDelayMs: 1 });
  });

  it("gets, lists with filters, stops and deletes", async () => {
    api().get("/api/v2/jobs/JoB1/").reply(200, job());
    api()
      .get("/api/v2/jobs/")
      .query({ state: "not_completed", job_status: "WAITING_FOR_QUEUE" })
      .reply(200, page([job()]));
    api().post("/api/v2/jobs/JoB1/stop/").reply(202);
    api().delete("/api/v2/jobs/JoB1/").reply(204);
    const client = testClient();
    expect((await client.jobs.get("JoB1")).name).toBe("resnet50-busi");
    expect(await client.jobs.list({ state: "not_completed", jobStatus: "Waiting for Queue" })).toHaveLength(
      1,
    );
    await client.jobs.stop("JoB1");
    await client.jobs.delete("JoB1");
  });

  it("reads statuses newest first across pages, tolerating dates without a zone", async () => {
    const statuses = completedStatuses("A run failed");
    api()
      .get("/api/v2/jobs/JoB1/statuses/")
      .reply(200, page(statuses.slice(0, 3), { count: 6, next: "/api/v2/jobs/JoB1/statuses/?page=2" }));
    api()
      .get("/api/v2/jobs/JoB1/statuses/")
      .query({ page: "2" })
      .reply(200, page([...statuses.slice(3, 5), jobStatus("Pending", "2026-11-25 11:00:00")], { count: 6 }));
    const result = await testClient().jobs.statuses("JoB1");
    expect(result.map((s) => s.status)).toEqual([
      "Completed",
      "Executing",
      "Validated",
      "Started",
      "Queued",
      "Pending",
    ]);
    expect(result[0]?.statusReason).toBe("A run failed");
    expect(result[5]?.statusDate?.toISOString()).toBe("2026-11-25T11:00:00.000Z");
  });

  it("reads cluster statuses, runs, directory contents, tail and instances", async () => {
    api()
      .get("/api/v2/jobs/JoB1/cluster_statuses/")
      .reply(
        200,
        page([
          clusterStatus("Started", "2026-11-25T11:09:00Z"),
          clusterStatus("Starting", "2026-11-25T11:01:00Z"),
        ]),
      );
    api()
      .get("/api/v2/jobs/JoB1/runs/")
      .reply(200, page([{ id: 1, dateStarted: "2026-11-25T11:10:00Z" }]));
    api()
      .get("/api/v2/jobs/JoB1/runs/1/directory-contents/")
      .times(2)
      .reply(200, [
        { path: "shared/logs/process_output.log", resource: "x" },
        { path: "shared/process_output.log", size: 10 },
      ]);
    api()
      .get("/api/v2/jobs/JoB1/runs/1/tail/shared/process_output.log")
      .query({ lines: "2" })
      .reply(200, { fileType: "text", lines: ["epoch 1", "epoch 2"] });
    api()
      .get("/api/v2/jobs/JoB1/instances/")
      .reply(200, page([instance()]));
    const jobs = testClient().jobs;
    expect((await jobs.clusterStatuses("JoB1")).map((s) => s.status)).toEqual(["Started", "Starting"]);
    const runs = await jobs.runs("JoB1");
    expect(runs[0]?.id).toBe("1");
    expect((await jobs.directoryContents("JoB1", "1")).length).toBe(2);
    // the log's path comes from directory-contents (a workstation's files live under shared/)
    const logPath = await jobs.findRunFile("JoB1", "1", "process_output.log");
    expect(logPath).toBe("shared/process_output.log");
    // ...and tail is called WITHOUT a trailing slash (nock matches the exact path)
    expect((await jobs.tail("JoB1", "1", logPath!, { lines: 2 })).lines).toEqual(["epoch 1", "epoch 2"]);
    expect((await jobs.instances("JoB1"))[0]?.publicIp).toBe("203.0.113.10");
  });

  it("lists a job's output files with search, and reads the desktop password", async () => {
    api()
      .get("/api/v2/jobs/JoB1/files/")
      .query({ search: "process_output" })
      .reply(200, page([rescaleFile({ id: "Out1", name: "process_output.log", typeId: 5 })]));
    api()
      .post("/api/v2/clusters/ClUs1/remote_viz_hardware_settings/password/")
      .reply(200, { data: "s3cret" });
    const jobs = testClient().jobs;
    expect((await jobs.files("JoB1", { search: "process_output" }))[0]?.typeId).toBe(5);
    expect(await jobs.desktopPassword("ClUs1")).toBe("s3cret");
    expect(jobs.desktopUrl("ClUs1")).toBe("https://platform.rescale.test/in-browser-desktops/ClUs1/");
  });
});
