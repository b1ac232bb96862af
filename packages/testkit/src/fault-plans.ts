import { FAULT_KINDS, type FaultKind, type FaultProxyOptions } from "./fault-proxy.js";

/** Stalls first: only a plan injects them, and a fast run makes few reads. */
const READ_FAULTS: readonly FaultKind[] = ["stall", ...FAULT_KINDS.filter((kind) => kind !== "stall")];

/**
 * A plan (for `startFaultProxy({ plan })`) that makes the dangerous cases of a Rescale job flow happen on
 * every run: the first `POST /api/v2/jobs/` and the first `/submit/` lose their answers after the server
 * acted; the first download of each file is cut mid-body; and the flow's other reads (core types, statuses,
 * log tails...) walk through every fault kind once, every other read, stalls first, whatever routes a run
 * happens to use. Everything else is left to the seeded draw. One plan per proxy: it counts the reads it saw.
 */
export function rescaleFlowWorstCases(): NonNullable<FaultProxyOptions["plan"]> {
  let reads = 0;
  return ({ method, path, routeCount }) => {
    if (method === "POST" && path === "/api/v2/jobs/" && routeCount === 0) return "lost-response";
    if (method === "POST" && path.endsWith("/submit/") && routeCount === 0) return "lost-response";
    if (method === "GET" && path.endsWith("/contents/"))
      return routeCount === 0 ? "truncated-body" : undefined;
    if (method === "GET" && reads < 2 * READ_FAULTS.length) {
      const read = reads++;
      return read % 2 === 0 ? READ_FAULTS[read / 2] : null;
    }
    return undefined;
  };
}
