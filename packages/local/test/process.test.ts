import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { jobBody, RawApi, tsSourceArgs } from "@rescale-run/testkit";
import { describe, expect, it } from "vitest";
import { daemonStatus, readLocalPlatformConfig, startDaemon, stopDaemon } from "../src/index.js";
import { isAlive } from "../src/lockfile.js";
import { eventually, useDaemonSandbox } from "./helpers.js";

// The platform as a separate process: the background daemon helpers, and a crash (SIGKILL) of the server
// in the middle of a job followed by a restart on the same data directory.

const files = useDaemonSandbox("local-process-");

describe("daemon", () => {
  it("starts in the background, reports its status, is reused, and stops", async () => {
    expect(await daemonStatus({ dataDir: files.dataDir })).toEqual({
      running: false,
      dataDir: files.dataDir,
    });
    const started = await startDaemon({ dataDir: files.dataDir });
    expect(started.started).toBe(true);
    expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(isAlive(started.pid)).toBe(true);
    const status = await daemonStatus({ dataDir: files.dataDir });
    expect(status).toMatchObject({ running: true, pid: started.pid, url: started.url, standalone: true });
    const again = await startDaemon({ dataDir: files.dataDir });
    expect(again).toMatchObject({ started: false, pid: started.pid });
    // The key it created on first start is the one clients read from the 0600 config file.
    const key = readLocalPlatformConfig()!.apiKey;
    expect((await new RawApi(started.url, key).request("GET", "/api/v2/coretypes/")).status).toBe(200);
    expect(await stopDaemon({ dataDir: files.dataDir })).toEqual({ stopped: true, pid: started.pid });
    expect(isAlive(started.pid)).toBe(false);
    expect((await daemonStatus({ dataDir: files.dataDir })).running).toBe(false);
  });
});

describe("rescale-local", () => {
  const bin = path.resolve(import.meta.dirname, "../src/bin.ts");
  const runBin = (args: string[]) =>
    spawnSync(process.execPath, [...tsSourceArgs(bin), ...args], { encoding: "utf8" });

  it("prints its usage, and a clear one-line error (no stack trace) for a bad flag", () => {
    const help = runBin(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--max-cores N");
    const bad = runBin(["--port", "abc", "--data-dir", path.join(files.sandbox.root, "bad")]);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe('rescale-local: --port must be a whole number, got "abc"');
    const unknown = runBin(["--frobnicate"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("restart in the middle of a job", () => {
  it("loses nothing: running jobs are Completed honestly, leftovers killed, the queued job runs", async () => {
    const first = await startDaemon({ dataDir: files.dataDir, maxCores: 2 });
    const api = new RawApi(first.url, readLocalPlatformConfig()!.apiKey);
    const input = path.join(files.sandbox.root, "input.txt");
    fs.writeFileSync(input, "kept\n");
    const upload = await api.upload(input);
    const running = await api.createJob(
      jobBody({
        name: "interrupted",
        command: "echo $$ > pid.txt; echo working; sleep 120",
        walltimeHours: 10,
      }),
    );
    await api.submit(running.id);
    await api.waitForStatus(running.id, ["Executing"], 20_000);
    // A second job whose command ends while the platform is down: its exit status cannot be known.
    const shortJob = await api.createJob(
      jobBody({ name: "ends-while-down", command: "sleep 2; echo done > done.txt", walltimeHours: 10 }),
    );
    await api.submit(shortJob.id);
    await api.waitForStatus(shortJob.id, ["Executing"], 20_000);
    const waiting = await api.createJob(
      jobBody({
        name: "waiting",
        command: "cat input.txt > copy.txt",
        inputFiles: [{ id: upload.id }],
        cores: 2,
      }),
    );
    await api.submit(waiting.id);
    await api.waitForStatus(waiting.id, ["Queued"]);
    const pidFile = path.join(files.dataDir, "jobs", running.id, "work", "pid.txt");
    const jobPid = await eventually(async () =>
      fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8")) : undefined,
    );

    process.kill(first.pid, "SIGKILL");
    await eventually(async () => (isAlive(first.pid) ? undefined : true));
    expect(isAlive(jobPid)).toBe(true); // the job outlived the platform: the restart must deal with it
    const doneFile = path.join(files.dataDir, "jobs", shortJob.id, "work", "done.txt");
    await eventually(async () => (fs.existsSync(doneFile) ? true : undefined));
    await new Promise((r) => setTimeout(r, 300)); // let its shell exit

    const second = await startDaemon({ dataDir: files.dataDir, maxCores: 2 });
    expect(second.pid).not.toBe(first.pid);
    const api2url = new RawApi(second.url, readLocalPlatformConfig()!.apiKey);
    const final = await api2url.waitForStatus(running.id);
    expect(final.statusReason).toBe("Platform restarted while the job was running");
    await eventually(async () => (isAlive(jobPid) ? undefined : true), 5_000);
    const outputs = await api2url.jobFiles(running.id);
    const log = outputs.find((f) => f.relativePath === "process_output.log")!;
    expect((await api2url.download(log.id)).toString()).toContain("working");

    const short = await api2url.waitForStatus(shortJob.id);
    expect(short.statusReason).toBe(
      "The job's command ended while the platform was down; its exit status is unknown",
    );
    expect((await api2url.jobFiles(shortJob.id)).map((f) => f.relativePath)).toContain("done.txt");

    expect((await api2url.waitForStatus(waiting.id)).statusReason).toBe("Completed successfully");
    const copy = (await api2url.jobFiles(waiting.id)).find((f) => f.relativePath === "copy.txt")!;
    expect((await api2url.download(copy.id)).toString()).toBe("kept\n");
    expect((await api2url.request("GET", `/api/v2/files/${upload.id}/`)).status).toBe(200);
    await stopDaemon({ dataDir: files.dataDir });
  });
});
