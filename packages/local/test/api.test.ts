import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildZip, CORETYPES_2017_JP_FILE, jobBody, RawApi, type ZipEntry } from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { daemonStatus, LocalPlatformError, startLocalPlatform } from "../src/index.js";
import { startTestPlatform, type TestPlatform } from "./helpers.js";

// HTTP-level behaviour of the local platform: catalog, files, validation, pagination (plain fetch, no SDK).

let t: TestPlatform;
const CATALOG = CORETYPES_2017_JP_FILE;

beforeAll(async () => {
  t = await startTestPlatform({ catalogFile: CATALOG });
});
afterAll(() => t?.close());

type Page<T> = { count: number; next: string | null; previous: string | null; results: T[] };

describe("auth", () => {
  it("refuses requests without a key or with a wrong key, in DRF's shape", async () => {
    const none = await t.api.withKey(undefined).request("GET", "/api/v2/coretypes/");
    expect(none).toMatchObject({
      status: 401,
      body: { detail: "Authentication credentials were not provided." },
    });
    const wrong = await t.api.withKey("not-the-key").request("GET", "/api/v2/files/");
    expect(wrong).toMatchObject({ status: 401, body: { detail: "Invalid token." } });
  });

  it("refuses a Host header that is not a loopback name (DNS rebinding), like Django's ALLOWED_HOSTS", async () => {
    const { request } = await import("node:http");
    const port = Number(new URL(t.platform.url).port);
    const ask = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port,
            path: "/api/v2/coretypes/",
            headers: { host, authorization: `Token ${t.platform.apiKey}` },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });
    expect(await ask("evil.example:80")).toBe(400);
    expect(await ask(`localhost:${port}`)).toBe(200);
    expect(await ask(`127.0.0.1:${port}`)).toBe(200);
  });

  it("answers 404 {detail} for paths without the trailing slash", async () => {
    const res = await t.api.request("GET", "/api/v2/coretypes");
    expect(res).toMatchObject({ status: 404, body: { detail: "Not found." } });
  });
});

describe("data directory ownership", () => {
  it("refuses a second platform on the same data directory; status reports the in-process one", async () => {
    await expect(startLocalPlatform({ dataDir: t.dataDir })).rejects.toBeInstanceOf(LocalPlatformError);
    expect(await daemonStatus({ dataDir: t.dataDir })).toMatchObject({
      running: true,
      pid: process.pid,
      url: t.platform.url,
      standalone: false,
    });
  });
});

describe("catalog", () => {
  it("describes this machine truthfully, price 0, and lists catalog types as emulated", async () => {
    const page = (
      await t.api.request<Page<Record<string, unknown>>>("GET", "/api/v2/coretypes/?page_size=100")
    ).body;
    const local = page.results.find((c) => c.code === "local")!;
    const cpus = os.cpus().length;
    expect(local.cores).toContain(cpus);
    expect(Math.max(...(local.cores as number[]))).toBe(cpus);
    expect(local.memory).toBe(Math.floor(os.totalmem() / 1e6 / cpus)); // decimal MB per core, as Rescale
    expect(local.price).toBe(0);
    expect(local.isEmulated).toBe(false);
    const jade = page.results.find((c) => c.code === "gpu-kepler")!;
    expect(jade.isEmulated).toBe(true);
    expect(String(jade.description)).toMatch(/^\[emulated on this machine\]/);
    // The snapshot gives no GPU counts: unknown (null), never a made-up 0 that hides a GPU type from --gpus 1.
    expect(jade.gpuCounts).toBeNull();
    expect(page.count).toBe(1 + 18);
  });

  it("paginates with absolute next/previous links until the last page", async () => {
    const seen: string[] = [];
    let url: string | null = `${t.platform.url}/api/v2/coretypes/?page_size=5`;
    let pages = 0;
    while (url) {
      const res = await fetch(url, { headers: { authorization: `Token ${t.platform.apiKey}` } });
      const page = (await res.json()) as Page<{ code: string }>;
      expect(page.count).toBe(19);
      if (pages > 0) expect(page.previous).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v2\/coretypes\//);
      seen.push(...page.results.map((r) => r.code));
      url = page.next;
      if (url) expect(new URL(url).searchParams.get("page_size")).toBe("5");
      pages++;
    }
    expect(pages).toBe(4);
    expect(new Set(seen).size).toBe(19);
    const beyond = await t.api.request("GET", "/api/v2/coretypes/?page=9&page_size=5");
    expect(beyond).toMatchObject({ status: 404, body: { detail: "Invalid page." } });
  });

  it("prices local cores at 0 in the bare computeprices list", async () => {
    const prices = await t.api.request<{ coreType: string; value: { amount: string } }[]>(
      "GET",
      "/api/v2/billing/computeprices/",
    );
    expect(Array.isArray(prices.body)).toBe(true);
    expect(prices.body.filter((p) => p.coreType === "local").map((p) => p.value.amount)).toEqual(["0", "0"]);
  });

  it("offers user_included, a Node runner entry and the emulated miniconda_e2e", async () => {
    const page = (
      await t.api.request<Page<{ code: string; versions: { versionCode: string }[]; isEmulated: boolean }>>(
        "GET",
        "/api/v2/analyses/",
      )
    ).body;
    const byCode = new Map(page.results.map((a) => [a.code, a]));
    expect(byCode.get("user_included")?.versions[0]?.versionCode).toBe("0");
    expect(byCode.get("node")?.versions[0]?.versionCode).toBe(process.versions.node.split(".")[0]);
    expect(byCode.get("miniconda_e2e")).toMatchObject({
      isEmulated: true,
      versions: [{ versionCode: "4.8.4_e2ed" }],
    });
  });
});

describe("files", () => {
  it("uploads (201), checksums, lists, serves Range requests, renames and deletes", async () => {
    const file = path.join(t.sandbox.root, "data.bin");
    const bytes = crypto.randomBytes(300_001);
    fs.writeFileSync(file, bytes);
    const form = new FormData();
    form.set("file", await fs.openAsBlob(file), "data.bin");
    const up = await t.api.request<Record<string, unknown>>("POST", "/api/v2/files/contents/", form);
    expect(up.status).toBe(201);
    const id = up.body.id as string;
    expect(up.body).toMatchObject({
      name: "data.bin",
      typeId: 1,
      decryptedSize: bytes.length,
      md5: crypto.createHash("md5").update(bytes).digest("hex"),
      isUploaded: true,
      isDeleted: false,
      downloadUrl: `${t.platform.url}/api/v2/files/${id}/contents/`,
    });
    expect(up.body.fileChecksums).toContainEqual({
      hashFunction: "sha256",
      fileHash: crypto.createHash("sha256").update(bytes).digest("hex"),
    });

    const listed = (await t.api.request<Page<{ id: string }>>("GET", "/api/v2/files/?search=DATA")).body;
    expect(listed.results.map((f) => f.id)).toContain(id);
    expect(
      (await t.api.request<Page<unknown>>("GET", "/api/v2/files/?search=nothing-like-it")).body.count,
    ).toBe(0);

    const auth = { authorization: `Token ${t.platform.apiKey}` };
    const ranged = await fetch(`${t.platform.url}/api/v2/files/${id}/contents/`, {
      headers: { ...auth, range: "bytes=100-199" },
    });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 100-199/${bytes.length}`);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(bytes.subarray(100, 200));
    const open = await fetch(`${t.platform.url}/api/v2/files/${id}/contents/`, {
      headers: { ...auth, range: "bytes=300000-" },
    });
    expect(Buffer.from(await open.arrayBuffer())).toEqual(bytes.subarray(300_000));
    const bad = await fetch(`${t.platform.url}/api/v2/files/${id}/contents/`, {
      headers: { ...auth, range: "bytes=999999-" },
    });
    expect(bad.status).toBe(416);
    await bad.arrayBuffer();
    expect(await t.api.download(id)).toEqual(bytes);

    const text = path.join(t.sandbox.root, "lines.txt");
    fs.writeFileSync(text, "one\ntwo\nthree\n");
    const textFile = await t.api.upload(text);
    const lines = await t.api.request("GET", `/api/v2/files/${textFile.id}/lines/?start=1&count=5`);
    expect(lines.body).toEqual({ lines: ["two", "three"], start: 1, count: 2 });

    const renamed = await t.api.request<{ name: string }>("PATCH", `/api/v2/files/${id}/`, {
      name: "renamed.bin",
    });
    expect(renamed.body.name).toBe("renamed.bin");
    expect((await t.api.request("DELETE", `/api/v2/files/${id}/`)).status).toBe(204);
    expect((await t.api.request("GET", `/api/v2/files/${id}/`)).status).toBe(404);
  });

  it("keeps only the last path component of an uploaded file's name", async () => {
    const form = new FormData();
    form.set("file", new Blob(["x"]), "some/dir/x.txt");
    const res = await t.api.request<{ name: string }>("POST", "/api/v2/files/contents/", form);
    expect(res.status).toBe(201);
    expect(res.body.name).toBe("x.txt");
  });

  it('refuses an upload without the multipart field "file"', async () => {
    const form = new FormData();
    form.set("other", new Blob(["x"]), "x.txt");
    const res = await t.api.request("POST", "/api/v2/files/contents/", form);
    expect(res.status).toBe(400);
    expect(res.body).toHaveProperty("file");
  });
});

describe("job validation (400 in Rescale's nested shape)", () => {
  const job = (hardware: Record<string, unknown>, analysis = { code: "user_included", version: "0" }) => ({
    name: "v",
    jobanalyses: [
      {
        analysis,
        command: "true",
        hardware: { coreType: "local", coresPerSlot: 1, slots: 1, walltime: 1, type: "compute", ...hardware },
      },
    ],
  });

  it("coresPerSlot not among the core type's cores", async () => {
    const res = await t.api.request("POST", "/api/v2/jobs/", job({ coresPerSlot: 3 }));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      jobanalyses: [{ hardware: { coresPerSlot: [expect.stringMatching(/^Must be one of/)] } }],
    });
  });

  it("a display version instead of a versionCode", async () => {
    const res = await t.api.request(
      "POST",
      "/api/v2/jobs/",
      job({}, { code: "miniconda_e2e", version: "Miniconda 4.8.4" }),
    );
    expect(res.body).toEqual({
      jobanalyses: [{ analysis: { version: ["The specified version is not available."] } }],
    });
  });

  it("a walltime that is not whole hours, unknown core type, emulated type larger than this machine", async () => {
    const frac = await t.api.request("POST", "/api/v2/jobs/", job({ walltime: 0.5 }));
    expect(frac.body).toEqual({
      jobanalyses: [{ hardware: { walltime: [expect.stringContaining("whole hours")] } }],
    });
    const unknown = await t.api.request("POST", "/api/v2/jobs/", job({ coreType: "nope" }));
    expect(unknown.body).toEqual({
      jobanalyses: [{ hardware: { coreType: ['Unknown core type "nope".'] } }],
    });
    const big = await t.api.request("POST", "/api/v2/jobs/", job({ coreType: "bronze", coresPerSlot: 28 }));
    expect(big.status).toBe(400);
    expect(JSON.stringify(big.body)).toContain("emulated core type");
  });

  it("an input file that does not exist, and a missing name", async () => {
    const res = await t.api.request(
      "POST",
      "/api/v2/jobs/",
      jobBody({ name: "x", command: "true", inputFiles: [{ id: "nope00" }] }),
    );
    expect(res.body).toEqual({ jobanalyses: [{ inputFiles: ['Invalid file id "nope00": no such file.'] }] });
    // Every field's problem, as Django REST Framework answers (not only the first field's).
    const noName = await t.api.request("POST", "/api/v2/jobs/", { jobanalyses: [] });
    expect(noName.body).toEqual({
      name: ["This field is required."],
      jobanalyses: ["This field is required."],
    });
  });
});

describe("jobs list", () => {
  it("lists newest first, paginates and filters by state", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await t.api.createJob(jobBody({ name: `list-${i}`, command: "true" }))).id);
    const page1 = (await t.api.request<Page<{ id: string }>>("GET", "/api/v2/jobs/?page_size=2")).body;
    expect(page1.results.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    expect(page1.next).toMatch(/page=2/);
    const page2 = (await (
      await fetch(page1.next!, { headers: { authorization: `Token ${t.platform.apiKey}` } })
    ).json()) as Page<{ id: string }>;
    expect(page2.results[0]?.id).toBe(ids[0]);
    const completed = (await t.api.request<Page<unknown>>("GET", "/api/v2/jobs/?state=completed")).body;
    expect(completed.count).toBe(0);
    const notCompleted = (await t.api.request<Page<unknown>>("GET", "/api/v2/jobs/?state=not_completed"))
      .body;
    expect(notCompleted.count).toBeGreaterThanOrEqual(3);
    // Never submitted: no statuses yet, deletable at once.
    expect((await t.api.statuses(ids[0]!)).length).toBe(0);
    expect((await t.api.request("DELETE", `/api/v2/jobs/${ids[0]}/`)).status).toBe(204);
  });
});

describe("request bodies", () => {
  it("accepts an empty POST whatever its Content-Type (as Django does) and refuses broken JSON", async () => {
    const { id } = await t.api.createJob(jobBody({ name: "empty-body", command: "true" }));
    const auth = { authorization: `Token ${t.platform.apiKey}` };
    const submit = await fetch(`${t.platform.url}/api/v2/jobs/${id}/submit/`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
    });
    expect(submit.status).toBe(200);
    await submit.arrayBuffer();
    expect((await t.api.waitForStatus(id)).statusReason).toBe("Completed successfully");
    const broken = await fetch(`${t.platform.url}/api/v2/jobs/`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: '{"name": ',
    });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toEqual({ detail: expect.stringContaining("JSON parse error") });
  });
});

describe("zip inputs", () => {
  /** Uploads a zip of `entries` and runs `command` with it as input; returns the finished job's id and status. */
  async function runWithZip(name: string, entries: ZipEntry[], command: string) {
    const zip = path.join(t.sandbox.root, `${name}.zip`);
    fs.writeFileSync(zip, buildZip(entries));
    const file = await t.api.upload(zip);
    const job = await t.api.createJob(jobBody({ name, command, inputFiles: [{ id: file.id }] }));
    await t.api.submit(job.id);
    return { id: job.id, final: await t.api.waitForStatus(job.id) };
  }

  it("extracts nested entries and keeps unchanged inputs out of the outputs", async () => {
    const job = await runWithZip(
      "inputs",
      [
        { name: "data/a.txt", data: "alpha\n" },
        { name: "data/sub/b.txt", data: "beta\n" },
      ],
      "cat data/a.txt data/sub/b.txt > joined.txt",
    );
    expect(job.final.statusReason).toBe("Completed successfully");
    const outputs = await t.api.jobFiles(job.id);
    expect(outputs.map((f) => f.relativePath).sort()).toEqual(["joined.txt", "process_output.log"]);
    const joined = outputs.find((f) => f.relativePath === "joined.txt")!;
    expect((await t.api.download(joined.id)).toString()).toBe("alpha\nbeta\n");
  });

  it("refuses two input files with the same name instead of silently overwriting one", async () => {
    const file = path.join(t.sandbox.root, "same.txt");
    fs.writeFileSync(file, "one");
    const first = await t.api.upload(file);
    const second = await t.api.upload(file);
    const job = await t.api.createJob(
      jobBody({ name: "dupes", command: "true", inputFiles: [{ id: first.id }, { id: second.id }] }),
    );
    await t.api.submit(job.id);
    expect((await t.api.waitForStatus(job.id)).statusReason).toBe(
      'Input file staging failed: two input files are named "same.txt"; rename one (PATCH its name)',
    );
  });

  it("refuses a zip with a ../ entry and says why", async () => {
    const { final } = await runWithZip(
      "slip",
      [
        { name: "ok.txt", data: "ok" },
        { name: "../../escaped.txt", data: "pwned" },
      ],
      "true",
    );
    expect(final.statusReason).toMatch(/^Input file staging failed: slip\.zip: .*\.\.\/\.\.\/escaped\.txt/);
    expect(fs.existsSync(path.join(t.dataDir, "escaped.txt"))).toBe(false);
    expect(fs.existsSync(path.join(t.dataDir, "jobs", "escaped.txt"))).toBe(false);
  });
});

describe("Rescale's real behaviours, imitated (HTTP level)", () => {
  it("tail has no trailing slash (the slash form is 404); a workstation's paths are under shared/", async () => {
    const body = jobBody({ name: "tail-shape", command: "echo hello-tail; sleep 30" }) as {
      jobanalyses: { hardware: { type: string } }[];
    };
    body.jobanalyses[0]!.hardware.type = "interactive";
    const job = await t.api.createJob(body);
    await t.api.submit(job.id);
    await t.api.waitForStatus(job.id, ["Executing"]);
    const base = `/api/v2/jobs/${job.id}/runs/1`;
    const dir = (await t.api.request("GET", `${base}/directory-contents/`)).body as { path: string }[];
    expect(dir.map((e) => e.path)).toContain("shared/process_output.log");
    let tail = await t.api.request("GET", `${base}/tail/shared/process_output.log?lines=5`);
    for (let i = 0; i < 50 && !JSON.stringify(tail.body).includes("hello-tail"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      tail = await t.api.request("GET", `${base}/tail/shared/process_output.log?lines=5`);
    }
    expect(tail).toMatchObject({ status: 200, body: { lines: ["hello-tail"] } });
    expect((await t.api.request("GET", `${base}/tail/shared/process_output.log/?lines=5`)).status).toBe(404);
    expect((await t.api.request("GET", `${base}/tail/process_output.log?lines=5`)).status).toBe(404);
    await t.api.request("POST", `/api/v2/jobs/${job.id}/stop/`);
    await t.api.waitForStatus(job.id);
  });

  it("lists only the log and a Stopping cluster for outputSyncMs after Completed, then everything", async () => {
    const p = await startLocalPlatform({ dataDir: path.join(t.sandbox.root, "sync"), outputSyncMs: 1500 });
    try {
      const api = new RawApi(p.url, p.apiKey);
      const job = await api.createJob(jobBody({ name: "sync", command: "echo x > result.txt" }));
      await api.submit(job.id);
      await api.waitForStatus(job.id);
      const early = (await api.jobFiles(job.id)).map((f) => f.relativePath);
      const cluster = (await api.request("GET", `/api/v2/jobs/${job.id}/cluster_statuses/`)).body as Page<{
        status: string;
      }>;
      expect(early).toEqual(["process_output.log"]);
      expect(cluster.results[0]?.status).toBe("Stopping");
      await new Promise((r) => setTimeout(r, 1600));
      expect((await api.jobFiles(job.id)).map((f) => f.relativePath).sort()).toEqual([
        "process_output.log",
        "result.txt",
      ]);
    } finally {
      await p.close();
    }
  });
});
