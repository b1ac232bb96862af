import fs from "node:fs";
import path from "node:path";
import { jobBody, processRunning, waitUntil } from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "./helpers.js";

// Issue 14, item 6: a job's processes end with the job, including those that left its process group with
// setsid (and a daemonised grandchild re-parented to init); its temporary files live in its own directory.

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform({ maxCores: 2, killGraceMs: 300 });
});
afterAll(() => t?.close());

async function outputText(jobId: string, rel: string): Promise<string> {
  const file = (await t.api.jobFiles(jobId)).find((f) => f.relativePath === rel);
  if (!file) throw new Error(`${rel} is not among the outputs of ${jobId}`);
  return (await t.api.download(file.id)).toString().trim();
}

describe.skipIf(process.platform !== "linux")("a job's whole process tree", () => {
  it("kills processes the command started in a new session (setsid) when the command exits", async () => {
    const { id } = await t.api.createJob(
      jobBody({
        name: "setsid",
        command:
          "setsid sleep 300 & echo $! > session.pid; setsid sh -c 'sleep 300 & echo $! > grandchild.pid; wait' & sleep 0.5",
      }),
    );
    await t.api.submit(id);
    expect((await t.api.waitForStatus(id, undefined, 20_000)).statusReason).toBe("Completed successfully");
    const pids = [
      Number(await outputText(id, "session.pid")),
      Number(await outputText(id, "grandchild.pid")),
    ];
    expect(
      await waitUntil(5000, () => pids.filter(processRunning).length === 0),
      `still running: ${pids.filter(processRunning)}`,
    ).toBe(true);
  });

  it("kills them on stop too", async () => {
    const { id } = await t.api.createJob(
      jobBody({ name: "setsid-stop", command: "setsid sleep 300 & echo $! > session.pid; sleep 300" }),
    );
    await t.api.submit(id);
    await t.api.waitForStatus(id, ["Executing"], 20_000);
    const pidFile = path.join(t.dataDir, "jobs", id, "work", "session.pid");
    expect(
      await waitUntil(5000, () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, "utf8").trim() !== ""),
    ).toBe(true);
    const pid = Number(fs.readFileSync(pidFile, "utf8"));
    expect(processRunning(pid)).toBe(true);
    await t.api.request("POST", `/api/v2/jobs/${id}/stop/`);
    await t.api.waitForStatus(id, undefined, 20_000);
    expect(await waitUntil(5000, () => !processRunning(pid))).toBe(true);
  });

  it("gives the job a TMPDIR inside its own directory, removed with it", async () => {
    const { id } = await t.api.createJob(
      jobBody({
        name: "tmp",
        command: 'echo "$TMPDIR" > tmpdir.txt; head -c 1000000 /dev/zero > "$TMPDIR/big.bin"',
      }),
    );
    await t.api.submit(id);
    expect((await t.api.waitForStatus(id, undefined, 20_000)).statusReason).toBe("Completed successfully");
    const tmp = await outputText(id, "tmpdir.txt");
    expect(tmp).toBe(path.join(t.dataDir, "jobs", id, "tmp"));
    expect(fs.existsSync(path.join(t.dataDir, "jobs", id))).toBe(false);
  });
});
