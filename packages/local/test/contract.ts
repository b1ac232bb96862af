/**
 * The contract between @rescale-run/sdk and a Rescale-compatible platform, written ONCE and run against two
 * targets: the real local platform (contract-local.test.ts) and the SDK's nock fixtures of Rescale
 * (contract-fixtures.test.ts). Each case states what Rescale answers (its `fixtures`) and what a client
 * must observe (`check`); the local target skips the fixtures and must satisfy the same checks for real.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  AuthenticationError,
  NotFoundError,
  ProjectRequiredError,
  RescaleClient,
  readLiveLog,
  ValidationError,
  waitForFinalOutputs,
  waitForJobStatus,
  waitUntilFinished,
} from "@rescale-run/sdk";
import { expect } from "vitest";

export interface ContractTarget {
  client: RescaleClient;
  baseUrl: string;
  /** A core type this target offers and a core count it allows, plus one it does not. */
  coreType: string;
  cores: number;
  disallowedCores: number;
  scratchDir: string;
  /** A client of a workspace that requires every job to carry a project (may be `client` on the fixtures). */
  projectWorkspace: RescaleClient;
}

/** Interceptors for one case (nock scope builder); only the fixtures target calls it. */
export type Fixtures = (target: ContractTarget) => void;

export interface ContractCase {
  name: string;
  fixtures: Fixtures;
  check: (target: ContractTarget) => Promise<void>;
}

/** Fast polling: the local platform answers in milliseconds; the fixtures answer at once. */
export const FAST_POLL = { minDelayMs: 50, maxDelayMs: 250, jitter: 0, timeoutMs: 30_000 };

export const UPLOAD_TEXT = "contract upload: benign,malignant,normal\n";
export const UPLOAD_MD5 = createHash("md5").update(UPLOAD_TEXT).digest("hex");

export function testClient(baseUrl: string, apiKey: string): RescaleClient {
  return new RescaleClient({
    apiKey,
    baseUrl,
    retry: { retries: 1, minTimeoutMs: 10, maxTimeoutMs: 50 },
    timeoutMs: 20_000,
  });
}

/** A `user_included` job on the target's core type (1 hour unless said otherwise). */
function createJob(
  t: ContractTarget,
  name: string,
  command: string,
  hw: { cores?: number; walltime?: number } = {},
) {
  return t.client.jobs.create({
    name,
    analysis: { code: "user_included", version: "0" },
    command,
    hardware: { coreType: t.coreType, cores: hw.cores ?? t.cores, walltime: hw.walltime ?? 1 },
  });
}

/** Hooks the fixtures target fills in (the local target leaves them as no-ops). */
export interface FixtureHooks {
  coreTypes: Fixtures;
  analyses: Fixtures;
  fileRoundTrip: Fixtures;
  jobLifecycle: Fixtures;
  runningJob: Fixtures;
  workstation: Fixtures;
  jobList: Fixtures;
  validation: Fixtures;
  wrongKey: Fixtures;
  notFound: Fixtures;
  failedRun: Fixtures;
  projects: Fixtures;
  computePrices: Fixtures;
}

export function contractCases(f: FixtureHooks): ContractCase[] {
  return [
    {
      name: "core types: Rescale's fields, walked across pages",
      fixtures: f.coreTypes,
      async check(t) {
        const all = await t.client.coreTypes.list({ pageSize: 1 });
        expect(all.length).toBeGreaterThanOrEqual(2);
        expect(new Set(all.map((c) => c.code)).size).toBe(all.length);
        for (const c of all) {
          expect(c.cores.length).toBeGreaterThan(0);
          expect(c.cores.every((n) => Number.isInteger(n) && n > 0)).toBe(true);
          expect(typeof c.name).toBe("string");
          expect(c.memory).toBeGreaterThan(0);
        }
        const ours = await t.client.coreTypes.get(t.coreType);
        expect(ours.cores).toContain(t.cores);
        expect(ours.cores).not.toContain(t.disallowedCores);
      },
    },
    {
      name: "analyses: user_included version 0 and miniconda_e2e by versionCode",
      fixtures: f.analyses,
      async check(t) {
        expect((await t.client.analyses.resolveVersion("user_included", "0")).versionCode).toBe("0");
        expect((await t.client.analyses.resolveVersion("miniconda_e2e", "4.8.4_e2ed")).versionCode).toBe(
          "4.8.4_e2ed",
        );
        await expect(
          t.client.analyses.resolveVersion("user_included", "no-such-version"),
        ).rejects.toBeInstanceOf(NotFoundError);
      },
    },
    {
      name: "files: upload, get, download, delete",
      fixtures: f.fileRoundTrip,
      async check(t) {
        const source = path.join(t.scratchDir, "contract-upload.csv");
        fs.writeFileSync(source, UPLOAD_TEXT);
        const uploaded = await t.client.files.upload(source);
        expect(uploaded).toMatchObject({
          name: "contract-upload.csv",
          decryptedSize: UPLOAD_TEXT.length,
          md5: UPLOAD_MD5,
          typeId: 1,
        });
        const again = await t.client.files.get(uploaded.id);
        expect(again).toMatchObject({
          id: uploaded.id,
          name: "contract-upload.csv",
          decryptedSize: UPLOAD_TEXT.length,
        });
        const target = path.join(t.scratchDir, "contract-download.csv");
        const result = await t.client.files.download(uploaded.id, { to: target });
        expect(result.bytes).toBe(UPLOAD_TEXT.length);
        expect(fs.readFileSync(target, "utf8")).toBe(UPLOAD_TEXT);
        await t.client.files.delete(uploaded.id);
        await expect(t.client.files.get(uploaded.id)).rejects.toBeInstanceOf(NotFoundError);
      },
    },
    {
      name: "jobs: create, submit, statuses newest first, success, outputs, delete",
      fixtures: f.jobLifecycle,
      async check(t) {
        const job = await createJob(t, "contract-job", "echo hello > result.txt");
        expect(job.name.startsWith("contract-job")).toBe(true);
        expect(job.jobanalyses[0]?.hardware).toMatchObject({
          coreType: t.coreType,
          coresPerSlot: t.cores,
          walltime: 1,
        });
        await t.client.jobs.submit(job.id);
        const { outcome, statuses } = await waitUntilFinished(t.client.jobs, job.id, FAST_POLL);
        expect(outcome).toMatchObject({
          phase: "succeeded",
          succeeded: true,
          statusReason: "Completed successfully",
        });
        expect(statuses[0]?.status).toBe("Completed");
        const order = statuses.map((s) => s.status).reverse();
        expect(order.indexOf("Queued")).toBeLessThan(order.indexOf("Executing"));
        expect(order.indexOf("Executing")).toBeLessThan(order.indexOf("Completed"));
        const times = statuses.map((s) => s.statusDate!.getTime());
        expect([...times].sort((a, b) => b - a)).toEqual(times);
        // Right after Completed the list may be incomplete: read it once final (cluster Stopped).
        const final = await waitForFinalOutputs(t.client.jobs, job.id, {
          ...FAST_POLL,
          expected: ["process_output.log", "result.txt"],
        });
        expect(final).toMatchObject({ final: "cluster stopped", missing: [] });
        const outputs = final.files;
        const log = outputs.find((o) => o.name === "process_output.log");
        expect(log?.typeId).toBe(5);
        expect(outputs.map((o) => o.name)).toContain("result.txt");
        const clusters = await t.client.jobs.clusterStatuses(job.id);
        expect(clusters[0]?.status).toBe("Stopped");
        await t.client.jobs.delete(job.id);
        await expect(t.client.jobs.get(job.id)).rejects.toBeInstanceOf(NotFoundError);
      },
    },
    {
      name: "a running job: tail, instances, stop ends it as stopped (not success)",
      fixtures: f.runningJob,
      async check(t) {
        const job = await createJob(t, "contract-running", "echo epoch 1/3; sleep 60", { walltime: 2 });
        await t.client.jobs.submit(job.id);
        await waitForJobStatus(t.client.jobs, job.id, "Executing", FAST_POLL);
        const runs = await t.client.jobs.runs(job.id);
        expect(runs.length).toBe(1);
        // The log's path comes from directory-contents; tail is called without a trailing slash.
        let lines: string[] = [];
        for (let i = 0; i < 50 && !lines.includes("epoch 1/3"); i++) {
          const log = await readLiveLog(t.client.jobs, job.id, { lines: 10 });
          if (log.available) {
            expect(log.path).toBe("process_output.log");
            lines = log.lines;
          }
          if (!lines.includes("epoch 1/3")) await new Promise((r) => setTimeout(r, 100));
        }
        expect(lines).toContain("epoch 1/3");
        // A file that is not there is said to be missing, not silently empty.
        const missing = await readLiveLog(t.client.jobs, job.id, { file: "no-such.log" });
        expect(missing).toMatchObject({ available: false });
        const instances = await t.client.jobs.instances(job.id);
        expect(instances.length).toBe(1);
        expect(instances[0]?.publicIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        await t.client.jobs.stop(job.id);
        const { outcome, statuses } = await waitUntilFinished(t.client.jobs, job.id, FAST_POLL);
        expect(outcome).toMatchObject({ terminal: true, succeeded: false, phase: "stopped" });
        // Rescale tells a user's stop on the Stopping entry.
        expect(statuses.find((s) => s.status === "Stopping")?.statusReason).toBe("User Terminated");
      },
    },
    {
      name: "jobs list: newest first, walked across pages with absolute next links; unsubmitted jobs deletable",
      fixtures: f.jobList,
      async check(t) {
        const created: string[] = [];
        for (const n of [1, 2, 3]) created.push((await createJob(t, `contract-list-${n}`, "true")).id);
        const first = await t.client.jobs.page({ pageSize: 2 });
        expect(first.results.length).toBe(2);
        expect(first.next).toMatch(/^https?:\/\/.+\/api\/v2\/jobs\/\?/);
        const rows = await t.client.jobs.list({ pageSize: 2 });
        const ours = rows.map((j) => j.id).filter((id) => created.includes(id));
        expect(ours).toEqual([...created].reverse());
        // The list is a summary: no hardware, no status reason; a saved job has no status yet.
        const row = rows.find((j) => j.id === created[0])!;
        expect(row.jobanalyses).toEqual([]);
        expect(row.jobStatus).toMatchObject({ content: "" });
        expect(row.jobStatus).not.toHaveProperty("statusReason");
        expect(await t.client.jobs.statuses(created[0]!)).toEqual([]);
        for (const id of created) await t.client.jobs.delete(id);
      },
    },
    {
      name: "a workstation (interactive, two software tiles): active, reachable, stopped for good",
      fixtures: f.workstation,
      async check(t) {
        const ws = await t.client.workstations.create({
          name: "contract-workstation",
          coreType: t.coreType,
          cores: t.cores,
          walltime: 8,
          software: [
            { code: "user_included", version: "0" },
            { code: "miniconda_e2e", version: "4.8.4_e2ed" },
          ],
        });
        expect(ws.job.jobanalyses.map((ja) => ja.hardware?.type)).toEqual(["interactive", "interactive"]);
        const active = await ws.waitUntilActive(FAST_POLL);
        expect(active.outcome.phase).toBe("running");
        expect((await ws.status()).state).toBe("active");
        const connection = await ws.connection();
        expect(connection.host).toBeTruthy();
        expect(connection.clusterId).toBeTruthy();
        // A workstation's files live under shared/.
        const runId = String((await t.client.jobs.runs(ws.id))[0]!.id);
        expect(await t.client.jobs.findRunFile(ws.id, runId, "process_output.log")).toBe(
          "shared/process_output.log",
        );
        await ws.stop();
        const { outcome } = await waitUntilFinished(t.client.jobs, ws.id, FAST_POLL);
        expect(outcome).toMatchObject({ terminal: true, succeeded: false, phase: "stopped" });
        expect((await ws.status()).state).toBe("stopped");
      },
    },
    {
      name: "a 400 field map becomes a ValidationError naming hardware.coresPerSlot",
      fixtures: f.validation,
      async check(t) {
        const attempt = createJob(t, "contract-invalid", "true", { cores: t.disallowedCores });
        const error = await attempt.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).fieldErrors.map((e) => e.path)).toContain(
          "jobanalyses.0.hardware.coresPerSlot",
        );
      },
    },
    {
      name: "a wrong key is an AuthenticationError that never shows the key",
      fixtures: f.wrongKey,
      async check(t) {
        const wrongKey = "f".repeat(40);
        const client = testClient(t.baseUrl, wrongKey);
        const error = await client.coreTypes.list().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(AuthenticationError);
        expect(`${String(error)} ${JSON.stringify(error)}`).not.toContain(wrongKey);
      },
    },
    {
      name: "a failed run is told on the Stopping entry (A run failed) and classified failed",
      fixtures: f.failedRun,
      async check(t) {
        const job = await createJob(t, "contract-failing", "echo about to fail; exit 3");
        await t.client.jobs.submit(job.id);
        const { outcome, statuses } = await waitUntilFinished(t.client.jobs, job.id, FAST_POLL);
        expect(outcome).toMatchObject({ phase: "failed", terminal: true, succeeded: false });
        expect(outcome.statusReason).toMatch(/^A run failed/);
        const stopping = statuses.find((s) => s.status === "Stopping");
        expect(stopping?.statusReason).toBe("A run failed");
        expect(statuses[0]?.status).toBe("Completed");
      },
    },
    {
      name: "projects: listed; a workspace that requires one refuses a job without it (ProjectRequiredError)",
      fixtures: f.projects,
      async check(t) {
        const projects = await t.projectWorkspace.projects.list();
        expect(projects.length).toBeGreaterThan(0);
        const project = projects[0]!;
        expect(typeof project.id).toBe("string");
        expect((await t.projectWorkspace.projects.resolve(project.name ?? project.id)).id).toBe(project.id);
        const refused = await t.projectWorkspace.jobs
          .create(
            {
              name: "contract-no-project",
              analysis: { code: "user_included", version: "0" },
              command: "true",
              hardware: { coreType: t.coreType, cores: t.cores, walltime: 1 },
            },
            { clientToken: false },
          )
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(refused).toBeInstanceOf(ProjectRequiredError);
        expect((refused as ProjectRequiredError).fieldErrors.map((e) => e.path)).toContain("projectId");
        const accepted = await t.projectWorkspace.jobs.create(
          {
            name: "contract-with-project",
            analysis: { code: "user_included", version: "0" },
            command: "true",
            hardware: { coreType: t.coreType, cores: t.cores, walltime: 1 },
            projectId: project.id,
          },
          { clientToken: false },
        );
        expect(accepted.projectId).toBe(project.id);
        await t.projectWorkspace.jobs.delete(accepted.id);
      },
    },
    {
      name: "compute prices: a bare list read into a per-tier table",
      fixtures: f.computePrices,
      async check(t) {
        const prices = await t.client.coreTypes.computePrices();
        expect(prices.length).toBeGreaterThan(0);
        for (const p of prices) expect(p.value).toHaveProperty("amount");
        expect(prices.map((p) => p.planType)).toContain("INSTANT");
      },
    },
    {
      name: "an unknown job is a NotFoundError",
      fixtures: f.notFound,
      async check(t) {
        await expect(t.client.jobs.get("nOsUcH")).rejects.toBeInstanceOf(NotFoundError);
      },
    },
  ];
}

/** No fixtures: the local platform answers for itself. */
const none: Fixtures = () => {};
export const NO_FIXTURES: FixtureHooks = {
  coreTypes: none,
  analyses: none,
  fileRoundTrip: none,
  jobLifecycle: none,
  runningJob: none,
  workstation: none,
  jobList: none,
  validation: none,
  wrongKey: none,
  notFound: none,
  failedRun: none,
  projects: none,
  computePrices: none,
};
