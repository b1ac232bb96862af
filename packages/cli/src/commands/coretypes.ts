/** `coretypes list` and `coretypes compare`: the seed's Coretype Explorer as a table, with a recommendation. */
import {
  type CompareSortKey,
  type CoreType,
  compareCoreTypes,
  parseWalltime,
  type RescaleClient,
} from "@rescale-run/sdk";
import { type CommandSpec, defineCommand } from "../factory.js";
import { gb, money } from "../format.js";
import { chooseSoftware, DEFAULT_SOFTWARE, findCoreType, PRIORITIES, type PriorityFlag } from "../plan.js";

const SORT_KEYS: Record<string, CompareSortKey> = {
  price: "price",
  "price-economy": "priceEconomy",
  memory: "memoryPerNode",
  cores: "coresPerNode",
  gpus: "gpusPerNode",
  name: "name",
};

const listSpec = defineCommand({
  command: "list",
  describe: "Core types on the platform: allowed cores per node, memory, storage, GPUs, prices per core-hour",
  builder: (y) =>
    y
      .option("all", { type: "boolean", default: false, describe: "Include deprecated types" })
      .example("$0 coretypes list", "The catalog")
      .example("$0 coretypes list --json", "As JSON (the API's fields)"),
  async run(options, factory) {
    const { client } = await factory.target();
    const types = (await client.coreTypes.list({ isActive: true, pageSize: 100 }))
      .filter((t) => options.all || !t.isDeprecated)
      .sort((a, b) => (a.displayOrder ?? 0) - (b.displayOrder ?? 0) || a.code.localeCompare(b.code));
    factory.out.result(types, () =>
      factory.out.table(types, [
        { header: "CODE", value: (t) => t.code },
        {
          header: "NAME",
          value: (t) => `${t.name}${(t as { isEmulated?: boolean }).isEmulated ? " (emulated)" : ""}`,
        },
        { header: "CORES/NODE", value: (t) => t.cores.join(",") },
        {
          header: "MEM/CORE",
          // decimal MB per core, as Rescale lists and markets it
          value: (t) => (t.memory === null ? "-" : gb(t.memory / 1000)),
          align: "right",
        },
        {
          header: "DISK/CORE",
          value: (t) => (t.storage === null ? "-" : `${t.storage} GB`),
          align: "right",
        },
        { header: "GPUS", value: (t) => gpuText(t) },
        { header: "PRIORITY/CORE-H", value: (t) => money(t.price), align: "right" },
        { header: "ECONOMY/CORE-H", value: (t) => money(t.lowPriorityPrice), align: "right" },
        { header: "CPU", value: (t) => (t.processorInfo ?? "").slice(0, 40) },
      ]),
    );
  },
});

function gpuText(t: CoreType): string {
  const g = t.gpuCounts;
  if (g === undefined || g === null) return "-";
  if (typeof g === "number") return String(g);
  return g.every((n) => n === 0) ? "0" : g.join(",");
}

const compareSpec = defineCommand({
  command: "compare [types..]",
  describe: "Compare core types for a job: per-node figures, price per hour per tier, cost of the walltime",
  builder: (y) =>
    y
      .positional("types", {
        type: "string",
        array: true,
        describe: "Core type codes or names (default: all)",
      })
      .option("cores", { type: "number", demandOption: true, describe: "Cores the job needs" })
      .option("walltime", {
        type: "string",
        demandOption: true,
        describe: "Walltime: 8h, 90m, 1d12h, or hours",
      })
      .option("min-memory", {
        type: "number",
        describe: "Minimum memory per node, GB (decimal, as Rescale lists it)",
      })
      .option("software", {
        type: "string",
        describe: `Only core types this software CODE[:VERSION] runs on (default ${DEFAULT_SOFTWARE} when the platform has it; "any" for all)`,
      })
      .option("batch", {
        type: "boolean",
        default: false,
        describe: "For a batch job (default: a workstation, so only types that can host a desktop)",
      })
      .option("gpus", { type: "number", describe: "Minimum GPUs per node" })
      .option("sort", { choices: Object.keys(SORT_KEYS), default: "price", describe: "Sort rows by" })
      .option("priority", {
        choices: Object.keys(PRIORITIES),
        default: "on-demand-priority",
        describe: "Tier the recommendation is priced in",
      })
      .example("$0 coretypes compare --cores 4 --walltime 8h", "All types for 4 cores, 8 hours")
      .example("$0 coretypes compare emerald onyx --cores 8 --walltime 1d --min-memory 32", "Two types"),
  async run(options, factory) {
    const { client } = await factory.target();
    const walltime = parseWalltime(options.walltime);
    const { all, software, prices } = await comparisonContext(client, options.software);
    const wanted = options.types ?? [];
    const types = wanted.length ? wanted.map((w) => findCoreType(all, w)) : all;
    const comparison = compareCoreTypes(types, {
      cores: options.cores,
      walltimeHours: walltime.hours,
      allowedCoreTypes: software?.allowedCoreTypes,
      requireRemoteViz: !options.batch,
      prices,
      minMemoryGB: options.minMemory,
      minGpus: options.gpus,
      sortBy: SORT_KEYS[options.sort],
      recommendTier: PRIORITIES[options.priority as PriorityFlag],
    });
    factory.out.result(comparison, () => {
      const { c } = factory.out;
      factory.out.line(
        `${options.cores} cores for ${walltime.text}${software ? `, types ${software.name} ${software.version} runs on` : ""}${options.batch ? "" : " that can host a workstation"}; prices per hour and for the walltime:`,
      );
      factory.out.table(comparison.rows, [
        {
          header: "CODE",
          value: (r) => (r.code === comparison.recommendation?.code ? c.green(`${r.code} *`) : r.code),
        },
        { header: "NAME", value: (r) => r.name },
        {
          header: "CORES/NODE",
          value: (r) => (r.nodes > 1 ? `${r.coresPerNode} x ${r.nodes} nodes` : String(r.coresPerNode)),
          align: "right",
        },
        { header: "MEM/NODE", value: (r) => gb(r.memoryPerNodeGB), align: "right" },
        { header: "DISK/NODE", value: (r) => gb(r.storagePerNodeGB), align: "right" },
        {
          header: "GPUS/NODE",
          value: (r) => (r.gpusPerNode === null ? "-" : String(r.gpusPerNode)),
          align: "right",
        },
        { header: "PRIORITY/H", value: (r) => money(r.prices.onDemandPriority?.perHour), align: "right" },
        { header: "ECONOMY/H", value: (r) => money(r.prices.onDemandEconomy?.perHour), align: "right" },
        {
          header: `COST ${walltime.hours}H`,
          value: (r) => money(r.prices[comparison.recommendTier]?.walltimeCost),
          align: "right",
        },
        { header: "PRICE FROM", value: (r) => r.priceSource },
        {
          header: "NOTE",
          value: (r) =>
            r.isPseudo
              ? c.yellow("placeholder type, never recommended")
              : r.meetsMinimums
                ? ""
                : c.yellow(r.shortfalls.join("; ")),
        },
      ]);
      const rec = comparison.recommendation;
      factory.out.line();
      factory.out.line(
        rec
          ? `Recommended: ${c.bold(rec.name)} (${rec.code}), ${money(rec.prices[comparison.recommendTier]?.walltimeCost)} for ${walltime.hours} h (platform currency).`
          : "No core type meets the minimums.",
      );
    });
  },
});

export const coretypesCommand: CommandSpec = {
  command: "coretypes",
  describe: "Core types (hardware): list and compare",
  subcommands: [listSpec, compareSpec],
};

/**
 * What a comparison is made over, as `coretypes compare` and the dashboard's Coretype Explorer both make it: the
 * active core types, the software (by default the runner's, when the platform offers it) whose allowed types
 * bound the choice, and the price table (compute prices, else the core types' own).
 */
export async function comparisonContext(client: RescaleClient, softwareFlag?: string) {
  const [all, analyses, prices] = await Promise.all([
    client.coreTypes.list({ isActive: true, pageSize: 100 }),
    client.analyses.list({ pageSize: 100 }),
    client.coreTypes.priceTable(),
  ]);
  const flag = softwareFlag ?? (analyses.some((a) => a.code === DEFAULT_SOFTWARE) ? DEFAULT_SOFTWARE : "any");
  const software = flag === "any" ? null : chooseSoftware(analyses, flag);
  return { all, software, prices };
}
