import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  analysis,
  clusterStatus,
  instance,
  job,
  jobStatus,
  minicondaInteractive,
  page,
  rescaleFile,
} from "@rescale-run/testkit/rescale-payloads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toCidrRule, ValidationError } from "../src/index.js";
import { api, testClient, useNock } from "./helpers.js";

useNock();

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sdk-ws-"));
  await writeFile(join(dir, "notebook.ipynb"), "{}");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("workstations", () => {
  it("turns an IP into a CIDR rule and rejects nonsense", () => {
    expect(toCidrRule("203.0.113.7")).toBe("203.0.113.7/32");
    expect(toCidrRule("203.0.113.0/24")).toBe("203.0.113.0/24");
    expect(toCidrRule("2001:db8::1")).toBe("2001:db8::1/128");
    expect(() => toCidrRule("my laptop")).toThrow(ValidationError);
    expect(() => toCidrRule("10.0.0.1/33")).toThrow(ValidationError);
  });

  it("uploads attachments, resolves versions, creates an interactive job, submits, waits, connects, stops", async () => {
    const chrome = analysis({
      code: "chrome_interactive",
      name: "Google Chrome Interactive",
      versions: [{ version: "latest", versionCode: "112", allowedCoreTypes: ["ruby"] }],
    });
    api()
      .get("/api/v2/analyses/")
      .query({ page_size: "100" })
      .times(2)
      .reply(200, page([chrome, minicondaInteractive()]));
    api()
      .post("/api/v2/files/contents/")
      .reply(201, rescaleFile({ id: "NoteBk", name: "notebook.ipynb" }));
    let body: Record<string, unknown> = {};
    api()
      .post("/api/v2/jobs/", (b) => {
        body = b;
        return true;
      })
      .reply(201, (_u, b) =>
        job({
          id: "WS1",
          name: (b as { name: string }).name,
          jobanalyses: (b as { jobanalyses: unknown }).jobanalyses,
        }),
      );
    api().post("/api/v2/jobs/WS1/submit/").reply(200);
    api()
      .get("/api/v2/jobs/WS1/statuses/")
      .reply(200, page([jobStatus("Queued", "2026-11-25T11:00:00Z")]));
    api()
      .get("/api/v2/jobs/WS1/statuses/")
      .times(2)
      .reply(
        200,
        page([jobStatus("Executing", "2026-11-25T11:08:00Z"), jobStatus("Queued", "2026-11-25T11:00:00Z")]),
      );
    api()
      .get("/api/v2/jobs/WS1/cluster_statuses/")
      .times(2)
      .reply(200, page([clusterStatus("Started")]));
    api()
      .get("/api/v2/jobs/WS1/instances/")
      .reply(200, page([instance({ role: "worker", publicIp: "10.0.0.2" }), instance()]));
    api().post("/api/v2/jobs/WS1/stop/").reply(202);
    api()
      .get("/api/v2/jobs/WS1/files/")
      .reply(200, page([rescaleFile({ id: "Out", name: "process_output.log", typeId: 5 })]));

    const client = testClient();
    const progress: number[] = [];
    const ws = await client.workstations.create({
      name: "busi notebook",
      coreType: "ruby",
      cores: 4,
      walltime: 8,
      software: [
        { code: "chrome_interactive", version: "latest" },
        { code: "miniconda_e2e", version: "4.8.4" },
      ],
      attachments: [join(dir, "notebook.ipynb"), { id: "DataZip", decompress: false }],
      allowIp: "203.0.113.7",
      onUploadProgress: (_f, e) => progress.push(e.loaded),
    });
    expect(ws.id).toBe("WS1");
    expect(progress).toEqual([2]);
    const analyses = body.jobanalyses as Array<Record<string, unknown>>;
    expect(analyses.map((a) => a.analysis)).toEqual([
      { code: "chrome_interactive", version: "112" },
      { code: "miniconda_e2e", version: "4.8.4_e2ed" },
    ]);
    expect(analyses[0]).toMatchObject({
      hardware: { coreType: "ruby", coresPerSlot: 4, slots: 1, walltime: 8, type: "interactive" },
      inputFiles: [
        { id: "NoteBk", decompress: true },
        { id: "DataZip", decompress: false },
      ],
      flags: { igCv: true, runForever: true },
    });
    expect(body).toMatchObject({ cidrRule: "203.0.113.7/32", billingPriorityValue: "INSTANT" });

    const active = await ws.waitUntilActive({ minDelayMs: 1, maxDelayMs: 2 });
    expect(active.clusterStatus).toBe("Started");
    expect((await ws.status()).state).toBe("active");
    expect(await ws.connection()).toEqual({
      host: "ec2-203-0-113-10.compute.example",
      ip: "203.0.113.10",
      user: "uprod_abc",
      sshPort: 22,
      clusterId: "ClUs1",
      sshCommand: "ssh -p 22 uprod_abc@ec2-203-0-113-10.compute.example",
      desktopUrl: "https://platform.rescale.test/in-browser-desktops/ClUs1/",
    });
    await ws.stop();
    expect((await ws.outputs()).map((f) => f.name)).toEqual(["process_output.log"]);
  });

  it("reports no SSH when the node says sshPort null (e.g. the local platform)", async () => {
    api()
      .get("/api/v2/jobs/L1/")
      .reply(200, job({ id: "L1" }));
    api()
      .get("/api/v2/jobs/L1/instances/")
      .reply(200, page([instance({ sshPort: null, publicHostname: "127.0.0.1" })]));
    const ws = await testClient().workstations.get("L1");
    const connection = await ws.connection();
    expect(connection.sshPort).toBeUndefined();
    expect(connection.sshCommand).toBeUndefined();
    expect(connection.host).toBe("127.0.0.1");
  });

  it("explains an unknown software version", async () => {
    api()
      .get("/api/v2/analyses/")
      .query({ page_size: "100" })
      .reply(200, page([minicondaInteractive()]));
    await expect(
      testClient().workstations.create({
        name: "x",
        coreType: "ruby",
        cores: 4,
        walltime: 1,
        software: [{ code: "miniconda_e2e", version: "9.9" }],
      }),
    ).rejects.toThrow(/has no version "9.9". Available: 4.8.4 \(4.8.4_e2ed\)/);
  });
});
