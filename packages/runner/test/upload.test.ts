import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { RescaleClient } from "@rescale-run/sdk";
import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type UploadArtifactsOptions,
  UploadError,
  uploadAfterTraining,
  uploadArtifacts,
  workstationClient,
} from "../src/upload.js";

const BASE_URL = "https://platform.rescale.test";
const API_KEY = "f00dfeed0123456789abcdef0123456789abcdef";
const FAST_RETRY = { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5 };

/** A Rescale file object as `POST /api/v2/files/contents/` answers it (201). */
function rescaleFile(id: string, name: string, size: number) {
  return {
    id,
    name,
    typeId: 1,
    dateUploaded: "2026-11-25T18:00:00.000000Z",
    decryptedSize: size,
    md5: null,
    isUploaded: true,
    isDeleted: false,
    downloadUrl: `${BASE_URL}/api/v2/files/${id}/contents/`,
    path: `user/user_abc/${name}`,
    relativePath: name,
    owner: "someone@example.com",
  };
}

function api() {
  return nock(BASE_URL, { reqheaders: { authorization: `Token ${API_KEY}` } });
}

let root: string;
let outDir: string;
let files: string[];
const contents = ['{"accuracy":0.93}', "epoch,loss\n1,0.5\n"];

beforeAll(async () => {
  nock.disableNetConnect();
  root = await mkdtemp(path.join(tmpdir(), "rr-upload-"));
  outDir = path.join(root, "out");
  await mkdir(outDir);
  files = [path.join(outDir, "metrics.json"), path.join(outDir, "history file (1).csv")];
  for (let i = 0; i < files.length; i++) await writeFile(files[i]!, contents[i]!);
});
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  if (pending.length) throw new Error(`unused nock expectations: ${pending.join(", ")}`);
});
afterAll(async () => {
  nock.enableNetConnect();
  await rm(root, { recursive: true, force: true });
});

function run(overrides: Partial<UploadArtifactsOptions> = {}) {
  const logs: string[] = [];
  const promise = uploadArtifacts({
    files,
    outDir,
    // Exactly what Rescale gives a job (Embedded Job API Keys; Tutorial_Computational_Pipelines run_nextflow.sh).
    env: { RESCALE_API_KEY: API_KEY, RESCALE_API_BASE_URL: BASE_URL, RESCALE_JOB_ID: "JoB1" },
    log: (line) => logs.push(line),
    retry: FAST_RETRY,
    ...overrides,
  });
  return { promise, logs };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("uploadArtifacts", () => {
  it("uploads each file as multipart field 'file' with the workstation's key, retrying a transient 503", async () => {
    const bodies: string[] = [];
    api().post("/api/v2/files/contents/").reply(503, { detail: "Service Unavailable" });
    api()
      .post("/api/v2/files/contents/", (body) => {
        bodies.push(String(body));
        return true;
      })
      .reply(201, rescaleFile("fIdA1", "metrics.json", contents[0]!.length));
    api()
      .post("/api/v2/files/contents/", (body) => {
        bodies.push(String(body));
        return true;
      })
      .reply(201, rescaleFile("fIdB2", "history file (1).csv", contents[1]!.length));

    const { promise, logs } = run();
    const result = await promise;

    const expected = [
      {
        path: files[0],
        name: "metrics.json",
        id: "fIdA1",
        size: contents[0]!.length,
        sha256: sha256(contents[0]!),
      },
      {
        path: files[1],
        name: "history file (1).csv",
        id: "fIdB2",
        size: contents[1]!.length,
        sha256: sha256(contents[1]!),
      },
    ];
    expect(result).toEqual({
      status: "uploaded",
      files: expected,
      manifest: path.join(outDir, "uploaded.json"),
    });
    expect(JSON.parse(await readFile(path.join(outDir, "uploaded.json"), "utf8"))).toEqual(expected);

    expect(bodies[0]).toMatch(/name="file"; filename="metrics.json"/);
    expect(bodies[0]).toContain(contents[0]);
    expect(bodies[1]).toContain(contents[1]);

    expect(logs.filter((l) => l.includes("retrying"))).toHaveLength(1);
    expect(logs).toContain(`uploaded metrics.json (${contents[0]!.length} bytes) -> file id fIdA1`);
    expect(logs.some((l) => l.includes("fIdB2"))).toBe(true);
    const shown = [
      ...logs,
      JSON.stringify(result),
      await readFile(path.join(outDir, "uploaded.json"), "utf8"),
    ];
    for (const text of shown) {
      expect(text).not.toContain(API_KEY);
      expect(text.toLowerCase()).not.toContain("authorization");
    }
  });

  it("reports progress per file", async () => {
    api()
      .post("/api/v2/files/contents/")
      .reply(201, rescaleFile("p1", "metrics.json", contents[0]!.length));
    const seen: { file: string; loaded: number }[] = [];
    const { promise } = run({ files: [files[0]!], onProgress: (p) => seen.push(p) });
    await promise;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((p) => p.file === files[0])).toBe(true);
    expect(seen.at(-1)!.loaded).toBeGreaterThanOrEqual(contents[0]!.length);
  });

  it("uses a client passed in (--upload) even without workstation variables", async () => {
    const client = new RescaleClient({ apiKey: API_KEY, baseUrl: BASE_URL });
    api()
      .post("/api/v2/files/contents/")
      .reply(201, rescaleFile("c1", "metrics.json", contents[0]!.length));
    const { promise } = run({ files: [files[0]!], client, env: {} });
    const result = await promise;
    expect(result.status === "uploaded" && result.files.map((f) => f.id)).toEqual(["c1"]);
  });

  it("uploads only inside a job: RESCALE_JOB_ID + RESCALE_API_KEY, the URL from RESCALE_API_BASE_URL first", async () => {
    const { promise } = run({ env: { RESCALE_API_KEY: API_KEY, RESCALE_API_BASE_URL: BASE_URL } });
    // a key in a user's shell is not a job: no job id, no upload
    expect(await promise).toEqual({ status: "skipped", reason: expect.stringMatching(/RESCALE_JOB_ID/) });
    expect(workstationClient({ RESCALE_API_BASE_URL: BASE_URL, RESCALE_JOB_ID: "J" })).toBeNull();
    const job = { RESCALE_API_KEY: API_KEY, RESCALE_JOB_ID: "J" };
    expect(workstationClient({ ...job, RESCALE_API_BASE_URL: BASE_URL })?.baseUrl).toBe(BASE_URL);
    // older names as fallbacks, Rescale's own name first
    expect(workstationClient({ ...job, RESCALE_API_URL: BASE_URL })?.baseUrl).toBe(BASE_URL);
    expect(workstationClient({ ...job, RESCALE_BASE_URL: BASE_URL })?.baseUrl).toBe(BASE_URL);
    expect(
      workstationClient({ ...job, RESCALE_API_BASE_URL: BASE_URL, RESCALE_API_URL: "https://eu.rescale.com" })
        ?.baseUrl,
    ).toBe(BASE_URL);
  });

  it("does not retry a rejected key, keeps what was uploaded, and never shows the key", async () => {
    await rm(path.join(outDir, "uploaded.json"), { force: true });
    api()
      .post("/api/v2/files/contents/")
      .reply(201, rescaleFile("ok1", "metrics.json", contents[0]!.length));
    api()
      .post("/api/v2/files/contents/")
      .reply(401, { detail: `Invalid token ${API_KEY}.` });
    const { promise, logs } = run();
    const error = await promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UploadError);
    const upload = error as UploadError;
    expect(upload.message).toMatch(
      /upload of .*history file \(1\)\.csv to https:\/\/platform\.rescale\.test failed/,
    );
    expect(upload.uploaded.map((f) => f.id)).toEqual(["ok1"]);
    expect(
      JSON.parse(await readFile(path.join(outDir, "uploaded.json"), "utf8")).map((f: { id: string }) => f.id),
    ).toEqual(["ok1"]);
    const views = [
      upload.message,
      upload.stack ?? "",
      inspect(upload, { depth: 10, showHidden: true }),
      ...logs,
    ];
    for (const text of views) expect(text).not.toContain(API_KEY);
    expect(logs.some((l) => l.includes("retrying"))).toBe(false);
  });

  it("retries a 429 after its Retry-After", async () => {
    api().post("/api/v2/files/contents/").reply(429, { detail: "slow down" }, { "Retry-After": "0" });
    api()
      .post("/api/v2/files/contents/")
      .reply(201, rescaleFile("r1", "metrics.json", contents[0]!.length));
    const { promise, logs } = run({ files: [files[0]!] });
    const result = await promise;
    expect(result.status === "uploaded" && result.files[0]!.id).toBe("r1");
    expect(logs.filter((l) => l.includes("retrying"))).toHaveLength(1);
  });

  it("gives up after the retries on a persistent 503", async () => {
    api().post("/api/v2/files/contents/").times(3).reply(503, "busy");
    const { promise } = run({ files: [files[0]!] });
    await expect(promise).rejects.toThrow(/upload of .*metrics\.json .* failed/);
  });

  it("fails clearly for a missing file", async () => {
    const { promise } = run({ files: [path.join(outDir, "missing.png")] });
    await expect(promise).rejects.toThrow(/cannot upload .*missing\.png/);
  });
});

describe("uploadAfterTraining (the runner's upload step after a good training)", () => {
  const jobEnv = { RESCALE_API_KEY: API_KEY, RESCALE_API_BASE_URL: BASE_URL, RESCALE_JOB_ID: "JoB1" };

  it("skips outside a job unless asked, and with --no-upload", async () => {
    expect(await uploadAfterTraining({ mode: "auto", files, outDir, env: {} })).toMatchObject({
      status: "skipped",
    });
    expect(await uploadAfterTraining({ mode: false, files, outDir, env: jobEnv })).toEqual({
      status: "skipped",
      reason: "--no-upload",
    });
  });

  it("a failed upload is a warning result with what did upload, never a thrown error", async () => {
    api()
      .post("/api/v2/files/contents/")
      .reply(201, rescaleFile("ok1", "metrics.json", contents[0]!.length));
    api().post("/api/v2/files/contents/").times(3).reply(503, "busy");
    const result = await uploadAfterTraining({
      mode: "auto",
      files,
      outDir,
      env: jobEnv,
      retry: FAST_RETRY,
      log: () => {},
    });
    expect(result.status).toBe("failed");
    expect(result.status === "failed" && result.files.map((f) => f.id)).toEqual(["ok1"]);
    expect(result.status === "failed" && result.reason).not.toContain(API_KEY);
  });

  it("--upload without any credentials is a failed upload (warning), not an internal error", async () => {
    const home = await mkdtemp(path.join(tmpdir(), "rr-upload-home-"));
    const result = await uploadAfterTraining({
      mode: true,
      files,
      outDir,
      env: { HOME: home, XDG_CONFIG_HOME: path.join(home, ".config") },
    });
    expect(result).toMatchObject({ status: "failed", reason: expect.stringMatching(/No Rescale API key/) });
    await rm(home, { recursive: true, force: true });
  });
});
