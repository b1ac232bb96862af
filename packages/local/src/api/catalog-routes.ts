import type { analysisSchema, computePriceSchema, coreTypeSchema, Wire } from "@rescale-run/sdk";
import type { FastifyInstance } from "fastify";
import type { PlatformContext } from "./context.js";
import { serves } from "./objects.js";
import { pageOf } from "./paginate.js";

const servesPrice = serves<Wire<typeof computePriceSchema>>();

export function catalogRoutes(app: FastifyInstance, ctx: PlatformContext): void {
  app.get("/api/v2/coretypes/", async (req) => {
    const { isActive } = req.query as { isActive?: string };
    const types = ctx.catalog.coreTypes.filter(
      (t) => isActive === undefined || String(t.isActive) === isActive,
    );
    return pageOf<Wire<typeof coreTypeSchema>>(req, types);
  });

  app.get("/api/v2/analyses/", async (req) => {
    const { search, code } = req.query as { search?: string; code?: string };
    const needle = search?.toLowerCase();
    const list = ctx.catalog.analyses.filter(
      (a) =>
        (code === undefined || a.code === code) &&
        (needle === undefined || a.code.includes(needle) || a.name.toLowerCase().includes(needle)),
    );
    return pageOf<Wire<typeof analysisSchema>>(req, list);
  });

  // A bare list, as Rescale answers this endpoint. Local cores cost nothing.
  app.get("/api/v2/billing/computeprices/", async () =>
    ctx.catalog.coreTypes.flatMap((t) =>
      ["INSTANT", "ON_DEMAND"].map((planType) =>
        servesPrice({
          coreType: t.code,
          value: { amount: t.isEmulated ? String(t.price) : "0" },
          planType,
          os: "linux",
          isActive: true,
          isEmulated: t.isEmulated,
        }),
      ),
    ),
  );
}
