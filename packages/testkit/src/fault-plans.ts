import { FAULT_KINDS, type FaultKind, type RequestInfo } from "./fault-proxy.js";

/**
 * A plan (for `startFaultProxy({ plan })`) that makes the dangerous cases of a Rescale job flow happen on
 * every run: the first `POST /api/v2/jobs/` and the first `/submit/` lose their answers after the server
 * acted; the first download of each file is cut mid-body; and status polls walk through every fault kind
 * once (every other poll). Everything else is left to the seeded draw.
 */
export function rescaleFlowWorstCases({
  method,
  path,
  routeCount,
}: RequestInfo & { routeCount: number }): FaultKind | null | undefined {
  if (method === "POST" && path === "/api/v2/jobs/" && routeCount === 0) return "lost-response";
  if (method === "POST" && path.endsWith("/submit/") && routeCount === 0) return "lost-response";
  if (method === "GET" && path.endsWith("/contents/") && routeCount === 0) return "truncated-body";
  if (method === "GET" && path.endsWith("/statuses/") && routeCount < 2 * FAULT_KINDS.length) {
    return routeCount % 2 === 0 ? FAULT_KINDS[routeCount / 2] : null;
  }
  return undefined;
}
