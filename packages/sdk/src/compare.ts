/**
 * Core-type comparison and cost: pure functions over parsed core types (no network).
 * Units: the API gives memory in MB (MiB) per core and storage in GB (GiB) per core; results are per node and
 * named with their unit. Prices are per core-hour in the platform's currency; results give per hour and per run.
 */
import type { CoreType } from "./schemas.js";

export type PriorityTier = "onDemandPriority" | "onDemandEconomy";

/** The job field value that selects each tier (`billingPriorityValue`). */
export const BILLING_PRIORITY_VALUE: Record<PriorityTier | "onDemandReserved", string> = {
  onDemandPriority: "INSTANT",
  onDemandEconomy: "ON_DEMAND",
  onDemandReserved: "RESERVED",
};

export type CompareSortKey =
  | "price"
  | "priceEconomy"
  | "memoryPerNode"
  | "coresPerNode"
  | "gpusPerNode"
  | "name"
  | "displayOrder";

export interface CompareOptions {
  /** Cores wanted in total. Default: each type's smallest node. */
  cores?: number;
  /** Whole hours the cost is estimated for. */
  walltimeHours: number;
  /** Minimum memory per node, GiB. */
  minMemoryGiB?: number;
  /** Minimum GPUs per node; types whose GPU count is unknown do not qualify. */
  minGpus?: number;
  /** Default "price" (on-demand priority cost of the walltime, cheapest first). */
  sortBy?: CompareSortKey;
  descending?: boolean;
  /** Keep deprecated types (never recommended). Default false. */
  includeDeprecated?: boolean;
  /** Tier whose price picks the recommendation. Default "onDemandPriority". */
  recommendTier?: PriorityTier;
}

export interface TierPrice {
  /** Price per core-hour (as the API gives it). */
  perCoreHour: number;
  /** Price per hour for all billed cores. */
  perHour: number;
  /** Price for the whole walltime. */
  walltimeCost: number;
}

export interface CoreTypeComparisonRow {
  code: string;
  name: string;
  /** Cores per node chosen for the request (one of the type's allowed counts). */
  coresPerNode: number;
  nodes: number;
  /** Billed cores = coresPerNode x nodes (may exceed the request when nodes come in fixed sizes). */
  totalCores: number;
  memoryPerCoreMiB: number | null;
  memoryPerNodeGiB: number | null;
  memoryPerNodeBytes: number | null;
  storagePerNodeGiB: number | null;
  storagePerNodeBytes: number | null;
  /** null when the catalog does not say. */
  gpusPerNode: number | null;
  prices: Record<PriorityTier, TierPrice | null>;
  isDeprecated: boolean;
  meetsMinimums: boolean;
  /** Why the row fails the minimums (empty when it meets them). */
  shortfalls: string[];
  allowedCoresPerNode: number[];
  processorInfo: string | null;
  displayOrder: number | null;
}

export interface CoreTypeComparison {
  walltimeHours: number;
  cores: number | undefined;
  rows: CoreTypeComparisonRow[];
  /** Cheapest non-deprecated row meeting the minimums in `recommendTier`, or null. */
  recommendation: CoreTypeComparisonRow | null;
  recommendTier: PriorityTier;
}

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

/**
 * For a core request, the node shape that bills the fewest cores (ties: fewer nodes). With no request,
 * the smallest node.
 */
export function chooseNodeShape(
  allowed: readonly number[],
  cores?: number,
): { coresPerNode: number; nodes: number } {
  const options = [...new Set(allowed)].filter((c) => c > 0).sort((a, b) => a - b);
  if (options.length === 0) throw new RangeError("core type allows no core counts");
  if (cores === undefined) return { coresPerNode: options[0]!, nodes: 1 };
  if (!Number.isInteger(cores) || cores <= 0)
    throw new RangeError(`cores must be a positive integer, got ${cores}`);
  let best = { coresPerNode: options[0]!, nodes: Math.ceil(cores / options[0]!) };
  for (const perNode of options) {
    const nodes = Math.ceil(cores / perNode);
    const billed = nodes * perNode;
    const bestBilled = best.nodes * best.coresPerNode;
    if (billed < bestBilled || (billed === bestBilled && nodes < best.nodes))
      best = { coresPerNode: perNode, nodes };
  }
  return best;
}

/** GPUs per node for a node size: `gpuCounts` may be a number or an array aligned with `cores`. */
export function gpusPerNode(coreType: CoreType, coresPerNode: number): number | null {
  const counts = coreType.gpuCounts;
  if (typeof counts === "number") return counts;
  if (!Array.isArray(counts)) return null;
  const index = coreType.cores.indexOf(coresPerNode);
  const value = index >= 0 ? counts[index] : undefined;
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function tierPrice(perCoreHour: number | null, totalCores: number, walltimeHours: number): TierPrice | null {
  if (perCoreHour === null || !Number.isFinite(perCoreHour)) return null;
  const perHour = perCoreHour * totalCores;
  return { perCoreHour, perHour, walltimeCost: perHour * walltimeHours };
}

export function compareCoreType(coreType: CoreType, options: CompareOptions): CoreTypeComparisonRow {
  const { coresPerNode, nodes } = chooseNodeShape(coreType.cores, options.cores);
  const totalCores = coresPerNode * nodes;
  const memoryPerCoreMiB = coreType.memory;
  const memoryPerNodeBytes = memoryPerCoreMiB === null ? null : memoryPerCoreMiB * coresPerNode * MIB;
  const storagePerNodeBytes = coreType.storage === null ? null : coreType.storage * coresPerNode * GIB;
  const gpus = gpusPerNode(coreType, coresPerNode);
  const row: CoreTypeComparisonRow = {
    code: coreType.code,
    name: coreType.name,
    coresPerNode,
    nodes,
    totalCores,
    memoryPerCoreMiB,
    memoryPerNodeGiB: memoryPerNodeBytes === null ? null : memoryPerNodeBytes / GIB,
    memoryPerNodeBytes,
    storagePerNodeGiB: storagePerNodeBytes === null ? null : storagePerNodeBytes / GIB,
    storagePerNodeBytes,
    gpusPerNode: gpus,
    prices: {
      onDemandPriority: tierPrice(coreType.price, totalCores, options.walltimeHours),
      onDemandEconomy: tierPrice(coreType.lowPriorityPrice, totalCores, options.walltimeHours),
    },
    isDeprecated: coreType.isDeprecated === true,
    meetsMinimums: true,
    shortfalls: [],
    allowedCoresPerNode: [...coreType.cores],
    processorInfo: coreType.processorInfo ?? null,
    displayOrder: coreType.displayOrder ?? null,
  };
  if (options.minMemoryGiB !== undefined && (row.memoryPerNodeGiB ?? 0) < options.minMemoryGiB) {
    row.shortfalls.push(`memory ${fmt(row.memoryPerNodeGiB)} GiB/node < ${options.minMemoryGiB} GiB`);
  }
  if (options.minGpus !== undefined && options.minGpus > 0 && (gpus ?? 0) < options.minGpus) {
    row.shortfalls.push(gpus === null ? "GPU count unknown" : `${gpus} GPUs/node < ${options.minGpus}`);
  }
  row.meetsMinimums = row.shortfalls.length === 0;
  return row;
}

function fmt(value: number | null): string {
  return value === null ? "unknown" : String(Math.round(value * 100) / 100);
}

export function compareCoreTypes(
  coreTypes: readonly CoreType[],
  options: CompareOptions,
): CoreTypeComparison {
  if (!Number.isFinite(options.walltimeHours) || options.walltimeHours <= 0) {
    throw new RangeError(`walltimeHours must be positive, got ${options.walltimeHours}`);
  }
  const recommendTier = options.recommendTier ?? "onDemandPriority";
  const rows = coreTypes
    .filter((coreType) => coreType.cores.length > 0)
    .filter((coreType) => options.includeDeprecated || !coreType.isDeprecated)
    .map((coreType) => compareCoreType(coreType, options));
  const sortBy = options.sortBy ?? "price";
  rows.sort((a, b) => {
    const order = compareRows(a, b, sortBy);
    return (options.descending ? -order : order) || a.code.localeCompare(b.code);
  });
  const candidates = rows.filter(
    (row) => row.meetsMinimums && !row.isDeprecated && row.prices[recommendTier],
  );
  const recommendation =
    candidates.reduce<CoreTypeComparisonRow | null>((best, row) => {
      if (!best) return row;
      const cost = row.prices[recommendTier]!.walltimeCost;
      const bestCost = best.prices[recommendTier]!.walltimeCost;
      if (cost !== bestCost) return cost < bestCost ? row : best;
      return (row.memoryPerNodeGiB ?? 0) > (best.memoryPerNodeGiB ?? 0) ? row : best;
    }, null) ?? null;
  return { walltimeHours: options.walltimeHours, cores: options.cores, rows, recommendation, recommendTier };
}

function compareRows(a: CoreTypeComparisonRow, b: CoreTypeComparisonRow, key: CompareSortKey): number {
  switch (key) {
    case "price":
      return nullsLast(a.prices.onDemandPriority?.walltimeCost, b.prices.onDemandPriority?.walltimeCost);
    case "priceEconomy":
      return nullsLast(a.prices.onDemandEconomy?.walltimeCost, b.prices.onDemandEconomy?.walltimeCost);
    case "memoryPerNode":
      return nullsLast(a.memoryPerNodeGiB, b.memoryPerNodeGiB);
    case "coresPerNode":
      return a.coresPerNode - b.coresPerNode;
    case "gpusPerNode":
      return nullsLast(a.gpusPerNode, b.gpusPerNode);
    case "name":
      return a.name.localeCompare(b.name);
    case "displayOrder":
      return nullsLast(a.displayOrder, b.displayOrder);
  }
}

function nullsLast(a: number | null | undefined, b: number | null | undefined): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  return a - b;
}
