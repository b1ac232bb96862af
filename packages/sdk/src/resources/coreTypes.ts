/** Core types (hardware catalog) and per-tier compute prices. */
import { type PriceTable, priceTable } from "../compare.js";
import { NotFoundError, RescaleError } from "../errors.js";
import { collect, ListResource, type PageOptions, paginate } from "../paginate.js";
import { type ComputePrice, type CoreType, computePriceSchema, coreTypeSchema } from "../schemas.js";
import type { Transport } from "../transport.js";

export interface CoreTypeListOptions extends PageOptions {
  /** Sends `isActive=true|false` when set. */
  isActive?: boolean;
}

const CORE_TYPES = "/api/v2/coretypes/";

/** THE core-type lookup: by exact code, else code or display name case-insensitive. Pure. */
export function matchCoreType<T extends Pick<CoreType, "code" | "name">>(
  types: readonly T[],
  codeOrName: string,
): T | undefined {
  const wanted = codeOrName.trim().toLowerCase();
  return (
    types.find((coreType) => coreType.code === codeOrName.trim()) ??
    types.find(
      (coreType) => coreType.code.toLowerCase() === wanted || coreType.name.trim().toLowerCase() === wanted,
    )
  );
}

export class CoreTypesResource extends ListResource<typeof coreTypeSchema, CoreTypeListOptions> {
  constructor(transport: Transport) {
    super(transport, CORE_TYPES, coreTypeSchema);
  }

  protected override pageOptions(options: CoreTypeListOptions): PageOptions {
    const query = { ...options.query };
    if (options.isActive !== undefined) query.isActive = options.isActive;
    return { ...options, query };
  }

  /** Finds a core type by code (`emerald`) or display name (`Emerald`, case-insensitive). */
  async get(codeOrName: string, options: CoreTypeListOptions = {}): Promise<CoreType> {
    const all = await this.list({ pageSize: 100, ...options });
    const found = matchCoreType(all, codeOrName);
    if (found) return found;
    const names = all.map((coreType) => `${coreType.name} (${coreType.code})`).join(", ");
    throw new NotFoundError(`No core type "${codeOrName}". Available: ${names || "none"}.`, {
      method: "GET",
      path: CORE_TYPES,
    });
  }

  /** Per-tier prices (`GET /api/v2/billing/computeprices/`, a bare list; schema partly UNCONFIRMED). */
  async computePrices(options: { signal?: AbortSignal } = {}): Promise<ComputePrice[]> {
    return collect(paginate(this.transport, "/api/v2/billing/computeprices/", computePriceSchema, options));
  }

  /**
   * The compute prices as a table for `compareCoreTypes({ prices })`, or undefined when the endpoint does not
   * answer usably (absent, forbidden, hidden, another shape): callers then price from the core types themselves.
   */
  async priceTable(options: { signal?: AbortSignal } = {}): Promise<PriceTable | undefined> {
    try {
      const table = priceTable(await this.computePrices(options));
      return table.size > 0 ? table : undefined;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      if (error instanceof RescaleError) return undefined;
      throw error;
    }
  }
}
