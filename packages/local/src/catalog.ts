import fs from "node:fs";
import os from "node:os";
import { LocalPlatformError } from "./errors.js";

/** A core type in Rescale's wire shape (see rescale-api.md), plus `isEmulated` for catalog entries. */
export interface CoreType {
  code: string;
  name: string;
  cores: number[];
  memory: number;
  storage: number;
  price: number | string;
  lowPriorityPrice: string | null;
  isDeprecated: boolean;
  walltimeRequired: boolean;
  hasSsd: boolean;
  remoteVizAllowed: boolean;
  displayOrder: number;
  io: string;
  storageIo: string;
  processorInfo: string;
  isPrimary: boolean;
  compute: string | null;
  description: string;
  /** GPUs per node, aligned with `cores`; null when the catalog does not say (unknown is not zero). */
  gpuCounts: number[] | null;
  isActive: boolean;
  isEmulated: boolean;
  [extra: string]: unknown;
}

export interface AnalysisVersion {
  version: string;
  versionCode: string;
  allowedCoreTypes: string[];
  stdCommand: string;
  mpiCommand: string;
}

export interface Analysis {
  code: string;
  name: string;
  description: string;
  vendorName: string;
  hasRescaleLicense: boolean;
  versions: AnalysisVersion[];
  isEmulated: boolean;
}

export const LOCAL_CORE_TYPE = "local";

/** Allowed cores per node: powers of two below the capacity, and the capacity itself. */
export function allowedCoreCounts(capacity: number): number[] {
  const counts: number[] = [];
  for (let n = 1; n < capacity; n *= 2) counts.push(n);
  counts.push(capacity);
  return counts;
}

/** NVIDIA GPUs seen as /dev/nvidiaN device files (untested here: this machine has none). */
export function detectGpuCount(): number {
  try {
    return fs.readdirSync("/dev").filter((name) => /^nvidia\d+$/.test(name)).length;
  } catch {
    return 0;
  }
}

/**
 * This machine as one core type, described truthfully. `capacity` is the number of cores the scheduler
 * hands out; above the physical count it is an explicit oversubscription, said so in the description.
 */
export function machineCoreType(capacity: number, dataDir: string): CoreType {
  const physical = os.cpus().length;
  const stat = fs.statfsSync(dataDir);
  const freeGb = (stat.bavail * stat.bsize) / 1e9;
  const gpus = detectGpuCount();
  const oversubscribed = capacity > physical;
  const cores = allowedCoreCounts(capacity);
  return {
    code: LOCAL_CORE_TYPE,
    name: "Local machine",
    cores,
    // Rescale's unit: decimal MB per core (8000 x 24 = 192 GB as marketed).
    memory: Math.floor(os.totalmem() / 1e6 / capacity),
    storage: Math.floor(freeGb / capacity),
    price: 0,
    lowPriorityPrice: "0",
    isDeprecated: false,
    walltimeRequired: true,
    hasSsd: false,
    // It hosts workstations (interactive jobs) as local processes, so a workstation may pick it.
    remoteVizAllowed: true,
    displayOrder: 0,
    io: "loopback",
    storageIo: "local disk",
    processorInfo: os.cpus()[0]?.model.trim() ?? "unknown",
    isPrimary: true,
    compute: null,
    description: oversubscribed
      ? `This machine: ${capacity} cores offered on ${physical} physical cores (oversubscribed), jobs run as local processes`
      : `This machine: ${physical} cores, jobs run as local processes`,
    gpuCounts: cores.map(() => gpus),
    isActive: true,
    isEmulated: false,
  };
}

/**
 * Core types from a user catalog file (a JSON array or a `{results: [...]}` page, e.g. a saved
 * `/api/v2/coretypes/` answer). They are labelled emulated: jobs on them still run on this machine.
 */
export function readEmulatedCatalog(file: string): CoreType[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new LocalPlatformError(`cannot read the core type catalog ${file}: ${(err as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { results?: unknown }).results;
  if (!Array.isArray(list))
    throw new LocalPlatformError(`${file}: expected an array of core types or {"results": [...]}`);
  return list.map((entry, index) => {
    const t = entry as Partial<CoreType>;
    const valid =
      typeof t.code === "string" &&
      t.code !== LOCAL_CORE_TYPE &&
      Array.isArray(t.cores) &&
      t.cores.every((n) => Number.isInteger(n) && n > 0);
    if (!valid)
      throw new LocalPlatformError(
        `${file}: entry ${index} needs a "code" (not "local") and integer "cores"`,
      );
    const cores = t.cores as number[];
    return {
      ...t,
      code: t.code as string,
      name: t.name ?? (t.code as string),
      cores,
      memory: t.memory ?? 0,
      storage: t.storage ?? 0,
      price: t.price ?? 0,
      lowPriorityPrice: t.lowPriorityPrice ?? null,
      isDeprecated: t.isDeprecated ?? false,
      walltimeRequired: t.walltimeRequired ?? true,
      hasSsd: t.hasSsd ?? false,
      remoteVizAllowed: t.remoteVizAllowed ?? false,
      displayOrder: t.displayOrder ?? 100 + index,
      io: t.io ?? "",
      storageIo: t.storageIo ?? "",
      processorInfo: t.processorInfo ?? "",
      isPrimary: t.isPrimary ?? false,
      compute: t.compute ?? null,
      description: `[emulated on this machine] ${t.description ?? ""}`.trim(),
      // A catalog entry without gpuCounts says nothing about GPUs: keep it unknown rather than claim 0.
      gpuCounts: t.gpuCounts ?? null,
      isActive: t.isActive ?? true,
      isEmulated: true,
    };
  });
}

export const NODE_ANALYSIS = "node";

/** The software catalog: what a job's `analysis` may name. All of it runs with the host's own tools. */
export function analyses(coreTypeCodes: string[]): Analysis[] {
  const version = (v: string, code: string): AnalysisVersion => ({
    version: v,
    versionCode: code,
    allowedCoreTypes: coreTypeCodes,
    stdCommand: "",
    mpiCommand: "",
  });
  const nodeMajor = process.versions.node.split(".")[0]!;
  return [
    {
      code: "user_included",
      name: "Bring Your Own Software",
      description: "Runs your command with bash in the job's working directory.",
      vendorName: "Customer",
      hasRescaleLicense: false,
      versions: [version("0", "0")],
      isEmulated: false,
    },
    {
      code: NODE_ANALYSIS,
      name: "Node.js",
      description: `The host's Node.js ${process.versions.node} (${process.execPath}), first on the job's PATH.`,
      vendorName: "OpenJS Foundation",
      hasRescaleLicense: false,
      versions: [version(process.versions.node, nodeMajor)],
      isEmulated: false,
    },
    {
      code: "miniconda_e2e",
      name: "Conda Miniconda Interactive",
      description:
        "Emulated: the job runs with the host's own tools on PATH (whatever conda/python is installed here); " +
        "no Miniconda 4.8.4 image is provided locally.",
      vendorName: "Anaconda",
      hasRescaleLicense: true,
      versions: [version("4.8.4_e2ed", "4.8.4_e2ed")],
      isEmulated: true,
    },
  ];
}
