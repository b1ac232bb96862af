/**
 * Core-type comparison and cost: pure functions over parsed core types (no network).
 * Units: the API gives memory in decimal MB per core and storage in decimal GB per core (8000 MB x 24 cores =
 * 192 GB, as Rescale markets it); results are per node and named with their unit. Prices are per core-hour in the platform's currency; results give per hour and per run.
 */
import type { CoreType } from "./schemas.js";
import type { BillingPriorityValue } from "./wire.js";

export type PriorityTier = "onDemandPriority" | "onDemandEconomy";

/** The job field value that selects each tier (`billingPriorityValue`). */
export const BILLING_PRIORITY_VALUE: Record<PriorityTier | "onDemandReserved", BillingPriorityValue> = {
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
  /** Minimum memory per node, GB (decimal). */
  minMemoryGB?: number;
  /** Minimum GPUs per node; types whose GPU count is unknown do not qualify. */
  minGpus?: number;
  /** Default "price" (on-demand priority cost of the walltime, cheapest first). */
  sortBy?: CompareSortKey;
  descending?: boolean;
  /** Keep deprecated types (never recommended). Default false. */
  includeDeprecated?: boolean;
  /** Tier whose price picks the recommendation. Default "onDemandPriority". */
  recommendTier?: PriorityTier;
  /** Only these core type codes (the software version's `allowedCoreTypes`); empty or absent: any. */
  allowedCoreTypes?: readonly string[];
  /** Only types that can host a desktop (`remoteVizAllowed`), for a workstation. */
  requireRemoteViz?: boolean;
  /**
   * Per-tier prices from `GET /api/v2/billing/computeprices/` (see `priceTable`); a type it lists is priced from
   * it, the others from the core type's own `price` / `lowPriorityPrice`.
   */
  prices?: PriceTable;
}

/** Where a row's price came from. */
export type PriceSource = "computeprices" | "coretypes" | "unknown";

/** Per core type code, the price per core-hour of each tier from the compute-prices endpoint. */
export type PriceTable = Map<string, Partial<Record<PriorityTier, number>>>;

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
  memoryPerCoreMB: number | null;
  memoryPerNodeGB: number | null;
  memoryPerNodeBytes: number | null;
  storagePerNodeGB: number | null;
  storagePerNodeBytes: number | null;
  /** null when the catalog does not say. */
  gpusPerNode: number | null;
  prices: Record<PriorityTier, TierPrice | null>;
  /** "computeprices" (the billing endpoint), "coretypes" (the type's own fields), or "unknown" (hidden). */
  priceSource: PriceSource;
  isDeprecated: boolean;
  /** A placeholder type (e.g. a connector with 10 MB per core): listed, never recommended. */
  isPseudo: boolean;
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

const MB = 1e6;
const GB = 1e9;
/** Below this much memory per core a "core type" is a placeholder (a connector type has 10 MB), not hardware. */
const PSEUDO_MAX_MEMORY_MB = 256;

/** True for placeholder types (connectors, license servers): no real memory per core. */
export function isPseudoCoreType(coreType: Pick<CoreType, "memory">): boolean {
  return coreType.memory !== null && coreType.memory < PSEUDO_MAX_MEMORY_MB;
}

/**
 * Reads the compute-prices list (per core type, plan/tier and OS; `value.amount` a string) into a table. Tier
 * names are matched leniently (UNCONFIRMED spellings): "INSTANT"/"priority" -> on-demand priority,
 * "ON_DEMAND"/"economy"/"low" -> on-demand economy; reserved and inactive entries are ignored; Linux is preferred
 * when an OS is given. Hidden prices (null/empty amounts) are left out.
 */
export function priceTable(
  entries: readonly {
    coreType: unknown;
    value: { amount: number | null };
    planType?: string | null;
    os?: string | null;
    isActive?: boolean;
  }[],
): PriceTable {
  const table: PriceTable = new Map();
  const rank = (os: string | null | undefined) => (!os || /linux/i.test(os) ? 0 : 1);
  const chosenRank = new Map<string, number>();
  for (const entry of entries) {
    if (entry.isActive === false) continue;
    const amount = entry.value.amount;
    if (amount === null || !Number.isFinite(amount) || amount <= 0) continue;
    const code =
      typeof entry.coreType === "string"
        ? entry.coreType
        : (entry.coreType as { code?: unknown } | null)?.code;
    if (typeof code !== "string") continue;
    const tier = tierOfPlan(entry.planType);
    if (!tier) continue;
    const key = `${code}\u0000${tier}`;
    const r = rank(entry.os);
    if ((chosenRank.get(key) ?? Number.POSITIVE_INFINITY) <= r) continue;
    chosenRank.set(key, r);
    table.set(code, { ...table.get(code), [tier]: amount });
  }
  return table;
}

function tierOfPlan(planType: string | null | undefined): PriorityTier | undefined {
  const plan = (planType ?? "").toLowerCase();
  if (/reserved/.test(plan)) return undefined;
  if (/instant|priority/.test(plan)) return "onDemandPriority";
  if (/on_demand|on-demand|ondemand|economy|low/.test(plan)) return "onDemandEconomy";
  return undefined;
}

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

function tierPrice(
  perCoreHour: number | null | undefined,
  totalCores: number,
  walltimeHours: number,
): TierPrice | null {
  // A hidden price (admins can hide them) arrives as null, empty or 0: unknown, never free.
  if (perCoreHour === null || perCoreHour === undefined || !Number.isFinite(perCoreHour) || perCoreHour <= 0)
    return null;
  const perHour = perCoreHour * totalCores;
  return { perCoreHour, perHour, walltimeCost: perHour * walltimeHours };
}

export function compareCoreType(coreType: CoreType, options: CompareOptions): CoreTypeComparisonRow {
  const { coresPerNode, nodes } = chooseNodeShape(coreType.cores, options.cores);
  const totalCores = coresPerNode * nodes;
  const memoryPerCoreMB = coreType.memory;
  const memoryPerNodeBytes = memoryPerCoreMB === null ? null : memoryPerCoreMB * coresPerNode * MB;
  const storagePerNodeBytes = coreType.storage === null ? null : coreType.storage * coresPerNode * GB;
  const listed = options.prices?.get(coreType.code);
  const fromTable = listed !== undefined && (listed.onDemandPriority ?? listed.onDemandEconomy) !== undefined;
  const prices = {
    onDemandPriority: tierPrice(
      fromTable ? listed.onDemandPriority : coreType.price,
      totalCores,
      options.walltimeHours,
    ),
    onDemandEconomy: tierPrice(
      fromTable ? listed.onDemandEconomy : coreType.lowPriorityPrice,
      totalCores,
      options.walltimeHours,
    ),
  };
  const priced = prices.onDemandPriority !== null || prices.onDemandEconomy !== null;
  const gpus = gpusPerNode(coreType, coresPerNode);
  const row: CoreTypeComparisonRow = {
    code: coreType.code,
    name: coreType.name,
    coresPerNode,
    nodes,
    totalCores,
    memoryPerCoreMB,
    memoryPerNodeGB: memoryPerNodeBytes === null ? null : memoryPerNodeBytes / GB,
    memoryPerNodeBytes,
    storagePerNodeGB: storagePerNodeBytes === null ? null : storagePerNodeBytes / GB,
    storagePerNodeBytes,
    gpusPerNode: gpus,
    prices,
    priceSource: !priced ? "unknown" : fromTable ? "computeprices" : "coretypes",
    isDeprecated: coreType.isDeprecated === true,
    isPseudo: isPseudoCoreType(coreType),
    meetsMinimums: true,
    shortfalls: [],
    allowedCoresPerNode: [...coreType.cores],
    processorInfo: coreType.processorInfo ?? null,
    displayOrder: coreType.displayOrder ?? null,
  };
  if (options.minMemoryGB !== undefined && (row.memoryPerNodeGB ?? 0) < options.minMemoryGB) {
    row.shortfalls.push(`memory ${fmt(row.memoryPerNodeGB)} GB/node < ${options.minMemoryGB} GB`);
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
    .filter((coreType) => coreTypeAllowed(coreType, options))
    .map((coreType) => compareCoreType(coreType, options));
  const sortBy = options.sortBy ?? "price";
  rows.sort((a, b) => {
    const order = compareRows(a, b, sortBy);
    return (options.descending ? -order : order) || a.code.localeCompare(b.code);
  });
  const candidates = rows.filter(
    (row) => row.meetsMinimums && !row.isDeprecated && !row.isPseudo && row.prices[recommendTier],
  );
  const recommendation =
    candidates.reduce<CoreTypeComparisonRow | null>((best, row) => {
      if (!best) return row;
      const cost = row.prices[recommendTier]!.walltimeCost;
      const bestCost = best.prices[recommendTier]!.walltimeCost;
      if (cost !== bestCost) return cost < bestCost ? row : best;
      return (row.memoryPerNodeGB ?? 0) > (best.memoryPerNodeGB ?? 0) ? row : best;
    }, null) ?? null;
  return { walltimeHours: options.walltimeHours, cores: options.cores, rows, recommendation, recommendTier };
}

/**
 * May a job of this software (and kind) run on `coreType`? Its code must be in the software version's
 * `allowedCoreTypes` (when the version lists any) and, for a workstation, the type must allow remote
 * visualisation (`remoteVizAllowed`; a type that does not say is allowed: UNCONFIRMED default).
 */
export function coreTypeAllowed(
  coreType: Pick<CoreType, "code" | "remoteVizAllowed">,
  options: Pick<CompareOptions, "allowedCoreTypes" | "requireRemoteViz">,
): boolean {
  const allowed = options.allowedCoreTypes;
  if (allowed && allowed.length > 0 && !allowed.includes(coreType.code)) return false;
  if (options.requireRemoteViz && coreType.remoteVizAllowed === false) return false;
  return true;
}

function compareRows(a: CoreTypeComparisonRow, b: CoreTypeComparisonRow, key: CompareSortKey): number {
  switch (key) {
    case "price":
      return nullsLast(a.prices.onDemandPriority?.walltimeCost, b.prices.onDemandPriority?.walltimeCost);
    case "priceEconomy":
      return nullsLast(a.prices.onDemandEconomy?.walltimeCost, b.prices.onDemandEconomy?.walltimeCost);
    case "memoryPerNode":
      return nullsLast(a.memoryPerNodeGB, b.memoryPerNodeGB);
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
