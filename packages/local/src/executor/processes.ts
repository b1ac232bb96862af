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

/**
 * Kills what is left of a job from a previous platform run: every process whose environment carries the
 * job's RESCALE_JOB_ID (found in /proc, so only on Linux). Returns how many were found, or undefined where
 * /proc cannot tell.
 */
export function killLeftovers(jobId: string): number | undefined {
  let pids: string[];
  try {
    pids = fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const marker = `RESCALE_JOB_ID=${jobId}`;
  let found = 0;
  for (const pid of pids) {
    let environ: string;
    try {
      environ = fs.readFileSync(`/proc/${pid}/environ`, "latin1");
    } catch {
      continue; // gone, or not ours
    }
    if (!environ.split("\0").includes(marker)) continue;
    found++;
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
  return found;
}
