/**
 * What the dashboard's pages show, fetched through the SDK on the server side (the API key stays in this process):
 * job rows with walltime left and cost so far, a job's detail, and the Coretype Explorer's comparison.
 */
import {
  BILLING_PRIORITY_VALUE,
  type CompareSortKey,
  type CoreType,
  type CoreTypeComparison,
  classifyJobOutcome,
  compareCoreType,
  compareCoreTypes,
  type Job,
  type JobStatusEntry,
  type PriorityTier,
  type RescaleClient,
  type RescaleFile,
  stripClientToken,
} from "@rescale-run/sdk";
import type { comparisonContext } from "../commands/coretypes.js";
import { hardwareOf, latestStatusOf, mapBounded } from "../commands/jobs.js";

/** A job's row state for the pages: "running" until the SDK's classification says it ended, then how. */
export type Outcome = "running" | "succeeded" | "failed" | "stopped";

function outcomeOf(statuses: readonly JobStatusEntry[]): Outcome {
  const outcome = classifyJobOutcome(statuses);
  if (!outcome.terminal) return "running";
  return outcome.phase === "succeeded" ? "succeeded" : outcome.phase === "stopped" ? "stopped" : "failed";
}

/** Jobs per Workstations page (each needs its status timeline for the walltime left and the cost). */
export const JOBS_PER_PAGE = 50;
const STATUS_FETCH_CONCURRENCY = 8;
/** Statuses before Executing (and a job never submitted, with none). */
const NOT_STARTED = new Set(["", "Not Submitted", "Pending", "Queued", "Validated", "Started"]);

export interface JobRow {
  id: string;
  name: string;
  status: string;
  reason: string;
  outcome: Outcome;
  coreType: string;
  cores: number;
  type: string;
  walltimeHours: number | null;
  /** Hours since the job started executing (to its end when it has ended), or null before it ran. */
  runHours: number | null;
  /** Walltime minus run time while it runs; null once it has ended or before it starts. */
  walltimeLeftHours: number | null;
  /** Price per hour of the job's cores in its billing tier; null when the catalog has no price. */
  pricePerHour: number | null;
  /** pricePerHour x runHours: an estimate of what the job has cost so far (platform currency). */
  costSoFar: number | null;
  created: Date | null;
}

const TIER_OF_BILLING: Record<string, PriorityTier> = Object.fromEntries(
  (Object.entries(BILLING_PRIORITY_VALUE) as [PriorityTier, string][]).map(([tier, value]) => [value, tier]),
);

/** When the job started executing and, if it has ended, when (statuses newest first, as the SDK returns them). */
function runWindow(statuses: readonly JobStatusEntry[]): { start: Date | null; end: Date | null } {
  const executing = [...statuses].reverse().find((s) => s.status === "Executing");
  const start = executing?.statusDate ?? null;
  const latest = statuses[0];
  const ended = latest && outcomeOf(statuses) !== "running";
  return { start, end: ended ? (latest.statusDate ?? null) : null };
}

export function jobRow(
  job: Job,
  statuses: readonly JobStatusEntry[],
  coreTypes: readonly CoreType[],
  now = Date.now(),
): JobRow {
  const hw = hardwareOf(job);
  const latest = latestStatusOf(job);
  const { start, end } = runWindow(statuses);
  const runHours = start ? Math.max(0, ((end?.getTime() ?? now) - start.getTime()) / 3_600_000) : null;
  const tier = TIER_OF_BILLING[job.billingPriorityValue ?? ""] ?? "onDemandPriority";
  const coreType = coreTypes.find((t) => t.code === hw.coreType);
  const cores = hw.cores ?? 0;
  const price =
    coreType && cores > 0 ? compareCoreType(coreType, { cores, walltimeHours: 1 }).prices[tier] : null;
  const pricePerHour = price && price.perCoreHour !== null ? price.perCoreHour * cores : null;
  const running = start !== null && end === null;
  return {
    id: String(job.id),
    name: stripClientToken(job.name),
    status: statuses[0]?.status ?? latest.status,
    reason: statuses[0]?.statusReason ?? latest.reason,
    outcome: outcomeOf(statuses),
    coreType: hw.coreType ?? "-",
    cores,
    type: hw.type ?? "-",
    walltimeHours: hw.walltimeHours,
    runHours,
    walltimeLeftHours:
      running && hw.walltimeHours !== null && runHours !== null
        ? Math.max(0, hw.walltimeHours - runHours)
        : null,
    pricePerHour,
    costSoFar: pricePerHour !== null && runHours !== null ? pricePerHour * runHours : null,
    created: job.dateInserted ?? null,
  };
}

export interface JobsPage {
  rows: JobRow[];
  page: number;
  hasMore: boolean;
}

/**
 * Status timelines of jobs that have ended never change: kept here (per dashboard process) so a refresh of the
 * Workstations page asks the platform only about the jobs still starting or running.
 */
export class FinishedTimelines {
  private readonly kept = new Map<string, JobStatusEntry[]>();
  constructor(private readonly limit = 5000) {}

  async get(client: RescaleClient, id: string): Promise<JobStatusEntry[]> {
    const known = this.kept.get(id);
    if (known) return known;
    const statuses = await client.jobs.statuses(id);
    if (outcomeOf(statuses) !== "running" && this.kept.size < this.limit) this.kept.set(id, statuses);
    return statuses;
  }
}

/** One page of jobs, newest first (the platform's page), each with its status timeline. */
export async function listJobRows(
  client: RescaleClient,
  coreTypes: readonly CoreType[],
  page = 1,
  timelines = new FinishedTimelines(),
): Promise<JobsPage> {
  const answer = await client.jobs.page({ pageSize: JOBS_PER_PAGE, page });
  // A job that has not started executing has no run time yet: its latest status (in the list) says all there is.
  const rows = await mapBounded(answer.results, STATUS_FETCH_CONCURRENCY, async (job) =>
    jobRow(
      job,
      NOT_STARTED.has(latestStatusOf(job).status) ? [] : await timelines.get(client, String(job.id)),
      coreTypes,
    ),
  );
  return { rows, page, hasMore: Boolean(answer.next) };
}

/** Files a page shows inline (plots) and the report. */
export const isPlot = (f: Pick<RescaleFile, "name">) => /\.(png|svg|jpe?g)$/i.test(f.name);
/** The runner's REPORT_FILE (packages/runner/src/report.ts); the CLI does not load the runner just for its name. */
export const REPORT_FILE = "report.html";

export interface ExplorerQuery {
  cores?: number;
  walltimeHours: number;
  priority: PriorityTier;
  sortBy: CompareSortKey;
  descending: boolean;
  filter: string;
  minMemoryGB?: number;
  minGpus?: number;
}

/**
 * The Coretype Explorer: the SDK's comparison (and its recommendation) over the types whose name/code match, made
 * as `coretypes compare` makes it for a workstation (the same context: software's allowed types, price table).
 */
export function explore(
  context: Awaited<ReturnType<typeof comparisonContext>>,
  q: ExplorerQuery,
): CoreTypeComparison {
  const types = context.all;
  const needle = q.filter.trim().toLowerCase();
  const matching = types.filter(
    (t) =>
      !needle ||
      t.code.toLowerCase().includes(needle) ||
      t.name.toLowerCase().includes(needle) ||
      (t.processorInfo ?? "").toLowerCase().includes(needle),
  );
  return compareCoreTypes(matching, {
    cores: q.cores,
    walltimeHours: q.walltimeHours,
    allowedCoreTypes: context.software?.allowedCoreTypes,
    requireRemoteViz: true,
    prices: context.prices,
    sortBy: q.sortBy,
    descending: q.descending,
    minMemoryGB: q.minMemoryGB,
    minGpus: q.minGpus,
    recommendTier: q.priority,
  });
}
