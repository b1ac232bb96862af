import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import {
  type BadInputs,
  isLoopbackAddress,
  jobBody,
  listeningAddresses,
  makeSandbox,
  RawApi,
  type Sandbox,
  writeBadInputs,
} from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractZipSafely, UnsafeArchiveError } from "../src/executor/unzip.js";
import {
  ensureLocalApiKey,
  type LocalPlatform,
  localPlatformConfigPath,
  startLocalPlatform,
} from "../src/index.js";

// Issue 4, secrets and zip slip against the local platform: keys are required and checked, a job-scoped
// key dies with its job, the server binds loopback only, the key file is 0600, and no zip entry may write
// outside the job's working directory.

let sandbox: Sandbox;
let platform: LocalPlatform;
let api: RawApi;
let bad: BadInputs;
const savedEnv = { ...process.env };

beforeAll(async () => {
  sandbox = await makeSandbox("local-security-");
  Object.assign(process.env, sandbox.env);
  bad = await writeBadInputs(path.join(sandbox.root, "inputs"), 1);
  platform = await startLocalPlatform({ dataDir: path.join(sandbox.dataDir, "platform"), killGraceMs: 500 });
  api = new RawApi(platform.url, platform.apiKey);
});

afterAll(async () => {
  await platform?.close();
  process.env = savedEnv;
  await sandbox?.cleanup();
});

describe("local platform authentication", () => {
  it("refuses a request without a key, with a wrong key and with a malformed header", async () => {
    const noKey = await api.withKey(undefined).request("GET", "/api/v2/jobs/");
    expect(noKey.status).toBe(401);
    expect(noKey.body).toEqual({ detail: "Authentication credentials were not provided." });
    const wrong = await api.withKey("0".repeat(48)).request("GET", "/api/v2/coretypes/");
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ detail: "Invalid token." });
    const malformed = await fetch(`${platform.url}/api/v2/jobs/`, {
      headers: { authorization: `Basic ${Buffer.from(`u:${platform.apiKey}`).toString("base64")}` },
    });
    expect(malformed.status).toBe(401);
    // Every route is behind auth, including file contents and unknown paths.
    for (const p of ["/api/v2/files/x/contents/", "/api/v2/jobs/x/statuses/", "/no/such/path/"]) {
      expect((await api.withKey(undefined).request("GET", p)).status).toBe(401);
    }
    expect((await api.request("GET", "/api/v2/jobs/")).status).toBe(200);
  });

  it("accepts a job-scoped key while its job runs and refuses it once the job has ended", async () => {
    // The job proves its key works (writes the status code it got), and leaves the key as an output so the
    // test can try it after the job ended. (Only this test writes a key to an output on purpose.)
    const script = [
      "const env = process.env;",
      "const r = await fetch(env.RESCALE_API_URL + '/api/v2/jobs/' + env.RESCALE_JOB_ID + '/',",
      "  { headers: { authorization: 'Token ' + env.RESCALE_API_KEY } });",
      "const fs = await import('node:fs');",
      "fs.writeFileSync('status-while-running.txt', String(r.status));",
      "fs.writeFileSync('job-key.txt', env.RESCALE_API_KEY);",
    ].join("\n");
    const job = await api.createJob(
      jobBody({
        name: "job-key-lifetime",
        command: `node --input-type=module -e "$SCRIPT"`,
        envVars: { SCRIPT: script },
      }),
    );
    await api.submit(job.id);
    const final = await api.waitForStatus(job.id);
    expect(final.statusReason).toBe("Completed successfully");
    const files = new Map((await api.jobFiles(job.id)).map((f) => [f.relativePath, f.id]));
    expect((await api.download(files.get("status-while-running.txt")!)).toString()).toBe("200");
    const jobKey = (await api.download(files.get("job-key.txt")!)).toString();
    expect(jobKey).toMatch(/^[0-9a-f]{48}$/);
    expect(jobKey).not.toBe(platform.apiKey);
    const after = await api.withKey(jobKey).request("GET", `/api/v2/jobs/${job.id}/`);
    expect(after.status).toBe(401);
    expect(after.body).toEqual({ detail: "API key is no longer active" });
  });

  it("listens on loopback only", () => {
    const port = Number(new URL(platform.url).port);
    const addresses = listeningAddresses(port);
    expect(addresses.length).toBeGreaterThan(0);
    expect(addresses.every(isLoopbackAddress)).toBe(true);
  });

  it("stores its key in a 0600 file inside a 0700 directory under XDG_CONFIG_HOME", () => {
    const file = localPlatformConfigPath();
    expect(file.startsWith(sandbox.configDir)).toBe(true);
    const key = ensureLocalApiKey();
    expect(key).toBe(platform.apiKey);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(file, "utf8")).apiKey).toBe(key);
  });
});

describe("zip slip", () => {
  it("extractZipSafely refuses ../ entries and a symlink out, writing nothing outside", async () => {
    for (const zip of [bad.zipSlip, bad.zipSymlinkSlip]) {
      const target = path.join(sandbox.root, `extract-${path.basename(zip, ".zip")}`);
      const { mkdirSync } = await import("node:fs");
      mkdirSync(target, { recursive: true });
      await expect(extractZipSafely(zip, target)).rejects.toBeInstanceOf(UnsafeArchiveError);
      expect(existsSync(path.join(sandbox.root, bad.zipSlipEscapes[0]!))).toBe(false);
    }
    expect(readdirSync(bad.zipSymlinkTargetDir)).toEqual([]);
  });

  it("a job whose input zip has ../ entries ends with a clear reason and writes nothing outside", async () => {
    for (const zip of [bad.zipSlip, bad.zipSymlinkSlip]) {
      const file = await api.upload(zip);
      const job = await api.createJob(
        jobBody({
          name: "zip-slip",
          command: "echo should-not-run > ran.txt",
          inputFiles: [{ id: file.id }],
        }),
      );
      await api.submit(job.id);
      const final = await api.waitForStatus(job.id);
      expect(final.statusReason).toMatch(
        /Input file staging failed: .*(escap|invalid relative path|symlink)/,
      );
      const outputs = (await api.jobFiles(job.id)).map((f) => f.relativePath);
      expect(outputs).not.toContain("ran.txt");
    }
    const dataDir = path.join(sandbox.dataDir, "platform");
    for (const dir of [dataDir, path.join(dataDir, "jobs"), sandbox.root, path.dirname(bad.zipSlip)]) {
      expect(existsSync(path.join(dir, bad.zipSlipEscapes[0]!)), dir).toBe(false);
    }
    expect(readdirSync(bad.zipSymlinkTargetDir)).toEqual([]);
  });
});
