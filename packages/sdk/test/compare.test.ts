import { coreType, loadJp2017CoreTypes } from "@rescale-run/testkit/rescale-payloads";
import { describe, expect, it } from "vitest";
import {
  type CoreType,
  chooseNodeShape,
  compareCoreTypes,
  coreTypeSchema,
  pageSchema,
  priceTable,
} from "../src/index.js";

function jpCoreTypes(): CoreType[] {
  return pageSchema(coreTypeSchema).parse(loadJp2017CoreTypes()).results;
}

describe("the 2017 JP core-type snapshot", () => {
  it("parses all 18 types, string economy prices included", () => {
    const types = jpCoreTypes();
    expect(types).toHaveLength(18);
    const copper = types.find((t) => t.code === "copper")!;
    expect(copper.lowPriorityPrice).toBe(12);
    expect(types.find((t) => t.code === "bronze")!.lowPriorityPrice).toBeNull();
    expect(copper).toHaveProperty("compute", "5.50"); // unknown/extra fields are kept
  });
});

describe("compareCoreTypes on the JP snapshot, 4 cores for 8 h (hand-computed)", () => {
  const result = compareCoreTypes(jpCoreTypes(), { cores: 4, walltimeHours: 8 });
  const row = (code: string) => result.rows.find((r) => r.code === code)!;

  it("Jade (gpu-kepler): 4 x 3750 MB = 15 GB (decimal, as Rescale markets it), 4 x 15 GB = 60 GB, 50/core-h", () => {
    const jade = row("gpu-kepler");
    expect(jade).toMatchObject({ name: "Jade", coresPerNode: 4, nodes: 1, totalCores: 4, gpusPerNode: null });
    expect(jade.memoryPerNodeGB).toBe(15);
    expect(jade.memoryPerNodeBytes).toBe(15000 * 1e6);
    expect(jade.priceSource).toBe("coretypes");
    expect(jade.storagePerNodeGB).toBe(60);
    expect(jade.prices.onDemandPriority).toEqual({ perCoreHour: 50, perHour: 200, walltimeCost: 1600 });
    expect(jade.prices.onDemandEconomy).toEqual({ perCoreHour: 25, perHour: 100, walltimeCost: 800 });
  });

  it("Onyx (hpc-3): 13200 MB = 13.2 GB, 144 GB, 132/h, 1056 per 8 h; economy 72/h, 576", () => {
    const onyx = row("hpc-3");
    expect(onyx.memoryPerNodeGB).toBeCloseTo(13.2, 10);
    expect(onyx.storagePerNodeGB).toBe(144);
    expect(onyx.prices.onDemandPriority).toEqual({ perCoreHour: 33, perHour: 132, walltimeCost: 1056 });
    expect(onyx.prices.onDemandEconomy).toEqual({ perCoreHour: 18, perHour: 72, walltimeCost: 576 });
  });

  it("Bronze only comes as 28-core nodes: 28 cores billed, 896/h, 7168 per 8 h, no economy tier", () => {
    const bronze = row("bronze");
    expect(bronze).toMatchObject({ coresPerNode: 28, nodes: 1, totalCores: 28 });
    expect(bronze.memoryPerNodeGB).toBeCloseTo(127.988, 10);
    expect(bronze.storagePerNodeGB).toBe(840);
    expect(bronze.prices.onDemandPriority).toEqual({ perCoreHour: 32, perHour: 896, walltimeCost: 7168 });
    expect(bronze.prices.onDemandEconomy).toBeNull();
  });

  it("recommends Nickel (hpc-plus), 29 x 4 = 116/h = 928 per 8 h, and sorts cheapest first", () => {
    expect(result.recommendation?.code).toBe("hpc-plus");
    expect(result.recommendation?.prices.onDemandPriority?.walltimeCost).toBe(928);
    expect(result.rows[0]?.code).toBe("hpc-plus");
    const costs = result.rows.map((r) => r.prices.onDemandPriority?.walltimeCost ?? Number.POSITIVE_INFINITY);
    expect([...costs].sort((a, b) => a - b)).toEqual(costs);
  });

  it("with at least 32 GB per node recommends Titanium: 4 x 8000 MB = 32 GB exactly, 184/h (Gold has 60 GB at 188/h)", () => {
    const big = compareCoreTypes(jpCoreTypes(), { cores: 4, walltimeHours: 8, minMemoryGB: 32 });
    expect(big.recommendation?.code).toBe("titanium");
    expect(big.recommendation?.memoryPerNodeGB).toBe(32);
    expect(big.recommendation?.prices.onDemandPriority?.perHour).toBe(184);
    expect(big.rows.find((r) => r.code === "hi-mem-hpc")?.memoryPerNodeGB).toBe(60);
    expect(big.rows.find((r) => r.code === "hpc-plus")?.shortfalls[0]).toMatch(
      /memory 15.2 GB\/node < 32 GB/,
    );
  });

  it("in the economy tier recommends Nickel at 15 x 4 = 60/h = 480", () => {
    const economy = compareCoreTypes(jpCoreTypes(), {
      cores: 4,
      walltimeHours: 8,
      recommendTier: "onDemandEconomy",
    });
    expect(economy.recommendation?.code).toBe("hpc-plus");
    expect(economy.recommendation?.prices.onDemandEconomy?.walltimeCost).toBe(480);
  });

  it("recommends nothing when GPUs are required and no type states its GPU count", () => {
    const gpu = compareCoreTypes(jpCoreTypes(), { cores: 4, walltimeHours: 8, minGpus: 1 });
    expect(gpu.recommendation).toBeNull();
    expect(gpu.rows.every((r) => r.shortfalls.includes("GPU count unknown"))).toBe(true);
  });

  it("sorts by other keys", () => {
    const byMemory = compareCoreTypes(jpCoreTypes(), {
      cores: 4,
      walltimeHours: 8,
      sortBy: "memoryPerNode",
      descending: true,
    });
    expect(byMemory.rows[0]?.code).toBe("topaz"); // 32 x 31000 MiB
    const byName = compareCoreTypes(jpCoreTypes(), { walltimeHours: 1, sortBy: "name" });
    expect(byName.rows[0]?.name).toBe("Bronze");
  });
});

describe("node shape and GPUs", () => {
  it("bills the fewest cores, preferring fewer nodes", () => {
    expect(chooseNodeShape([2, 4, 16, 20], 4)).toEqual({ coresPerNode: 4, nodes: 1 });
    expect(chooseNodeShape([2, 4, 16, 20], 40)).toEqual({ coresPerNode: 20, nodes: 2 });
    expect(chooseNodeShape([28], 4)).toEqual({ coresPerNode: 28, nodes: 1 });
    expect(chooseNodeShape([8, 16], undefined)).toEqual({ coresPerNode: 8, nodes: 1 });
  });

  it("reads gpuCounts aligned with cores and meets minGpus", () => {
    const gpuType = coreType({ code: "citrine", name: "Citrine", cores: [8, 16], gpuCounts: [1, 2] });
    const parsed = coreTypeSchema.parse(gpuType);
    const result = compareCoreTypes([parsed], { cores: 16, walltimeHours: 2, minGpus: 2 });
    expect(result.rows[0]?.gpusPerNode).toBe(2);
    expect(result.recommendation?.code).toBe("citrine");
  });
});

describe("compareCoreTypes respects the software and the kind of job", () => {
  it("only the software version's allowedCoreTypes; for a workstation only remoteVizAllowed types", () => {
    const allowedCoreTypes = ["copper", "hpc-3", "bronze"];
    const batch = compareCoreTypes(jpCoreTypes(), { cores: 4, walltimeHours: 8, allowedCoreTypes });
    expect(batch.rows.map((r) => r.code).sort()).toEqual(["bronze", "copper", "hpc-3"]);
    expect(batch.recommendation?.code).toBe("hpc-3");
    const desktop = compareCoreTypes(jpCoreTypes(), {
      cores: 4,
      walltimeHours: 8,
      allowedCoreTypes,
      requireRemoteViz: true,
    });
    // copper and bronze have remoteVizAllowed: false in the snapshot
    expect(desktop.rows.map((r) => r.code)).toEqual(["hpc-3"]);
  });

  it("never recommends a pseudo type (a connector with 10 MB per core at 0.01), even the cheapest", () => {
    const connector = {
      ...jpCoreTypes()[0]!,
      code: "connector",
      name: "Connector",
      cores: [1, 2, 4],
      memory: 10,
      price: 0.01,
      lowPriorityPrice: null,
    };
    const result = compareCoreTypes([connector, ...jpCoreTypes()], { cores: 4, walltimeHours: 8 });
    expect(result.rows.find((r) => r.code === "connector")?.isPseudo).toBe(true);
    expect(result.recommendation?.code).toBe("hpc-plus");
  });

  it("prices from computeprices when listed (source said), else the core type's; hidden prices are unknown", () => {
    const table = priceTable([
      { coreType: "hpc-3", value: { amount: 20 }, planType: "INSTANT", os: "linux", isActive: true },
      { coreType: "hpc-3", value: { amount: 25 }, planType: "INSTANT", os: "windows", isActive: true },
      { coreType: "hpc-3", value: { amount: 10 }, planType: "ON_DEMAND", os: "linux", isActive: true },
      { coreType: { code: "copper" }, value: { amount: null }, planType: "INSTANT", os: "linux" },
      { coreType: "hpc-plus", value: { amount: 1 }, planType: "RESERVED", os: "linux" },
    ]);
    expect(table.get("hpc-3")).toEqual({ onDemandPriority: 20, onDemandEconomy: 10 });
    expect(table.has("copper")).toBe(false);
    expect(table.has("hpc-plus")).toBe(false);
    const hidden = { ...jpCoreTypes().find((t) => t.code === "granite")!, price: 0, lowPriorityPrice: null };
    const result = compareCoreTypes([hidden, ...jpCoreTypes().filter((t) => t.code !== "granite")], {
      cores: 4,
      walltimeHours: 8,
      prices: table,
    });
    const row = (code: string) => result.rows.find((r) => r.code === code)!;
    expect(row("hpc-3")).toMatchObject({ priceSource: "computeprices" });
    expect(row("hpc-3").prices.onDemandPriority?.perHour).toBe(80);
    expect(row("hpc-plus")).toMatchObject({ priceSource: "coretypes" });
    expect(row("granite")).toMatchObject({ priceSource: "unknown" });
    expect(row("granite").prices.onDemandPriority).toBeNull();
    expect(result.recommendation?.code).toBe("hpc-3");
  });
});
