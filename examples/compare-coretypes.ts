/**
 * Compare core types for a run: cores/node, memory/node, storage/node, GPUs/node, price per hour per tier,
 * the cost of the walltime, and the cheapest type that meets your minimums.
 *
 *   npx tsx examples/compare-coretypes.ts --cores 4 --walltime 8h --min-memory 32
 *   npx tsx examples/compare-coretypes.ts --live --cores 4 --walltime 90m   # your platform (env or profile)
 *
 * Without --live it uses the 2017 JP catalog snapshot vendored in packages/testkit/fixtures (prices in that platform's currency,
 * probably JPY; an old snapshot, not current prices). In your own project import from "@rescale-run/sdk".
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import {
  type CompareSortKey,
  type CoreType,
  compareCoreTypes,
  coreTypeSchema,
  pageSchema,
  parseWalltime,
  RescaleClient,
  RescaleError,
} from "../packages/sdk/src/index.js";

const { values } = parseArgs({
  options: {
    cores: { type: "string", default: "4" },
    walltime: { type: "string", default: "8h" },
    "min-memory": { type: "string" },
    "min-gpus": { type: "string" },
    sort: { type: "string", default: "price" },
    live: { type: "boolean", default: false },
    profile: { type: "string" },
  },
});

async function loadCoreTypes(): Promise<{ coreTypes: CoreType[]; source: string }> {
  if (values.live) {
    const client = await RescaleClient.fromEnvironment({ profile: values.profile });
    return { coreTypes: await client.coreTypes.list({ isActive: true }), source: client.baseUrl };
  }
  const url = new URL("../packages/testkit/fixtures/coretypes-2017-jp.json", import.meta.url);
  const snapshot = pageSchema(coreTypeSchema).parse(JSON.parse(await readFile(url, "utf8")));
  return { coreTypes: snapshot.results, source: "2017 JP snapshot (old prices, platform currency)" };
}

async function main(): Promise<void> {
  const walltime = parseWalltime(values.walltime ?? "8h");
  const cores = Number(values.cores);
  const { coreTypes, source } = await loadCoreTypes();
  const result = compareCoreTypes(coreTypes, {
    cores,
    walltimeHours: walltime.hours,
    minMemoryGB: values["min-memory"] === undefined ? undefined : Number(values["min-memory"]),
    minGpus: values["min-gpus"] === undefined ? undefined : Number(values["min-gpus"]),
    sortBy: values.sort as CompareSortKey,
  });
  console.log(`${source}: ${cores} cores for ${walltime.text}\n`);
  const money = (n: number | undefined) => (n === undefined ? "-" : n.toFixed(2));
  const rows = result.rows.map((row) => ({
    type: `${row.name} (${row.code})`,
    "cores/node": row.coresPerNode,
    nodes: row.nodes,
    "mem GB/node": row.memoryPerNodeGB?.toFixed(1) ?? "?",
    "storage GB/node": row.storagePerNodeGB?.toFixed(0) ?? "?",
    "GPUs/node": row.gpusPerNode ?? "?",
    "priority /h": money(row.prices.onDemandPriority?.perHour),
    "economy /h": money(row.prices.onDemandEconomy?.perHour),
    [`priority ${walltime.hours} h`]: money(row.prices.onDemandPriority?.walltimeCost),
    ok: row.meetsMinimums ? "yes" : row.shortfalls.join("; "),
  }));
  console.table(rows);
  const best = result.recommendation;
  console.log(
    best
      ? `Recommended: ${best.name} (${best.code}), ${best.totalCores} cores, ${money(best.prices.onDemandPriority?.walltimeCost)} for ${walltime.hours} h on-demand priority.`
      : "No core type meets the minimums.",
  );
}

main().catch((error: unknown) => {
  console.error(
    error instanceof RescaleError || error instanceof RangeError ? `${error.name}: ${error.message}` : error,
  );
  process.exitCode = 1;
});
