import { resolve } from "node:path";
import {
  classifyJobOutcome,
  type Job,
  type JobOutcome,
  type JobStatusEntry,
  PROCESS_OUTPUT_LOG,
  type RescaleClient,
  readFinalLog,
  readLiveLog,
  stripClientToken,
  type Workstation,
} from "@rescale-run/sdk";
import type { Argv } from "yargs";
import { errorKind, NotFoundError, UsageError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import { defineCommand, type Factory } from "../factory.js";
import { followJob } from "../follow.js";
import { downloadFinalOutputs, metricsCandidates, readRunMetrics } from "../job-outputs.js";
import { formatDuration } from "../output.js";
import type { Target } from "../target.js";

/** Version of the `--json` shapes of `list` and `status` (docs/cli.md); bumped on an incompatible change. */
const JOBS_JSON_SCHEMA = 1;
/** Jobs whose details `list` fetches at once (the list endpoint gives summaries only). */
const LIST_CONCURRENCY = 4;

const jobArg = (y: Argv) =>
  y.positional("job", { type: "string", demandOption: true, describe: "Job (workstation) id" });

/** A date as `2026-01-02 03:04:05Z`, or "-". */
export function time(date: Date | null | undefined): string {
  return date
    ? date
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, "Z")
    : "-";
}

export function latestStatusOf(job: Job): { status: string; reason: string } {
  const s = job.jobStatus as { status?: string; content?: string; statusReason?: string } | undefined;
  return { status: s?.status ?? s?.content ?? "", reason: s?.statusReason ?? "" };
}

/** The job's hardware from its full record (`GET /jobs/{id}/`); null where the record does not say. */
export function hardwareOf(job: Job) {
  const hw = job.jobanalyses[0]?.hardware;
  const coreType = typeof hw?.coreType === "object" ? hw.coreType.code : hw?.coreType;
  const kind = hw?.type === "interactive" ? "workstation" : hw?.type === "compute" ? "batch" : null;
  return {
    coreType: coreType ?? null,
    cores: typeof hw?.coresPerSlot === "number" ? hw.coresPerSlot : null,
    walltimeHours: typeof hw?.walltime === "number" ? hw.walltime : null,
    type: kind,
  };
}

/** Seconds from the first Executing (else Started) status to Completed, or to now while it runs. */
function runSeconds(statuses: readonly JobStatusEntry[], now: number): number | null {
  const oldestFirst = [...statuses].reverse();
  const start =
    oldestFirst.find((s) => s.status === "Executing")?.statusDate ??
    oldestFirst.find((s) => s.status === "Started")?.statusDate;
  if (!start) return null;
  const end = statuses.find((s) => s.status === "Completed")?.statusDate?.getTime() ?? now;
  return Math.max(0, Math.round((end - start.getTime()) / 1000));
}

/** Runs `fn` over `items` with at most `limit` at once, keeping the order (list rows; the dashboard's rows). */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Any call about one job: a 404 names the job (not the API path). */
async function aboutJob<T>(target: Target, jobId: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (errorKind(error) === "not-found")
      throw new NotFoundError(
        `No job "${jobId}" on ${target.label}.`,
        "`rescale-run list` shows your jobs (and workstations).",
      );
    throw error;
  }
}

/** How to pick the job up again later; printed on --detach and Ctrl-C. */
export function reattachHint(jobId: string, profileFlag: string): string {
  return [
    `  rescale-run status ${jobId}${profileFlag}          # status timeline`,
    `  rescale-run logs ${jobId} --follow${profileFlag}   # stream the training log`,
    `  rescale-run download ${jobId}${profileFlag}        # fetch the outputs when it is done`,
    `  rescale-run stop ${jobId}${profileFlag}            # stop it (a workstation runs until its walltime)`,
  ].join("\n");
}

export function profileFlag(factory: Factory): string {
  if (factory.globals.profile) return ` --profile ${factory.globals.profile}`;
  return factory.globals.local ? " --local" : "";
}

export interface JobListRow {
  id: string;
  name: string;
  /** "workstation", "batch", or null when unknown. */
  type: string | null;
  /** Newest status ("Executing", "Completed"...); null for a saved, unsubmitted job. */
  status: string | null;
  statusReason: string | null;
  /** The SDK's classification: pending, starting, running, stopping, succeeded, failed, stopped. */
  outcome: JobOutcome["phase"];
  coreType: string | null;
  cores: number | null;
  walltimeHours: number | null;
  createdAt: Date | null;
  /** Seconds it ran (first Executing to Completed, or to now). */
  durationSeconds: number | null;
  /** Test accuracy / macro AUC of a finished job from its downloaded outputs (`./rescale-run-<id>`). */
  testAccuracy: number | null;
  testMacroAuc: number | null;
  metricsFile: string | null;
}

export const listCommand = defineCommand({
  command: "list",
  describe: "List your jobs and workstations (newest first), with duration and test metrics when known",
  builder: (y) =>
    y
      .option("active", { type: "boolean", default: false, describe: "Only jobs that are not completed" })
      .option("limit", { type: "number", default: 20, describe: "At most this many (each row is fetched)" })
      .example("$0 list --active", "Workstations still starting or running")
      .example("$0 list --json", "Machine-readable (schema in docs/cli.md)"),
  async run(options, factory) {
    const { client } = await factory.target();
    const limit = Math.max(1, Number(options.limit) || 20);
    const summaries: Job[] = [];
    for await (const job of client.jobs.iterate({
      state: options.active ? "not_completed" : undefined,
      pageSize: Math.min(100, limit),
    })) {
      summaries.push(job);
      if (summaries.length >= limit) break;
    }
    // The list gives summaries (no hardware, no reason): fetch what the rows show, bounded and concurrent.
    const rows = await mapBounded(summaries, LIST_CONCURRENCY, (summary) =>
      listRow(client, summary, factory),
    );
    factory.out.result({ schema: JOBS_JSON_SCHEMA, jobs: rows }, () => {
      if (rows.length === 0) return factory.out.line(options.active ? "No active jobs." : "No jobs yet.");
      factory.out.table(rows, [
        { header: "ID", value: (r) => r.id },
        { header: "NAME", value: (r) => r.name },
        { header: "TYPE", value: (r) => r.type ?? "-" },
        { header: "STATUS", value: (r) => colorStatus(factory, r) },
        {
          header: "CORES",
          value: (r) => (r.cores === null ? "-" : `${r.cores} x ${r.coreType ?? "?"}`),
          align: "right",
        },
        {
          header: "WALLTIME",
          value: (r) => (r.walltimeHours ? `${r.walltimeHours} h` : "-"),
          align: "right",
        },
        {
          header: "RAN",
          value: (r) => (r.durationSeconds === null ? "-" : formatDuration(r.durationSeconds * 1000)),
          align: "right",
        },
        { header: "TEST ACC", value: (r) => fixed(r.testAccuracy), align: "right" },
        { header: "AUC", value: (r) => fixed(r.testMacroAuc), align: "right" },
        { header: "CREATED", value: (r) => time(r.createdAt) },
      ]);
    });
  },
});

const fixed = (value: number | null) => (value === null ? "-" : value.toFixed(3));

async function listRow(client: RescaleClient, summary: Job, factory: Factory): Promise<JobListRow> {
  const id = String(summary.id);
  const [job, statuses] = await Promise.all([
    client.jobs.get(id, { signal: factory.signal }).catch(() => summary),
    client.jobs.statuses(id, { signal: factory.signal }).catch(() => null),
  ]);
  const outcome = classifyJobOutcome(statuses ?? []);
  // Test figures from the job's downloaded outputs folder (`./rescale-run-<id>`, as `submit` and `download` write it).
  const metrics = outcome.terminal
    ? await readRunMetrics(metricsCandidates(resolve(factory.io.cwd, `rescale-run-${id}`), "outputs"))
    : null;
  return {
    id,
    name: stripClientToken(summary.name),
    ...hardwareOf(job),
    status: outcome.status ?? null,
    statusReason: outcome.statusReason ?? null,
    outcome: outcome.phase,
    createdAt: summary.dateInserted ?? null,
    durationSeconds: statuses ? runSeconds(statuses, factory.now()) : null,
    testAccuracy: metrics?.accuracy ?? null,
    testMacroAuc: metrics?.macroAuc ?? null,
    metricsFile: metrics?.file ?? null,
  };
}

function colorStatus(factory: Factory, row: Pick<JobListRow, "status" | "statusReason" | "outcome">): string {
  const { c } = factory.out;
  const status = row.status ?? "saved";
  if (row.outcome === "succeeded") return c.green(status);
  if (row.outcome === "failed") return c.red(`${status} (${row.statusReason || "no reason"})`);
  if (row.outcome === "stopped") return c.yellow(`${status} (stopped)`);
  return c.cyan(status);
}

export const statusCommand = defineCommand({
  command: "status <job>",
  describe: "A job's status timeline with times and reasons",
  builder: (y) => jobArg(y).example("$0 status 4 --json", "Timeline as JSON (oldest first; docs/cli.md)"),
  async run(options, factory) {
    const target = await factory.target();
    const { client } = target;
    const id = options.job;
    const [job, statuses, cluster] = await aboutJob(target, id, () =>
      Promise.all([
        client.jobs.get(id),
        client.jobs.statuses(id),
        client.jobs.clusterStatuses(id).catch(() => []),
      ]),
    );
    const timeline = [...statuses].reverse();
    const outcome = classifyJobOutcome(statuses);
    const result = {
      schema: JOBS_JSON_SCHEMA,
      id,
      name: stripClientToken(job.name),
      outcome: outcome.phase,
      succeeded: outcome.succeeded,
      status: outcome.status ?? null,
      statusReason: outcome.statusReason ?? null,
      durationSeconds: runSeconds(statuses, factory.now()),
      hardware: hardwareOf(job),
      statuses: timeline.map((s) => ({
        status: s.status,
        statusDate: s.statusDate,
        statusReason: s.statusReason ?? null,
      })),
      clusterStatuses: [...cluster]
        .reverse()
        .map((s) => ({ status: s.status, statusDate: s.statusDate ?? null })),
    };
    factory.out.result(result, () => {
      const hw = result.hardware;
      factory.out.line(
        `${factory.out.c.bold(result.name)} (job ${id}): ${hw.cores ?? "?"} x ${hw.coreType ?? "?"}, ${hw.type ?? "?"}, walltime ${hw.walltimeHours ?? "?"} h`,
      );
      factory.out.table(timeline, [
        { header: "TIME", value: (s) => time(s.statusDate) },
        { header: "STATUS", value: (s) => s.status },
        { header: "REASON", value: (s) => s.statusReason ?? "" },
      ]);
      if (result.clusterStatuses.length)
        factory.out.line(`cluster: ${result.clusterStatuses.map((s) => s.status).join(" -> ")}`);
      factory.out.line(
        `outcome: ${outcome.phase}${outcome.statusReason ? ` (${outcome.statusReason})` : ""}`,
      );
    });
    return outcome.terminal && !outcome.succeeded ? ExitCode.JobFailed : ExitCode.Success;
  },
});

export const logsCommand = defineCommand({
  command: "logs <job>",
  describe: "Print a job's process_output.log (--follow streams it until the job ends)",
  builder: (y) =>
    jobArg(y)
      .option("follow", { alias: "f", type: "boolean", default: false, describe: "Keep streaming new lines" })
      .option("poll", { type: "number", describe: "Seconds between polls (default 2 local, 15 Rescale)" })
      .example("$0 logs 4 --follow", "Stream the training log; Ctrl-C stops following, not the job"),
  async run(options, factory) {
    const target = await factory.target();
    const id = options.job;
    const print = (line: string) => factory.out.io.stdout.write(`${line}\n`);
    const { client } = target;
    if (!options.follow) {
      const statuses = await aboutJob(target, id, () => client.jobs.statuses(id));
      const outcome = classifyJobOutcome(statuses);
      let lines: string[] = [];
      let unavailable: string | undefined;
      if (outcome.terminal) {
        const final = await readFinalLog(client.jobs, client.files, id);
        if (final) lines = final;
        else unavailable = `the job has no ${PROCESS_OUTPUT_LOG}`;
      } else {
        const live = await readLiveLog(client.jobs, id);
        if (live.available) lines = live.lines;
        else unavailable = live.reason;
      }
      if (unavailable)
        factory.out.note(`job ${id} (${outcome.status ?? "saved"}): log not available yet: ${unavailable}`);
      if (factory.out.json) factory.out.result({ id, available: !unavailable, lines }, () => {});
      else lines.forEach(print);
      return;
    }
    await aboutJob(target, id, () => client.jobs.statuses(id));
    const result = await followJob(client, id, {
      pollMs: pollMs(options.poll, target.kind),
      signal: factory.signal,
      onLine: print,
      onStatus: (s) => factory.out.status(`job ${id}: ${s?.status ?? "saved, not submitted"}`),
      onLogUnavailable: (reason) => {
        factory.out.clearStatus();
        factory.out.note(`log not available yet: ${reason}`);
      },
    });
    factory.out.clearStatus();
    if (result.detached) {
      factory.out.note(`stopped following; job ${id} goes on.`);
      return ExitCode.Interrupted;
    }
    factory.out.note(
      `job ${id}: ${result.outcome.phase} (${result.outcome.statusReason ?? result.latest?.status ?? ""})`,
    );
    return result.outcome.succeeded ? ExitCode.Success : ExitCode.JobFailed;
  },
});

export function pollMs(seconds: unknown, kind: "rescale" | "local"): number {
  const s = typeof seconds === "number" && seconds > 0 ? seconds : kind === "local" ? 1 : 15;
  return s * 1000;
}

/** A job that has already ended cannot be connected to or stopped: said so (docs/cli.md: exit codes). */
function alreadyEnded(id: string, outcome: JobOutcome, what: string): string {
  const reason = outcome.statusReason ? `: ${outcome.statusReason}` : "";
  return `job ${id} has already ended (${outcome.phase}${reason}); ${what}`;
}

export const connectCommand = defineCommand({
  command: "connect <job>",
  describe: "How to connect to a running workstation (ssh, in-browser desktop)",
  builder: (y) => jobArg(y).example("$0 connect 4", "Host, user, ssh port and desktop URL"),
  async run(options, factory) {
    const target = await factory.target();
    const { client, kind } = target;
    const id = options.job;
    const workstation = await aboutJob(target, id, () => client.workstations.get(id));
    const { outcome } = await workstation.status();
    if (outcome.terminal) {
      throw new UsageError(
        alreadyEnded(id, outcome, "there is nothing to connect to."),
        `Its outputs: rescale-run download ${id}`,
      );
    }
    if (outcome.phase !== "running") {
      throw new UsageError(
        `job ${id} is ${outcome.status ?? "saved, not submitted"}, not running yet: nothing to connect to.`,
        `Wait until it is Executing: rescale-run status ${id}`,
      );
    }
    const details = await connectionDetails(workstation, kind);
    factory.out.result({ id, connection: details }, () => {
      if (!details) return factory.out.line(`job ${id} reports no reachable node yet.`);
      factory.out.line(
        `node: ${details.host}${details.ip && details.ip !== details.host ? ` (${details.ip})` : ""}`,
      );
      if (details.sshCommand) factory.out.line(`  ssh:     ${details.sshCommand}`);
      else if (kind === "rescale") factory.out.line("  ssh:     not offered by this node");
      if (details.desktopUrl) factory.out.line(`  desktop: ${details.desktopUrl}`);
      if (kind === "local")
        factory.out.line(
          "(local platform: the workstation is a process on this machine; its files are in the job's sandbox)",
        );
    });
  },
});

/**
 * How to reach a running workstation, as the SDK's `Workstation.connection()` reports it (host, user and SSH port
 * as the platform gives them, nothing invented); null while no node is reachable. Used by `connect` and the
 * dashboard's Connect panel. SSH and the desktop page exist only on Rescale.
 */
export async function connectionDetails(workstation: Workstation, kind: "rescale" | "local") {
  const connection = await workstation.connection().catch(() => null);
  return connection
    ? {
        ...connection,
        sshCommand: kind === "rescale" ? (connection.sshCommand ?? null) : null,
        desktopUrl: kind === "rescale" ? (connection.desktopUrl ?? null) : null,
      }
    : null;
}

export const stopCommand = defineCommand({
  command: "stop <job>",
  describe: "Stop a job or workstation (outputs are kept; it cannot be restarted)",
  builder: (y) => jobArg(y).example("$0 stop 4", "Stop workstation 4 now rather than at its walltime"),
  async run(options, factory) {
    const target = await factory.target();
    const { client } = target;
    const id = options.job;
    const outcome = classifyJobOutcome(await aboutJob(target, id, () => client.jobs.statuses(id)));
    if (outcome.terminal) {
      // Nothing to do, and what was asked for holds: exit 0 (docs/cli.md).
      factory.out.result({ id, stopRequested: false, alreadyEnded: true, outcome: outcome.phase }, () =>
        factory.out.line(alreadyEnded(id, outcome, "nothing to stop.")),
      );
      return ExitCode.Success;
    }
    await aboutJob(target, id, () => client.jobs.stop(id));
    factory.out.result({ id, stopRequested: true, alreadyEnded: false, outcome: outcome.phase }, () =>
      factory.out.line(`stop requested for job ${id}; outputs are synced as it ends.`),
    );
    return ExitCode.Success;
  },
});

export const downloadCommand = defineCommand({
  command: "download <job>",
  describe: "Download a job's output files",
  builder: (y) =>
    jobArg(y)
      .option("out", {
        alias: "o",
        type: "string",
        describe: "Folder to write into (default ./rescale-run-<job>)",
      })
      .example("$0 download 4 --out ./results", "history.json, metrics.json, plots, artifacts.zip, ..."),
  async run(options, factory) {
    const target = await factory.target();
    const id = options.job;
    const outDir = resolve(factory.io.cwd, options.out ?? `rescale-run-${id}`);
    await aboutJob(target, id, () => target.client.jobs.get(id));
    const files = await downloadFinalOutputs(target.client, id, outDir, factory.out, {
      signal: factory.signal,
    });
    factory.out.result({ id, out: outDir, files }, () =>
      factory.out.line(`${files.length} files in ${outDir}`),
    );
  },
});
