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

function procPids(): string[] | undefined {
  try {
    return fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
}

/** Parent pid from /proc/PID/stat (the command name, field 2, may hold spaces and parentheses). */
function parentOf(pid: string): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

function carriesJob(pid: string, marker: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(marker);
  } catch {
    return false; // gone, or not ours
  }
}

/**
 * Every process of a job, found in /proc (Linux): the descendants of its command (`root`, walked by parent
 * pid, so a child that called setsid to leave the process group is still found) and any process whose
 * environment carries the job's RESCALE_JOB_ID (a daemonised grandchild re-parented to init). Undefined where
 * /proc cannot tell.
 */
export function jobProcesses(jobId: string, root?: number): number[] | undefined {
  const pids = procPids();
  if (!pids) return undefined;
  const marker = `RESCALE_JOB_ID=${jobId}`;
  const children = new Map<number, number[]>();
  for (const pid of pids) {
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    children.set(parent, [...(children.get(parent) ?? []), Number(pid)]);
  }
  const found = new Set<number>();
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      if (found.has(child)) continue;
      found.add(child);
      walk(child);
    }
  };
  if (root) {
    if (fs.existsSync(`/proc/${root}`)) found.add(root);
    walk(root);
  }
  for (const pid of pids) {
    const n = Number(pid);
    if (n !== process.pid && !found.has(n) && carriesJob(pid, marker)) {
      found.add(n);
      walk(n);
    }
  }
  found.delete(process.pid);
  return [...found];
}

/**
 * Signals the job's whole process tree: its process group, then every process `jobProcesses` finds (those
 * that left the group with setsid included). Returns how many processes were signalled.
 */
export function signalJob(jobId: string, root: number | undefined, signal: NodeJS.Signals): number {
  killGroup(root, signal);
  const pids = jobProcesses(jobId, root) ?? [];
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
  return pids.length;
}

/**
 * Kills what is left of a job from a previous platform run: every process whose environment carries the
 * job's RESCALE_JOB_ID, and their descendants. Returns how many were found, or undefined where /proc cannot tell.
 */
export function killLeftovers(jobId: string): number | undefined {
  const pids = jobProcesses(jobId);
  if (!pids) return undefined;
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
  return pids.length;
}
