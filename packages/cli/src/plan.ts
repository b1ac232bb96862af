/**
 * Flags in, one validated Plan out: core type, cores, memory, GPUs, walltime, price per hour, maximum cost.
 * Pure functions over what the platform lists; nothing here uploads or creates anything.
 */
import {
  type Analysis,
  BILLING_PRIORITY_VALUE,
  type CoreType,
  type CoreTypeComparisonRow,
  compareCoreType,
  compareCoreTypes,
  MAX_WALLTIME_HOURS,
  type PriorityTier,
  parseWalltime,
  type Walltime,
  WalltimeError,
} from "@rescale-run/sdk";
import { UsageError } from "./errors.js";
import { suggest } from "./suggest.js";

export const PRIORITIES = {
  "on-demand-priority": "onDemandPriority",
  "on-demand-economy": "onDemandEconomy",
} as const;
export type PriorityFlag = keyof typeof PRIORITIES;

/** The software tile the job runs on when --software is not given (the seed's Miniconda workstation). */
export const DEFAULT_SOFTWARE = "miniconda_e2e";

export interface CoreTypeChoice {
  coreType: CoreType;
  row: CoreTypeComparisonRow;
  /** True when rescale-run picked it (no --core-type): the cheapest type offering the cores. */
  chosen: boolean;
}

/**
 * `--cores` as typed: decimal digits only. yargs' own number parsing reads "0x2" as 2 and "1e1" as 10, so the
 * flag is taken as a string and parsed here; "", "2.5", "-1", "0x2", "1e1" and "two" are one-line errors.
 */
export function parseCoresFlag(value: unknown): number {
  const text = String(value ?? "").trim();
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text)))
    throw new UsageError(
      `--cores ${JSON.stringify(value)}: must be a positive whole number of cores, e.g. --cores 4.`,
    );
  return Number(text);
}

/** `--walltime` as typed; over Rescale's maximum the CLI refuses outright (it has no flag to force more). */
export function parseWalltimeFlag(text: string): Walltime {
  try {
    return parseWalltime(text);
  } catch (err) {
    if (!(err instanceof WalltimeError)) throw err;
    if (/limit/.test(err.message))
      throw new UsageError(
        `--walltime ${text}: over the maximum of ${MAX_WALLTIME_HOURS} h (14 days).`,
        `Ask for ${MAX_WALLTIME_HOURS}h or less; a longer run can --resume from its checkpoint in a new job.`,
      );
    throw new UsageError(`--walltime: ${err.message}`);
  }
}

/** Finds a core type by code or display name, case-insensitive; a misspelling gets suggestions. */
export function findCoreType(types: CoreType[], wanted: string): CoreType {
  const key = wanted.trim().toLowerCase();
  const found =
    types.find((t) => t.code.toLowerCase() === key) ?? types.find((t) => t.name.trim().toLowerCase() === key);
  if (found) return found;
  const close = suggest(wanted, [...new Set(types.flatMap((t) => [t.code, t.name]))]);
  throw new UsageError(
    `No core type "${wanted}" on this platform.`,
    close.length
      ? `Did you mean ${close.map((c) => `"${c}"`).join(" or ")}? See \`rescale-run coretypes list\`.`
      : "See `rescale-run coretypes list` for the core types on this platform.",
  );
}

/** The core type for a job of `cores` cores on one node, validated; without --core-type, the cheapest fit. */
export function chooseCoreType(
  types: CoreType[],
  options: { coreType?: string; cores: number; walltimeHours: number; priority: PriorityTier },
): CoreTypeChoice {
  const { cores, walltimeHours } = options;
  if (!Number.isInteger(cores) || cores < 1) throw new UsageError(`--cores must be a positive whole number.`);
  if (options.coreType) {
    const coreType = findCoreType(types, options.coreType);
    if (!coreType.cores.includes(cores)) {
      throw new UsageError(
        `Core type ${coreType.name} (${coreType.code}) offers ${coreType.cores.join(", ")} cores per node, not ${cores}.`,
        `Pick one of those with --cores.`,
      );
    }
    return { coreType, row: compareCoreType(coreType, { cores, walltimeHours }), chosen: false };
  }
  const fitting = types.filter((t) => t.cores.includes(cores) && !t.isDeprecated);
  if (fitting.length === 0) {
    const offered = [...new Set(types.flatMap((t) => t.cores))].sort((a, b) => a - b);
    throw new UsageError(
      `No core type on this platform offers ${cores} cores on one node.`,
      `Core counts offered: ${offered.join(", ")}. Pick one with --cores (see \`rescale-run coretypes list\`).`,
    );
  }
  const comparison = compareCoreTypes(fitting, { cores, walltimeHours, recommendTier: options.priority });
  const row = comparison.recommendation ?? comparison.rows[0]!;
  const coreType = fitting.find((t) => t.code === row.code)!;
  return { coreType, row, chosen: true };
}

export interface SoftwareChoice {
  code: string;
  name: string;
  version: string;
  versionCode: string;
}

/** `--software CODE[:VERSION]`: the analysis by code or name, the version by display version or versionCode. */
export function chooseSoftware(analyses: Analysis[], wanted: string, coreTypeCode: string): SoftwareChoice {
  const [rawCode = "", rawVersion] = wanted.split(":", 2);
  const key = rawCode.trim().toLowerCase();
  const analysis =
    analyses.find((a) => a.code.toLowerCase() === key) ?? analyses.find((a) => a.name.toLowerCase() === key);
  if (!analysis) {
    const close = suggest(
      rawCode,
      analyses.map((a) => a.code),
    );
    throw new UsageError(
      `No software "${rawCode}" on this platform.`,
      close.length
        ? `Did you mean ${close.join(" or ")}? See \`rescale-run software list\`.`
        : "See `rescale-run software list`.",
    );
  }
  const versions = analysis.versions;
  const version = rawVersion
    ? versions.find((v) => v.version === rawVersion || v.versionCode === rawVersion)
    : versions[0];
  if (!version) {
    throw new UsageError(
      `${analysis.name} has no version "${rawVersion ?? ""}".`,
      `Versions: ${versions.map((v) => v.version || v.versionCode).join(", ") || "none"}.`,
    );
  }
  const allowed = version.allowedCoreTypes;
  if (allowed?.length && !allowed.includes(coreTypeCode)) {
    throw new UsageError(
      `${analysis.name} ${version.version} does not run on core type ${coreTypeCode}.`,
      `It runs on: ${allowed.slice(0, 12).join(", ")}${allowed.length > 12 ? ", ..." : ""}.`,
    );
  }
  return {
    code: analysis.code,
    name: analysis.name,
    version: version.version,
    versionCode: version.versionCode,
  };
}

/** `--allow-ip`: an IPv4/IPv6 address or CIDR, turned into the job's `cidrRule`. */
export function toCidrRule(value: string): string {
  const [address = "", prefix] = value.trim().split("/", 2);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  const isV4 = v4?.slice(1).every((o) => Number(o) <= 255) === true;
  const isV6 = !isV4 && /^[0-9a-f:]+$/i.test(address) && address.includes(":");
  if (!isV4 && !isV6) {
    throw new UsageError(
      `--allow-ip "${value}" is not an IP address or CIDR (e.g. 203.0.113.7 or 203.0.113.0/24).`,
      "Find your public address with your network administrator or a what-is-my-ip page.",
    );
  }
  const max = isV4 ? 32 : 128;
  const bits = prefix === undefined ? max : Number(prefix);
  if (!Number.isInteger(bits) || bits < 0 || bits > max)
    throw new UsageError(`--allow-ip "${value}": bad prefix length.`);
  return `${address}/${bits}`;
}

export interface PlanDataset {
  /** What the user gave (or the synthetic demo folder). */
  source: string;
  kind: "directory" | "zip";
  synthetic: boolean;
  classes: { name: string; images: number }[];
  /** Folder of the dataset inside the job's working directory once the zip is unpacked. */
  jobDir: string;
}

export interface Plan {
  name: string;
  platform: { kind: "rescale" | "local"; label: string };
  jobType: "interactive" | "compute";
  coreType: { code: string; name: string; chosen: boolean; emulated: boolean };
  cores: number;
  memoryPerNodeGiB: number | null;
  storagePerNodeGiB: number | null;
  gpus: number | null;
  walltime: { hours: number; text: string; roundedUp: boolean };
  priority: { flag: PriorityFlag; tier: PriorityTier; billingPriorityValue: string };
  pricePerHour: number | null;
  maxCost: number | null;
  software: SoftwareChoice;
  cidrRule: string | null;
  dataset: PlanDataset;
  attachments: string[];
  runnerArgs: string[];
  offlineRuntime: string | null;
  out: string;
}

export interface PlanInput
  extends Pick<
    Plan,
    | "name"
    | "platform"
    | "software"
    | "cidrRule"
    | "dataset"
    | "attachments"
    | "runnerArgs"
    | "offlineRuntime"
    | "out"
  > {
  batch: boolean;
  choice: CoreTypeChoice;
  walltime: Walltime;
  priority: PriorityFlag;
}

export function buildPlan(input: PlanInput): Plan {
  const { row, coreType } = input.choice;
  const tier = PRIORITIES[input.priority];
  const price = row.prices[tier];
  return {
    name: input.name,
    platform: input.platform,
    jobType: input.batch ? "compute" : "interactive",
    coreType: {
      code: coreType.code,
      name: coreType.name,
      chosen: input.choice.chosen,
      emulated: (coreType as { isEmulated?: unknown }).isEmulated === true,
    },
    cores: row.coresPerNode,
    memoryPerNodeGiB: row.memoryPerNodeGiB,
    storagePerNodeGiB: row.storagePerNodeGiB,
    gpus: row.gpusPerNode,
    walltime: { hours: input.walltime.hours, text: input.walltime.text, roundedUp: input.walltime.roundedUp },
    priority: { flag: input.priority, tier, billingPriorityValue: BILLING_PRIORITY_VALUE[tier] },
    pricePerHour: price ? price.perCoreHour * row.coresPerNode : null,
    maxCost: price ? price.perCoreHour * row.coresPerNode * input.walltime.hours : null,
    software: input.software,
    cidrRule: input.cidrRule,
    dataset: input.dataset,
    attachments: input.attachments,
    runnerArgs: input.runnerArgs,
    offlineRuntime: input.offlineRuntime,
    out: input.out,
  };
}
