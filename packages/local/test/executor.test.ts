import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { jobBody, RawApi } from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalPlatform } from "../src/index.js";
import { eventually, sleep, startTestPlatform, type TestPlatform } from "./helpers.js";

// The executor end to end through the API: statuses, environment, queueing, walltime, stop, failures.
// One walltime hour lasts 2 s here (the documented msPerWalltimeHour test hook); the API still takes hours.

let t: TestPlatform;

beforeAll(async () => {
  t = await startTestPlatform({ maxCores: 2, msPerWalltimeHour: 2000, killGraceMs: 300 });
});
afterAll(() => t?.close());

const newest = async (jobId: string) => (await t.api.statuses(jobId))[0];
const clusterStatuses = async (jobId: string) =>
  (
    await t.api.request<{ results: { status: string }[] }>("GET", `/api/v2/jobs/${jobId}/cluster_statuses/`)
  ).body.results.map((s) => s.status);
async function run(body: unknown): Promise<string> {
  const { id } = await t.api.createJob(body);
  await t.api.submit(id);
  return id;
}
const waitFor = (jobId: string, status: string) => t.api.waitForStatus(jobId, [status], 20_000);

describe("a successful job", () => {
  it("goes Pending -> Queued -> Started -> Validated -> Executing -> Completed, newest first", async () => {
    const id = await run(
      jobBody({
        name: "ok",
        command:
          'echo "threads=$OMP_NUM_THREADS url=$RESCALE_API_URL job=$RESCALE_JOB_ID mine=$MY_VAR"; echo err >&2; echo result > out.txt',
        cores: 2,
        envVars: { MY_VAR: "hello" },
      }),
    );
    const final = await t.api.waitForStatus(id);
    expect(final.statusReason).toBe("Completed successfully");
    const statuses = (await t.api.statuses(id)).map((s) => s.status);
    // As on Rescale, every end passes a Stopping entry (its reason tells a failed run or a user stop).
    expect(statuses).toEqual([
      "Completed",
      "Stopping",
      "Executing",
      "Validated",
      "Started",
      "Queued",
      "Pending",
    ]);
    expect(await clusterStatuses(id)).toEqual(["Stopped", "Stopping", "Started", "Starting", "Not Started"]);
    const files = await t.api.jobFiles(id);
    const log = files.find((f) => f.relativePath === "process_output.log")!;
    const text = (await t.api.download(log.id)).toString();
    expect(text).toContain(`threads=2 url=${t.platform.url} job=${id} mine=hello`);
    expect(text).toContain("err");
    const out = await t.api.request<{ results: { typeId: number; name: string }[] }>(
      "GET",
      `/api/v2/jobs/${id}/files/?search=out.txt`,
    );
    expect(out.body.results).toMatchObject([{ name: "out.txt", typeId: 5 }]);
    // A finished job cannot be started again.
    const again = await t.api.request("POST", `/api/v2/jobs/${id}/submit/`);
    expect(again.status).toBe(400);
    expect(JSON.stringify(again.body)).toContain("cannot be restarted");
  });

  it.skipIf(process.platform !== "linux" || os.cpus().length < 2)(
    "pins a 1-core job to one CPU",
    async () => {
      const id = await run(
        jobBody({ name: "affinity", command: "grep Cpus_allowed_list /proc/self/status", cores: 1 }),
      );
      expect((await t.api.waitForStatus(id)).statusReason).toBe("Completed successfully");
      const log = (await t.api.jobFiles(id)).find((f) => f.relativePath === "process_output.log")!;
      expect((await t.api.download(log.id)).toString()).toMatch(/^Cpus_allowed_list:\s+\d+\n$/);
    },
  );

  it("puts the host's node first on PATH for the Node analysis", async () => {
    const major = process.versions.node.split(".")[0]!;
    const id = await run(
      jobBody({
        name: "node",
        command: 'command -v node; node -e "console.log(process.version)"',
        analysis: { code: "node", version: major },
        walltimeHours: 20,
      }),
    );
    expect((await t.api.waitForStatus(id)).statusReason).toBe("Completed successfully");
    const log = (await t.api.jobFiles(id)).find((f) => f.relativePath === "process_output.log")!;
    expect((await t.api.download(log.id)).toString()).toBe(`${process.execPath}\n${process.version}\n`);
  });

  it("does not hand the host's Rescale credentials to the job", async () => {
    process.env.RESCALE_API_KEY = "host-secret-key";
    try {
      const id = await run(jobBody({ name: "env", command: 'test "$RESCALE_API_KEY" != host-secret-key' }));
      expect((await t.api.waitForStatus(id)).statusReason).toBe("Completed successfully");
    } finally {
      delete process.env.RESCALE_API_KEY;
    }
  });
});

describe("several software tiles", () => {
  it("runs a command repeated on every tile once, and different commands in order", async () => {
    const tiles = (commands: string[]) => {
      const body = jobBody({ name: "tiles", command: "" }) as { jobanalyses: Record<string, unknown>[] };
      const [first] = body.jobanalyses;
      body.jobanalyses = commands.map((command, i) => ({
        ...first,
        command,
        analysis:
          i === 0
            ? { code: "user_included", version: "0" }
            : { code: "miniconda_e2e", version: "4.8.4_e2ed" },
      }));
      return body;
    };
    const same = await run(tiles(["echo once >> count.txt", "echo once >> count.txt"]));
    expect((await t.api.waitForStatus(same)).statusReason).toBe("Completed successfully");
    const count = (await t.api.jobFiles(same)).find((f) => f.relativePath === "count.txt")!;
    expect((await t.api.download(count.id)).toString()).toBe("once\n");
    const chain = await run(tiles(["echo a > a.txt; exit 4", "echo b > b.txt"]));
    expect((await t.api.waitForStatus(chain)).statusReason).toBe(
      "A run failed: the command exited with code 4",
    );
    expect((await t.api.jobFiles(chain)).map((f) => f.relativePath)).not.toContain("b.txt");
  });
});

describe("failures", () => {
  it("an internal failure of the platform still completes the job, saying so", async () => {
    const dataDir = path.join(t.sandbox.root, "broken-platform");
    const broken = await startLocalPlatform({ dataDir, apiKey: t.platform.apiKey });
    try {
      const other = new RawApi(broken.url, broken.apiKey);
      fs.rmSync(path.join(dataDir, "jobs"), { recursive: true, force: true });
      fs.writeFileSync(path.join(dataDir, "jobs"), "not a directory"); // every sandbox now fails to be created
      const { id } = await other.createJob(jobBody({ name: "doomed", command: "true" }));
      await other.submit(id);
      const final = await other.waitForStatus(id);
      expect(final.statusReason).toMatch(/^The local platform failed to run the job: .*(ENOTDIR|EEXIST)/);
    } finally {
      await broken.close();
    }
  });

  it("a non-zero exit is Completed with 'A run failed' and the code", async () => {
    const id = await run(jobBody({ name: "fail", command: "echo partial > partial.txt; exit 3" }));
    expect((await t.api.waitForStatus(id)).statusReason).toBe("A run failed: the command exited with code 3");
    expect((await t.api.jobFiles(id)).map((f) => f.relativePath)).toContain("partial.txt");
  });
});

describe("queueing", () => {
  it("waits in Queued while the requested cores are busy, then runs", async () => {
    const big = await run(
      jobBody({ name: "holds-2", command: "sleep 3; echo done", cores: 2, walltimeHours: 20 }),
    );
    await waitFor(big, "Executing");
    const small = await run(jobBody({ name: "needs-1", command: "echo ran", cores: 1 }));
    await sleep(600);
    expect((await newest(small))?.status).toBe("Queued");
    expect((await newest(big))?.status).toBe("Executing");
    await t.api.waitForStatus(big);
    expect((await t.api.waitForStatus(small)).statusReason).toBe("Completed successfully");
    const bigDone = (await t.api.statuses(big))[0]!.statusDate;
    const smallStarted = (await t.api.statuses(small)).find((s) => s.status === "Started")!.statusDate;
    expect(Date.parse(smallStarted)).toBeGreaterThanOrEqual(Date.parse(bigDone) - 5);
  });
});

describe("walltime and stop", () => {
  it("terminates a job that exceeds its walltime (SIGTERM, then SIGKILL when ignored)", async () => {
    const started = Date.now();
    const id = await run(
      jobBody({ name: "too-long", command: "trap '' TERM; echo begin; sleep 60", walltimeHours: 1 }),
    );
    const final = await t.api.waitForStatus(id);
    expect(final.statusReason).toMatch(/^Exceeded the walltime of 1 hour/);
    expect(Date.now() - started).toBeLessThan(15_000);
    const log = (await t.api.jobFiles(id)).find((f) => f.relativePath === "process_output.log")!;
    expect((await t.api.download(log.id)).toString()).toContain("begin");
  });

  it("stop ends a running job (Stopping, then Completed 'Stopped by user'); delete waits for it", async () => {
    const id = await run(jobBody({ name: "stop-me", command: "echo up; sleep 60", walltimeHours: 100 }));
    await waitFor(id, "Executing");
    const busy = await t.api.request("DELETE", `/api/v2/jobs/${id}/`);
    expect(busy.status).toBe(400);
    const tail = await eventually(async () => {
      const res = await t.api.request<{ fileType: string; lines: string[] }>(
        "GET",
        `/api/v2/jobs/${id}/runs/1/tail/process_output.log?lines=5`,
      );
      return res.body.lines?.includes("up") ? res.body : undefined;
    });
    expect(tail.fileType).toBe("text");
    const listing = await t.api.request<{ path: string }[]>(
      "GET",
      `/api/v2/jobs/${id}/runs/1/directory-contents/`,
    );
    expect(listing.body.map((e) => e.path)).toContain("process_output.log");
    const executing = await t.api.request<{ results: { id: string }[] }>(
      "GET",
      "/api/v2/jobs/?job_status=EXECUTING",
    );
    expect(executing.body.results.map((j) => j.id)).toContain(id);
    const instances = await t.api.request<{ results: { publicIp: string; sshPort: null }[] }>(
      "GET",
      `/api/v2/jobs/${id}/instances/`,
    );
    expect(instances.body.results).toMatchObject([{ publicIp: "127.0.0.1", sshPort: null }]);

    expect((await t.api.request("POST", `/api/v2/jobs/${id}/stop/`)).status).toBe(202);
    const final = await t.api.waitForStatus(id);
    expect(final.statusReason).toBe("Stopped by user");
    expect((await t.api.statuses(id)).map((s) => s.status)).toContain("Stopping");
    expect((await clusterStatuses(id))[0]).toBe("Stopped");
    expect((await t.api.request("POST", `/api/v2/jobs/${id}/submit/`)).status).toBe(400);
    expect(
      (await t.api.request<{ results: unknown[] }>("GET", `/api/v2/jobs/${id}/instances/`)).body.results,
    ).toEqual([]);
    expect((await t.api.request("DELETE", `/api/v2/jobs/${id}/`)).status).toBe(204);
    expect((await t.api.request("GET", `/api/v2/jobs/${id}/`)).status).toBe(404);
  });

  it("an interactive job without a command idles like a workstation until stopped", async () => {
    const body = jobBody({ name: "ws", command: "", walltimeHours: 100 }) as {
      jobanalyses: { hardware: { type: string } }[];
    };
    body.jobanalyses[0]!.hardware.type = "interactive";
    const id = await run(body);
    await waitFor(id, "Executing");
    await sleep(300);
    expect((await newest(id))?.status).toBe("Executing");
    await t.api.request("POST", `/api/v2/jobs/${id}/stop/`);
    expect((await t.api.waitForStatus(id)).statusReason).toBe("Stopped by user");
  });

  it("stopping a queued job completes it without running it", async () => {
    const holder = await run(jobBody({ name: "holder", command: "sleep 60", cores: 2, walltimeHours: 100 }));
    await waitFor(holder, "Executing");
    const queued = await run(jobBody({ name: "never", command: "echo ran > ran.txt" }));
    await waitFor(queued, "Queued");
    await t.api.request("POST", `/api/v2/jobs/${queued}/stop/`);
    expect((await t.api.waitForStatus(queued)).statusReason).toBe("Stopped by user before the job started");
    expect(await t.api.jobFiles(queued)).toEqual([]);
    await t.api.request("POST", `/api/v2/jobs/${holder}/stop/`);
    await t.api.waitForStatus(holder);
  });
});
