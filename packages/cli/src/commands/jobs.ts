/** Commands on existing jobs: list, status, logs, connect, stop, download. */
import { resolve } from "node:path";
import { type Job, type JobStatusEntry, type RescaleClient, stripClientToken } from "@rescale-run/sdk";
import type { Argv } from "yargs";
import type { CommandSpec } from "../cli.js";
import type { CommandContext } from "../context.js";
import { JobFailedError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import { finalLog, followJob, outcomeOf, tailLog } from "../follow.js";
import { downloadJobOutputs } from "../outputs.js";
import { withTarget } from "../target.js";

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

export function hardwareOf(job: Job) {
  const hw = job.jobanalyses[0]?.hardware;
  const coreType = typeof hw?.coreType === "object" ? hw.coreType.code : hw?.coreType;
  return {
    coreType: coreType ?? "",
    cores: hw?.coresPerSlot ?? 0,
    walltime: hw?.walltime ?? null,
    type: hw?.type ?? "",
  };
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

export function profileFlag(ctx: CommandContext): string {
  if (ctx.globals.profile) return ` --profile ${ctx.globals.profile}`;
  return ctx.globals.local ? " --local" : "";
}

export const listCommand: CommandSpec = {
  command: "list",
  describe: "List your jobs and workstations (newest first)",
  builder: (y) =>
    y
      .option("active", { type: "boolean", default: false, describe: "Only jobs that are not completed" })
      .option("limit", { type: "number", default: 50, describe: "At most this many" })
      .example("$0 list --active", "Workstations still starting or running")
      .example("$0 list --json", "Machine-readable"),
  action: (args) => async (ctx) =>
    withTarget(ctx, async ({ client }) => {
      const jobs: Job[] = [];
      for await (const job of client.jobs.iterate({ state: args.active ? "not_completed" : undefined })) {
        jobs.push(job);
        if (jobs.length >= Number(args.limit)) break;
      }
      const rows = jobs.map((job) => ({
        id: String(job.id),
        name: stripClientToken(job.name),
        ...latestStatusOf(job),
        ...hardwareOf(job),
        created: job.dateInserted ?? null,
      }));
      ctx.out.result(rows, () => {
        if (rows.length === 0) return ctx.out.line(args.active ? "No active jobs." : "No jobs yet.");
        ctx.out.table(rows, [
          { header: "ID", value: (r) => r.id },
          { header: "NAME", value: (r) => r.name },
          { header: "TYPE", value: (r) => (r.type === "interactive" ? "workstation" : r.type || "-") },
          { header: "STATUS", value: (r) => colorStatus(ctx, r.status, r.reason) },
          { header: "CORES", value: (r) => `${r.cores} x ${r.coreType}`, align: "right" },
          { header: "WALLTIME", value: (r) => (r.walltime ? `${r.walltime} h` : "-"), align: "right" },
          { header: "CREATED", value: (r) => time(r.created) },
        ]);
      });
    }),
};

function colorStatus(ctx: CommandContext, status: string, reason: string): string {
  const { c } = ctx.out;
  const outcome = outcomeOf({ status, statusReason: reason, statusDate: null } as unknown as JobStatusEntry);
  if (outcome === "succeeded") return c.green(status);
  if (outcome === "failed") return c.red(`${status} (${reason || "no reason"})`);
  return c.cyan(status);
}

export const statusCommand: CommandSpec = {
  command: "status <job>",
  describe: "A job's status timeline with times and reasons",
  builder: (y) => jobArg(y).example("$0 status 4 --json", "Timeline as JSON (oldest first)"),
  action: (args) => async (ctx) =>
    withTarget(ctx, async ({ client }) => {
      const id = String(args.job);
      const [job, statuses, cluster] = await Promise.all([
        client.jobs.get(id),
        client.jobs.statuses(id),
        client.jobs.clusterStatuses(id).catch(() => []),
      ]);
      const timeline = [...statuses].reverse();
      const outcome = outcomeOf(statuses[0]);
      const result = {
        id,
        name: stripClientToken(job.name),
        outcome,
        hardware: hardwareOf(job),
        statuses: timeline,
        clusterStatuses: [...cluster].reverse(),
      };
      ctx.out.result(result, () => {
        const hw = result.hardware;
        ctx.out.line(
          `${ctx.out.c.bold(result.name)} (job ${id}): ${hw.cores} x ${hw.coreType}, ${hw.type}, walltime ${hw.walltime ?? "?"} h`,
        );
        ctx.out.table(timeline, [
          { header: "TIME", value: (s) => time(s.statusDate) },
          { header: "STATUS", value: (s) => s.status },
          { header: "REASON", value: (s) => s.statusReason ?? "" },
        ]);
        if (result.clusterStatuses.length)
          ctx.out.line(`cluster: ${result.clusterStatuses.map((s) => s.status).join(" -> ")}`);
        ctx.out.line(`outcome: ${outcome}`);
      });
      return outcome === "failed" ? ExitCode.JobFailed : ExitCode.Success;
    }),
};

export const logsCommand: CommandSpec = {
  command: "logs <job>",
  describe: "Print a job's process_output.log (--follow streams it until the job ends)",
  builder: (y) =>
    jobArg(y)
      .option("follow", { alias: "f", type: "boolean", default: false, describe: "Keep streaming new lines" })
      .option("poll", { type: "number", describe: "Seconds between polls (default 2 local, 15 Rescale)" })
      .example("$0 logs 4 --follow", "Stream the training log; Ctrl-C stops following, not the job"),
  action: (args) => async (ctx) =>
    withTarget(ctx, async (target) => {
      const id = String(args.job);
      const print = (line: string) => ctx.out.io.stdout.write(`${line}\n`);
      if (!args.follow) {
        const statuses = await target.client.jobs.statuses(id);
        const lines =
          outcomeOf(statuses[0]) === "running"
            ? await tailLog(target.client, id)
            : await finalLog(target.client, id);
        if (ctx.out.json) ctx.out.result({ id, lines }, () => {});
        else lines.forEach(print);
        return;
      }
      const result = await followJob(target.client, id, {
        pollMs: pollMs(args.poll, target.kind),
        signal: ctx.signal,
        onLine: print,
        onStatus: (s) => ctx.out.status(`job ${id}: ${s?.status ?? "unknown"}`),
      });
      ctx.out.clearStatus();
      if (result.detached) {
        ctx.out.note(`stopped following; job ${id} goes on.`);
        return ExitCode.Interrupted;
      }
      ctx.out.note(`job ${id}: ${result.latest?.status} (${result.latest?.statusReason ?? ""})`);
      return result.outcome === "failed" ? ExitCode.JobFailed : ExitCode.Success;
    }),
};

export function pollMs(seconds: unknown, kind: "rescale" | "local"): number {
  const s = typeof seconds === "number" && seconds > 0 ? seconds : kind === "local" ? 1 : 15;
  return s * 1000;
}

export const connectCommand: CommandSpec = {
  command: "connect <job>",
  describe: "How to connect to a running workstation (ssh, in-browser desktop)",
  builder: (y) => jobArg(y).example("$0 connect 4", "Host, user, ssh port and desktop URL"),
  action: (args) => async (ctx) =>
    withTarget(ctx, async ({ client, kind }) => {
      const id = String(args.job);
      const statuses = await client.jobs.statuses(id);
      if (statuses[0]?.status !== "Executing") {
        throw new JobFailedError(
          `job ${id} is ${statuses[0]?.status ?? "unknown"}, not running: nothing to connect to.`,
          `Wait until it is Executing: rescale-run status ${id}`,
        );
      }
      const details = await connectionDetails(client, kind, id);
      ctx.out.result({ id, instances: details }, () => {
        if (details.length === 0) ctx.out.line(`job ${id} reports no instances yet.`);
        for (const d of details) {
          ctx.out.line(`${d.role ?? "node"}: ${d.publicHostname ?? d.publicIp ?? "(no public address)"}`);
          if (d.ssh) ctx.out.line(`  ssh:     ${d.ssh}`);
          if (d.desktopUrl) ctx.out.line(`  desktop: ${d.desktopUrl}`);
        }
        if (kind === "local")
          ctx.out.line(
            "(local platform: the workstation is a process on this machine; its files are in the job's sandbox)",
          );
      });
    }),
};

/** The nodes of a running job and how to reach them (also the dashboard's Connect panel). */
export async function connectionDetails(client: RescaleClient, kind: "rescale" | "local", id: string) {
  const instances = await client.jobs.instances(id);
  return instances.map((i) => ({
    ...i,
    ssh:
      kind === "rescale" && (i.publicHostname || i.publicIp)
        ? `ssh -p ${i.sshPort ?? 22} ${i.username ?? "uprod"}@${i.publicHostname || i.publicIp}`
        : null,
    desktopUrl:
      i.clusterId !== undefined && kind === "rescale" ? client.jobs.desktopUrl(String(i.clusterId)) : null,
  }));
}

export const stopCommand: CommandSpec = {
  command: "stop <job>",
  describe: "Stop a job or workstation (outputs are kept; it cannot be restarted)",
  builder: (y) => jobArg(y).example("$0 stop 4", "Stop workstation 4 now rather than at its walltime"),
  action: (args) => async (ctx) =>
    withTarget(ctx, async ({ client }) => {
      const id = String(args.job);
      await client.jobs.stop(id);
      ctx.out.result({ id, stopRequested: true }, () =>
        ctx.out.line(`stop requested for job ${id}; outputs are synced as it ends.`),
      );
    }),
};

export const downloadCommand: CommandSpec = {
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
  action: (args) => async (ctx) =>
    withTarget(ctx, async ({ client }) => {
      const id = String(args.job);
      const outDir = resolve(ctx.io.cwd, String(args.out ?? `rescale-run-${id}`));
      const files = await downloadAll(client, id, outDir, ctx);
      ctx.out.result({ id, out: outDir, files }, () => ctx.out.line(`${files.length} files in ${outDir}`));
    }),
};

function downloadAll(client: RescaleClient, id: string, outDir: string, ctx: CommandContext) {
  return downloadJobOutputs(client, id, outDir, ctx.out, { signal: ctx.signal });
}
