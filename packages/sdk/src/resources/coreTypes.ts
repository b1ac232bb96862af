/** Core types (hardware catalog) and per-tier compute prices. */
import { NotFoundError } from "../errors.js";
import { collect, ListResource, type PageOptions, paginate } from "../paginate.js";
import { type ComputePrice, type CoreType, computePriceSchema, coreTypeSchema } from "../schemas.js";
import type { Transport } from "../transport.js";

export interface CoreTypeListOptions extends PageOptions {
  /** Sends `isActive=true|false` when set. */
  isActive?: boolean;
}

const CORE_TYPES = "/api/v2/coretypes/";

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
    const wanted = codeOrName.trim().toLowerCase();
    const all = await this.list({ pageSize: 100, ...options });
    const found =
      all.find((coreType) => coreType.code === codeOrName) ??
      all.find(
        (coreType) => coreType.code.toLowerCase() === wanted || coreType.name.toLowerCase() === wanted,
      );
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
}
