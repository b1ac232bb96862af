import { gb, money } from "./format.js";
import type { Output } from "./output.js";
import type { Plan } from "./plan.js";

const PRICE_SOURCE = {
  computeprices: "the billing compute prices",
  coretypes: "the core type's listed price",
  unknown: "unknown",
} as const;

export function renderPlan(out: Output, plan: Plan): void {
  const rows = planRows(plan, out.c.yellow);
  const width = Math.max(...rows.map(([k]) => k.length));
  out.line(out.c.bold("Plan"));
  for (const [k, v] of rows) out.line(`  ${k.padEnd(width)}  ${v}`);
}

/** The plan as label / value rows: the CLI's table and the dashboard's plan panel. `warn` marks SYNTHETIC data. */
export function planRows(plan: Plan, warn: (text: string) => string = (t) => t): [string, string][] {
  const ds = plan.dataset;
  const rows: [string, string][] = [
    ["platform", plan.platform.label],
    ["job", `${plan.name} (${plan.jobType === "interactive" ? "workstation" : "batch job"})`],
    [
      "core type",
      `${plan.coreType.name} (${plan.coreType.code})${plan.coreType.chosen ? " - cheapest offering these cores" : ""}${plan.coreType.emulated ? " [emulated]" : ""}`,
    ],
    ["cores", String(plan.cores)],
    ["memory", gb(plan.memoryPerNodeGB)],
    ["GPUs", plan.gpus === null ? "unknown" : String(plan.gpus)],
    ["device", plan.device.summary],
    ["walltime", plan.walltime.text],
    ["priority", `${plan.priority.flag} (${plan.priority.billingPriorityValue})`],
    [
      "price per hour",
      plan.pricePerHour === null
        ? "unknown (the platform does not show this price)"
        : `${money(plan.pricePerHour)} (from ${PRICE_SOURCE[plan.priceSource]})`,
    ],
    [
      "maximum cost",
      plan.maxCost === null
        ? "unknown"
        : `${money(plan.maxCost)} (price x cores x ${plan.walltime.hours} h, platform currency)`,
    ],
    ["project", plan.project ? `${plan.project.name ?? plan.project.id} (${plan.project.id})` : "none"],
    [
      "software",
      `${plan.software.name} ${plan.software.version} (${plan.software.code}:${plan.software.versionCode})`,
    ],
    [
      "dataset",
      `${ds.synthetic ? warn("SYNTHETIC demo data ") : ""}${ds.source} (${ds.classes.map((k) => `${k.name} ${k.images}`).join(", ")})`,
    ],
    ["access", plan.cidrRule ?? "any address (use --allow-ip to restrict)"],
  ];
  if (plan.attachments.length) rows.push(["attachments", plan.attachments.join(", ")]);
  if (plan.runnerArgs.length) rows.push(["runner options", plan.runnerArgs.join(" ")]);
  if (plan.offlineRuntime) rows.push(["Node.js runtime", plan.offlineRuntime]);
  return rows;
}
