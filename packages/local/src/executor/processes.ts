import fs from "node:fs";

/** Signals a job's whole process group (it runs detached, as its own group leader). */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Kills a process group left by a previous platform run, if it still runs in the job's directory. */
export function killOrphan(pid: number, workDir: string): void {
  let cwd: string;
  try {
    cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return; // gone (or not Linux: nothing we can verify, so nothing we kill)
  }
  if (cwd === workDir || cwd.startsWith(`${workDir}/`)) killGroup(pid, "SIGKILL");
}
