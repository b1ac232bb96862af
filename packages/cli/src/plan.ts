/**
 * Flags in, one validated Plan out: core type, cores, memory, GPUs, walltime, price per hour, maximum cost.
 * Pure functions over what the platform lists; nothing here uploads or creates anything.
 */
import type { DevicePreference } from "@rescale-run/runner/device-choices";
import {
  type Analysis,
  BILLING_PRIORITY_VALUE,
  type CoreType,
  type CoreTypeComparisonRow,
  compareCoreType,
  compareCoreTypes,
  coreTypeAllowed,
  isPseudoCoreType,
  MAX_WALLTIME_HOURS,
  matchAnalysis,
  matchCoreType,
  matchVersion,
  type PriceSource,
  type PriceTable,
  type PriorityTier,
  parseWalltime,
  toCidrRule,
  type Walltime,
} from "@rescale-run/sdk";
import { errorKind, UsageError } from "./errors.js";
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
    if (errorKind(err) !== "walltime") throw err;
    const { message } = err as Error;
    if (/limit/.test(message))
      throw new UsageError(
        `--walltime ${text}: over the maximum of ${MAX_WALLTIME_HOURS} h (14 days).`,
        `Ask for ${MAX_WALLTIME_HOURS}h or less; a longer run can --resume from its checkpoint in a new job.`,
      );
    throw new UsageError(`--walltime: ${message}`);
  }
}

/** Finds a core type by code or display name (the SDK's one lookup); a misspelling gets suggestions. */
export function findCoreType(types: CoreType[], wanted: string): CoreType {
  const found = matchCoreType(types, wanted);
  if (found) return found;
  const close = suggest(wanted, [...new Set(types.flatMap((t) => [t.code, t.name]))]);
  throw new UsageError(
    `No core type "${wanted}" on this platform.`,
    close.length
      ? `Did you mean ${close.map((c) => `"${c}"`).join(" or ")}? See \`rescale-run coretypes list\`.`
      : "See `rescale-run coretypes list` for the core types on this platform.",
  );
}

export interface CoreTypeRequest {
  coreType?: string;
  cores: number;
  walltimeHours: number;
  priority: PriorityTier;
  /** The software version's `allowedCoreTypes` (empty: any). */
  allowedCoreTypes?: readonly string[];
  /** A workstation: only types with `remoteVizAllowed`. */
  interactive?: boolean;
  /** Prices from `/billing/computeprices/`, when it answered. */
  prices?: PriceTable;
  /** For messages: the software the types are filtered for. */
  softwareLabel?: string;
}

/**
 * The core type for a job of `cores` cores on one node, validated; without --core-type, the cheapest fit among
 * the types the software allows (and, for a workstation, that can host a desktop); pseudo types never.
 */
export function chooseCoreType(types: CoreType[], options: CoreTypeRequest): CoreTypeChoice {
  const { cores, walltimeHours } = options;
  if (!Number.isInteger(cores) || cores < 1) throw new UsageError(`--cores must be a positive whole number.`);
  const rules = { allowedCoreTypes: options.allowedCoreTypes, requireRemoteViz: options.interactive };
  const compare = { cores, walltimeHours, prices: options.prices };
  if (options.coreType) {
    const coreType = findCoreType(types, options.coreType);
    if (!coreType.cores.includes(cores)) {
      throw new UsageError(
        `Core type ${coreType.name} (${coreType.code}) offers ${coreType.cores.join(", ")} cores per node, not ${cores}.`,
        `Pick one of those with --cores.`,
      );
    }
    if (!coreTypeAllowed(coreType, rules)) {
      const allowed = options.allowedCoreTypes ?? [];
      throw new UsageError(
        options.interactive && coreType.remoteVizAllowed === false
          ? `Core type ${coreType.name} (${coreType.code}) cannot host a workstation (remoteVizAllowed is false).`
          : `${options.softwareLabel ?? "The software"} does not run on core type ${coreType.code}.`,
        allowed.length
          ? `It runs on: ${allowed.slice(0, 12).join(", ")}${allowed.length > 12 ? ", ..." : ""}.`
          : "Use --batch for a batch job, or pick another --core-type.",
      );
    }
    return { coreType, row: compareCoreType(coreType, compare), chosen: false };
  }
  const fitting = types.filter(
    (t) => t.cores.includes(cores) && !t.isDeprecated && !isPseudoCoreType(t) && coreTypeAllowed(t, rules),
  );
  if (fitting.length === 0) {
    const usable = types.filter((t) => !isPseudoCoreType(t) && coreTypeAllowed(t, rules));
    const offered = [...new Set(usable.flatMap((t) => t.cores))].sort((a, b) => a - b);
    throw new UsageError(
      `No core type on this platform offers ${cores} cores on one node${options.softwareLabel ? ` for ${options.softwareLabel}` : ""}${options.interactive ? " on a workstation" : ""}.`,
      `Core counts offered: ${offered.join(", ") || "none"}. Pick one with --cores (see \`rescale-run coretypes compare\`).`,
    );
  }
  const comparison = compareCoreTypes(fitting, { ...compare, recommendTier: options.priority });
  const row = comparison.recommendation ?? comparison.rows[0]!;
  const coreType = fitting.find((t) => t.code === row.code)!;
  return { coreType, row, chosen: true };
}

export interface SoftwareChoice {
  code: string;
  name: string;
  version: string;
  versionCode: string;
  /** Core types the version runs on (empty: any). */
  allowedCoreTypes: string[];
}

/** `--software CODE[:VERSION]`: the analysis and version through the SDK's one lookup (code/name, versionCode/display). */
export function chooseSoftware(analyses: Analysis[], wanted: string): SoftwareChoice {
  const [rawCode = "", rawVersion] = wanted.split(":", 2);
  const analysis = matchAnalysis(analyses, rawCode);
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
  const version = matchVersion(analysis, rawVersion);
  if (!version) {
    throw new UsageError(
      `${analysis.name} has no version "${rawVersion ?? ""}".`,
      `Versions: ${analysis.versions.map((v) => v.version || v.versionCode).join(", ") || "none"}.`,
    );
  }
  return {
    code: analysis.code,
    name: analysis.name,
    version: version.version,
    versionCode: version.versionCode,
    allowedCoreTypes: version.allowedCoreTypes ?? [],
  };
}

/** `--allow-ip`: the SDK's `toCidrRule`, its refusal as a usage error. */
export function allowIpRule(value: string): string {
  try {
    return toCidrRule(value);
  } catch (error) {
    if (errorKind(error) === "validation")
      throw new UsageError(
        `--allow-ip: ${(error as Error).message}`,
        "Find your public address with your network administrator or a what-is-my-ip page.",
      );
    throw error;
  }
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

/** `submit --device`: the runner's `--device`, resolved against the core type's GPU count. */
export type DeviceFlag = DevicePreference;

export interface PlanDevice {
  flag: DeviceFlag;
  /**
   * What the runner is told: `gpu` on a GPU core type (a broken driver then fails the run instead of crawling on
   * the CPU), `cpu` when asked; otherwise nothing, so the runner's own `auto` decides.
   */
  runnerDevice: DeviceFlag | null;
  /** The plan's line, e.g. "GPU (1 per node; WebGPU over Vulkan, checked by the bootstrap)". */
  summary: string;
}

/**
 * The device policy of a plan: `auto` on a core type with GPUs means the GPU, without GPUs the CPU, and with an
 * unknown count the runner's own auto-detection; `gpu` on a core type without GPUs is a usage error.
 */
export function planDevice(flag: DeviceFlag, gpus: number | null, coreTypeCode: string): PlanDevice {
  const onGpu = `GPU (${gpus ?? "unknown count"} per node; WebGPU over Vulkan, checked by the bootstrap before training)`;
  if (flag === "cpu") return { flag, runnerDevice: "cpu", summary: "CPU (--device cpu)" };
  if (flag === "gpu") {
    if (gpus === 0)
      throw new UsageError(
        `--device gpu: core type ${coreTypeCode} has no GPUs.`,
        "Pick a GPU core type (rescale-run coretypes compare --gpus 1) or drop --device gpu.",
      );
    return { flag, runnerDevice: "gpu", summary: onGpu };
  }
  if (gpus !== null && gpus > 0) return { flag, runnerDevice: "gpu", summary: onGpu };
  if (gpus === 0) return { flag, runnerDevice: null, summary: "CPU (the core type has no GPUs)" };
  return { flag, runnerDevice: null, summary: "GPU if the runner finds one, else CPU (GPU count unknown)" };
}

export interface Plan {
  name: string;
  platform: { kind: "rescale" | "local"; label: string };
  jobType: "interactive" | "compute";
  coreType: { code: string; name: string; chosen: boolean; emulated: boolean };
  cores: number;
  memoryPerNodeGB: number | null;
  storagePerNodeGB: number | null;
  gpus: number | null;
  device: PlanDevice;
  walltime: { hours: number; text: string; roundedUp: boolean };
  priority: { flag: PriorityFlag; tier: PriorityTier; billingPriorityValue: string };
  /** null when the price is unknown (hidden by an admin, or not listed): never shown as 0. */
  pricePerHour: number | null;
  maxCost: number | null;
  /** Where the price came from: the billing endpoint, the core type's own fields, or unknown. */
  priceSource: PriceSource;
  /** Project id the job goes into (`--project`, the profile's `project`), or null. */
  project: { id: string; name: string | null } | null;
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
    | "project"
  > {
  batch: boolean;
  /** Default "auto". */
  device?: DeviceFlag;
  choice: CoreTypeChoice;
  walltime: Walltime;
  priority: PriorityFlag;
}

export function buildPlan(input: PlanInput): Plan {
  const { row, coreType } = input.choice;
  const tier = PRIORITIES[input.priority];
  const price = row.prices[tier];
  const device = planDevice(input.device ?? "auto", row.gpusPerNode, coreType.code);
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
    memoryPerNodeGB: row.memoryPerNodeGB,
    storagePerNodeGB: row.storagePerNodeGB,
    gpus: row.gpusPerNode,
    device,
    walltime: { hours: input.walltime.hours, text: input.walltime.text, roundedUp: input.walltime.roundedUp },
    priority: { flag: input.priority, tier, billingPriorityValue: BILLING_PRIORITY_VALUE[tier] },
    pricePerHour: price ? price.perCoreHour * row.coresPerNode : null,
    maxCost: price ? price.perCoreHour * row.coresPerNode * input.walltime.hours : null,
    priceSource: price ? row.priceSource : "unknown",
    project: input.project,
    software: input.software,
    cidrRule: input.cidrRule,
    dataset: input.dataset,
    attachments: input.attachments,
    runnerArgs: device.runnerDevice
      ? ["--device", device.runnerDevice, ...input.runnerArgs]
      : input.runnerArgs,
    offlineRuntime: input.offlineRuntime,
    out: input.out,
  };
}
