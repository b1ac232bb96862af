import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readlinkSync } from "node:fs";
import { cpus } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import {
  jobBody,
  makeSandbox,
  RawApi,
  REPO_ROOT,
  type Sandbox,
  sha256File,
  tsSourceArgs,
  writeValidPng,
} from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Issue 4, process faults: the local platform is killed with SIGKILL while a job executes and another waits
// in the queue, then restarted on the same state directory. Nothing recorded is lost, the interrupted job
// ends with an honest reason (not "success"), its orphaned process is killed, and the queued job runs.

const childScript = path.join(import.meta.dirname, "reliability-platform-child.ts");

let sandbox: Sandbox;
const children: ChildProcess[] = [];

async function startPlatformProcess(dataDir: string): Promise<{ child: ChildProcess; api: RawApi }> {
  // One process (node with tsx's loader), so SIGKILL hits the platform itself and not a wrapper.
  const child = spawn(process.execPath, [...tsSourceArgs(childScript), dataDir], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...sandbox.env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`platform process exited early (${code})`)));
  });
  const { url, apiKey } = JSON.parse(line) as { url: string; apiKey: string };
  return { child, api: new RawApi(url, apiKey) };
}

/** Live processes whose working directory is `dir` or below it (Linux /proc). */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) pids.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

beforeAll(async () => {
  sandbox = await makeSandbox("local-restart-");
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await sandbox.cleanup();
});

describe("kill -9 of the local platform mid-job, then restart", () => {
  it("keeps every record, ends the running job honestly, kills its orphan and runs the queued job", async () => {
    const dataDir = path.join(sandbox.dataDir, "platform");
    const first = await startPlatformProcess(dataDir);

    const input = await writeValidPng(path.join(sandbox.root, "input.png"), 7);
    const uploaded = await first.api.upload(input);
    const running = await first.api.createJob(
      jobBody({
        name: "running when killed",
        command: "echo started-before-crash; sleep 120",
        walltimeHours: 2,
      }),
    );
    await first.api.submit(running.id);
    await first.api.waitForStatus(running.id, ["Executing"], 20_000);
    // A second job that needs every core waits in the queue behind the first.
    const queued = await first.api.createJob(
      jobBody({ name: "queued when killed", command: "echo ran-after-restart", cores: cpus().length }),
    );
    await first.api.submit(queued.id);
    expect((await first.api.statuses(queued.id))[0]!.status).toBe("Queued");
    const before = await first.api.job(running.id);
    const workDir = path.join(dataDir, "jobs", running.id, "work");
    expect(processesIn(workDir).length).toBeGreaterThan(0);

    first.child.kill("SIGKILL");
    await new Promise((r) => first.child.once("exit", r));
    // The job's process group survives its platform: an orphan the restart must deal with.
    expect(processesIn(workDir).length).toBeGreaterThan(0);

    const second = await startPlatformProcess(dataDir);
    const after = await second.api.job(running.id);
    expect(after.name).toBe(before.name);
    // Everything but the (honestly updated) job and cluster status is as it was before the crash.
    const stable = (job: object) => ({ ...job, jobStatus: undefined, clusterStatusDisplay: undefined });
    expect(stable(after)).toEqual(stable(before));

    const statuses = await second.api.statuses(running.id);
    expect(statuses[0]).toMatchObject({
      status: "Completed",
      statusReason: "Platform restarted while the job was running",
    });
    expect(statuses.map((s) => s.status).reverse()).toEqual([
      "Pending",
      "Queued",
      "Started",
      "Validated",
      "Executing",
      "Stopping", // every end passes a Stopping entry, as on Rescale (its reason: none for a platform restart)
      "Completed",
    ]);
    const dates = statuses.map((s) => Date.parse(s.statusDate));
    expect([...dates].sort((a, b) => b - a)).toEqual(dates); // newest first
    expect(processesIn(workDir)).toEqual([]);

    // What the job printed before the crash was collected as its output.
    const outputs = await second.api.jobFiles(running.id);
    const log = outputs.find((f) => f.relativePath === "process_output.log");
    expect(log).toBeDefined();
    expect((await second.api.download(log!.id)).toString()).toContain("started-before-crash");

    // The file uploaded before the crash is intact.
    const bytes = await second.api.download(uploaded.id);
    const { createHash } = await import("node:crypto");
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(await sha256File(input));

    // The queued job went back into the queue and ran once its cores were free.
    const queuedFinal = await second.api.waitForStatus(queued.id, ["Completed"], 30_000);
    expect(queuedFinal.statusReason).toBe("Completed successfully");

    second.child.kill("SIGTERM");
    await new Promise((r) => second.child.once("exit", r));
  });
});
