import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { PROCESS_OUTPUT_LOG } from "@rescale-run/sdk";
import { coresOf, type JobSpec, walltimeHoursOf } from "../jobspec.js";
import type { BlobStore } from "../store/blobs.js";
import { RUNNING_STATUSES, type Store } from "../store/db.js";
import { commandLine, cpuList, jobEnvironment, jobScript } from "./command.js";
import { killLeftovers, signalJob } from "./processes.js";
import { listFiles, outputFiles, resolveInside, type StagedManifest, stageInputs } from "./sandbox.js";
import type { ArchiveLimits } from "./unzip.js";

export const REASONS = {
  success: "Completed successfully",
  stoppedByUser: "Stopped by user",
  stoppedBeforeStart: "Stopped by user before the job started",
  restarted: "Platform restarted while the job was running",
  endedWhileDown: "The job's command ended while the platform was down; its exit status is unknown",
  shutDown: "Platform shut down while the job was running",
} as const;

export interface ExecutorOptions {
  store: Store;
  blobs: BlobStore;
  dataDir: string;
  /** Cores that may be handed out at once. */
  capacity: number;
  /** The platform's base URL given to jobs as RESCALE_API_URL (known once the server listens). */
  apiUrl: () => string;
  /**
   * TEST HOOK: how many milliseconds one walltime hour lasts. Jobs ask for whole hours, as on Rescale;
   * tests shorten the hour instead of sending fractional walltimes. Default 3 600 000 (a real hour).
   */
  msPerWalltimeHour?: number;
  /** Time between SIGTERM and SIGKILL when a job is stopped or exceeds its walltime. */
  killGraceMs?: number;
  /** Caps on how far one input archive may expand (defaults: DEFAULT_ARCHIVE_LIMITS). */
  archiveLimits?: Partial<ArchiveLimits>;
  log?: (message: string) => void;
}

interface RunningJob {
  jobId: string;
  slots: number[];
  child?: ChildProcess;
  /** The command has ended; outputs are being collected. */
  exited?: boolean;
  /** Set when the platform (not the command) ends the job: the reason it will be completed with. */
  endReason?: string;
  killTimer?: NodeJS.Timeout;
  walltimeTimer?: NodeJS.Timeout;
  finished: Promise<void>;
}

/**
 * Runs submitted jobs as local processes: a FIFO queue that waits for free cores, a sandbox working
 * directory per job, walltime and stop enforced with SIGTERM then SIGKILL on the job's process group.
 */
export class Executor {
  private readonly queue: string[] = [];
  private readonly running = new Map<string, RunningJob>();
  private readonly freeSlots: Set<number>;
  private readonly msPerHour: number;
  private readonly graceMs: number;
  private closing = false;

  constructor(private readonly o: ExecutorOptions) {
    this.freeSlots = new Set(Array.from({ length: o.capacity }, (_, i) => i));
    this.msPerHour = o.msPerWalltimeHour ?? 3_600_000;
    this.graceMs = o.killGraceMs ?? 10_000;
  }

  jobDir(jobId: string): string {
    return path.join(this.o.dataDir, "jobs", jobId);
  }

  workDirOf(jobId: string): string {
    return path.join(this.jobDir(jobId), "work");
  }

  isRunning(jobId: string): boolean {
    return this.running.has(jobId);
  }

  /** The files in a job's working directory (paths relative to it) while it runs. */
  workFiles(jobId: string): string[] {
    return listFiles(this.workDirOf(jobId));
  }

  /** The absolute path of `rel` in a job's working directory; undefined when it would leave it. */
  workFile(jobId: string, rel: string): string | undefined {
    return resolveInside(this.workDirOf(jobId), rel);
  }

  submit(jobId: string): void {
    const { store } = this.o;
    store.updateJob(jobId, { submitted: true });
    store.setJobStatus(jobId, "Pending");
    store.setJobStatus(jobId, "Queued");
    this.queue.push(jobId);
    this.pump();
  }

  /**
   * After a restart: jobs whose process was running are ended honestly (leftover processes killed, the
   * files they left collected); jobs still waiting go back into the queue in their original order.
   */
  async recover(): Promise<void> {
    const { store } = this.o;
    for (const job of store.jobsWithStatus(RUNNING_STATUSES)) {
      const killed = killLeftovers(job.id);
      const endedWhileDown = killed === 0 && job.status === "Executing";
      await this.finalize(job.id, endedWhileDown ? REASONS.endedWhileDown : REASONS.restarted);
    }
    for (const job of store.jobsWithStatus(["Pending", "Queued"])) {
      if (job.status === "Pending") store.setJobStatus(job.id, "Queued");
      this.queue.push(job.id);
    }
    this.pump();
  }

  /** Stops a job: dequeued if waiting, else SIGTERM then SIGKILL after the grace period. */
  stop(jobId: string): void {
    const queued = this.queue.indexOf(jobId);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.o.store.setClusterStatus(jobId, "Stopped");
      this.o.store.setJobStatus(jobId, "Completed", REASONS.stoppedBeforeStart);
      this.pump();
      return;
    }
    const run = this.running.get(jobId);
    if (!run || run.endReason || run.exited) return; // already ending: its final status is on its way
    this.o.store.setJobStatus(jobId, "Stopping", REASONS.stoppedByUser);
    this.o.store.setClusterStatus(jobId, "Stop Requested");
    this.terminate(run, REASONS.stoppedByUser);
  }

  /** Ends every running job with `reason` and waits for their outputs to be collected. */
  async shutdown(reason: string = REASONS.shutDown): Promise<void> {
    this.closing = true;
    this.queue.length = 0;
    const runs = [...this.running.values()];
    for (const run of runs) this.terminate(run, reason);
    await Promise.all(runs.map((r) => r.finished));
  }

  private pump(): void {
    while (!this.closing && this.queue.length > 0) {
      const jobId = this.queue[0]!;
      const job = this.o.store.job(jobId);
      if (!job) {
        this.queue.shift();
        continue;
      }
      if (job.cores > this.freeSlots.size) return;
      this.queue.shift();
      const slots = [...this.freeSlots].slice(0, job.cores);
      for (const s of slots) this.freeSlots.delete(s);
      const run: RunningJob = { jobId, slots, finished: Promise.resolve() };
      this.running.set(jobId, run);
      run.finished = this.run(run, job.spec as JobSpec).catch((err) => this.failed(jobId, err as Error));
    }
  }

  private async run(run: RunningJob, spec: JobSpec): Promise<void> {
    const { store } = this.o;
    const { jobId } = run;
    try {
      store.setJobStatus(jobId, "Started");
      store.setClusterStatus(jobId, "Starting");
      const workDir = this.workDirOf(jobId);
      fs.rmSync(this.jobDir(jobId), { recursive: true, force: true });
      fs.mkdirSync(workDir, { recursive: true });
      store.updateJob(jobId, { workDir });
      let staged: StagedManifest;
      try {
        staged = await stageInputs(
          spec.jobanalyses.flatMap((ja) => ja.inputFiles),
          workDir,
          store,
          this.o.blobs,
          this.o.archiveLimits,
        );
      } catch (err) {
        // A refused archive's leftovers are not the job's outputs: clear the working directory first.
        fs.rmSync(workDir, { recursive: true, force: true });
        fs.mkdirSync(workDir, { recursive: true });
        await this.finalize(jobId, `Input file staging failed: ${(err as Error).message}`);
        return;
      }
      fs.writeFileSync(path.join(this.jobDir(jobId), "staged.json"), JSON.stringify([...staged]));
      if (run.endReason) {
        // stopped (or the platform closed) while the inputs were being staged
        await this.finalize(jobId, run.endReason);
        return;
      }
      store.setClusterStatus(jobId, "Started");
      store.setJobStatus(jobId, "Validated");
      const exit = await this.execute(run, spec, workDir);
      store.updateJob(jobId, { exitCode: exit.code });
      await this.finalize(jobId, run.endReason ?? exitReason(exit));
    } finally {
      clearTimeout(run.walltimeTimer);
      clearTimeout(run.killTimer);
      this.running.delete(jobId);
      for (const s of run.slots) this.freeSlots.add(s);
      this.pump();
    }
  }

  private execute(run: RunningJob, spec: JobSpec, workDir: string): Promise<Exit> {
    const { store } = this.o;
    const jobId = run.jobId;
    const jobKey = randomBytes(24).toString("hex");
    store.addJobKey(jobId, jobKey);
    const cores = coresOf(spec);
    // The job's temporary files (the bootstrap unpacks the ~340 MB runner there) live in its own directory, so
    // they go with it when the job ends, however it ends, and at the next start after a kill -9.
    const tmpDir = path.join(this.jobDir(jobId), "tmp");
    fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
    const env = jobEnvironment(spec, { jobId, jobKey, apiUrl: this.o.apiUrl(), cores, tmpDir });
    const log = fs.openSync(path.join(workDir, PROCESS_OUTPUT_LOG), "a", 0o644);
    const [file, args] = commandLine(
      jobScript(spec, walltimeHoursOf(spec) * this.msPerHour),
      cpuList(run.slots),
    );
    let child: ChildProcess;
    try {
      child = spawn(file, args, { cwd: workDir, env, stdio: ["ignore", log, log], detached: true });
    } finally {
      fs.closeSync(log);
    }
    run.child = child;
    return new Promise<Exit>((resolve) => {
      child.once("error", (err) => resolve({ code: null, signal: null, error: err.message }));
      child.once("spawn", () => {
        store.updateJob(jobId, { pid: child.pid ?? null });
        store.setJobStatus(jobId, "Executing");
        const walltimeMs = walltimeHoursOf(spec) * this.msPerHour;
        run.walltimeTimer = setTimeout(() => {
          const hours = walltimeHoursOf(spec);
          this.terminate(
            run,
            `Exceeded the walltime of ${hours} hour${hours === 1 ? "" : "s"}: the command was terminated`,
          );
        }, walltimeMs);
      });
      child.once("exit", (code, signal) => {
        run.exited = true;
        // anything the command left running: in its group, or in a session of its own (setsid)
        signalJob(jobId, child.pid, "SIGKILL");
        resolve({ code, signal });
      });
    });
  }

  private terminate(run: RunningJob, reason: string): void {
    if (run.endReason) return;
    run.endReason = reason;
    if (!run.child?.pid) return; // still staging: run() checks endReason before spawning
    const pid = run.child.pid;
    signalJob(run.jobId, pid, "SIGTERM");
    run.killTimer = setTimeout(() => signalJob(run.jobId, pid, "SIGKILL"), this.graceMs);
  }

  /** A bug or an I/O failure of the platform itself: the job must still end, and say so. */
  private failed(jobId: string, err: Error): void {
    this.o.log?.(`job ${jobId}: the local platform failed to run it: ${err.stack ?? err.message}`);
    try {
      this.o.store.revokeJobKeys(jobId);
      this.o.store.setClusterStatus(jobId, "Stopped");
      this.o.store.setJobStatus(
        jobId,
        "Completed",
        `The local platform failed to run the job: ${err.message}`,
      );
    } catch {
      // the database itself is gone (platform closing): recover() settles the job on the next start
    }
  }

  /** Collects outputs, revokes the job's key and records the final statuses. */
  private async finalize(jobId: string, reason: string): Promise<void> {
    const { store, blobs } = this.o;
    store.revokeJobKeys(jobId);
    store.setClusterStatus(jobId, "Stopping");
    const workDir = this.workDirOf(jobId);
    const staged = readStaged(path.join(this.jobDir(jobId), "staged.json"));
    let outputError: string | undefined;
    try {
      for (const rel of outputFiles(workDir, staged)) {
        const info = await blobs.putFile(path.join(workDir, rel));
        store.insertFile({ name: path.basename(rel), typeId: 5, ...info, jobId, relativePath: rel });
      }
      fs.rmSync(this.jobDir(jobId), { recursive: true, force: true });
    } catch (err) {
      outputError = `; some output files could not be collected: ${(err as Error).message}`;
    }
    store.updateJob(jobId, { pid: null });
    store.setClusterStatus(jobId, "Stopped");
    store.setJobStatus(jobId, "Completed", reason + (outputError ?? ""));
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
}

function exitReason(exit: Exit): string {
  if (exit.error) return `A run failed: the command could not be started (${exit.error})`;
  if (exit.code === 0) return REASONS.success;
  if (exit.code !== null) return `A run failed: the command exited with code ${exit.code}`;
  return `A run failed: the command was killed by signal ${exit.signal}`;
}

function readStaged(file: string): StagedManifest {
  try {
    return new Map(JSON.parse(fs.readFileSync(file, "utf8")));
  } catch {
    return new Map();
  }
}
