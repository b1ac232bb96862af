import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { assertLoopbackUrl } from "./loopback.js";
import { seededRandom } from "./rng.js";

/**
 * The faults the proxy can inject. All but `lost-response` are answered by the proxy itself, so the
 * upstream server never sees the request; `lost-response` forwards the request, lets the server act on it,
 * then drops the connection before the client sees the answer (the case that makes a blind retry of a
 * non-idempotent call dangerous). `truncated-body` forwards, sends the status, the headers and about half of
 * the body, then drops the connection (a download cut mid-stream, to be resumed with Range).
 */
export const FAULT_KINDS = [
  "429-seconds",
  "429-date",
  "500",
  "502",
  "503",
  "504",
  "reset",
  "stall",
  "lost-response",
  "truncated-body",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultRates = Partial<Record<FaultKind, number>>;

export interface RequestInfo {
  method: string;
  /** Path without the query string. */
  path: string;
}

export interface FaultProxyOptions {
  /** Upstream base URL; must be loopback. */
  target: string;
  /** Share of requests answered with each fault (0..1 each, summing to at most 1). */
  rates: FaultRates;
  seed?: number;
  /** The value of `Retry-After` on 429s (seconds; the HTTP-date form is now + this). Default 1. */
  retryAfterSeconds?: number;
  /** How long a stalled request is held before its socket is destroyed. Default 60 s (past any sane client timeout). */
  stallMs?: number;
  /** After this many faults in a row on one route (method + path), the next request on it is forwarded. */
  maxConsecutivePerRoute?: number;
  /** Which requests may be faulted (default: all). Others are always forwarded. */
  shouldFault?: (request: RequestInfo) => boolean;
  /**
   * Scripted faults, consulted first for every request: return a kind to inject it, null to forward, or
   * undefined to leave the choice to the seeded draw. `routeCount` is how many earlier requests the route
   * (method + path) has had, so "the first POST /api/v2/jobs/" is `routeCount === 0`.
   */
  plan?: (request: RequestInfo & { routeCount: number }) => FaultKind | null | undefined;
  /** Port to listen on (default: a free one). The proxy always binds 127.0.0.1. */
  port?: number;
}

export interface ProxyLogEntry extends RequestInfo {
  fault: FaultKind | null;
  /** Status the client received (null when the connection was dropped or the request stalled). */
  status: number | null;
}

export interface FaultProxyStats {
  requests: number;
  /** Requests that reached the upstream server (includes `lost-response`). */
  forwarded: number;
  faults: Record<FaultKind, number>;
  totalFaults: number;
  /** Requests that came in on a route whose previous request was faulted: the client's retries, as seen on the wire. */
  retriesObserved: number;
  /** Upstream failures (connection refused etc.), answered 502 but not counted as injected faults. */
  upstreamErrors: number;
}

export interface FaultProxy {
  readonly url: string;
  readonly port: number;
  readonly log: readonly ProxyLogEntry[];
  stats(): FaultProxyStats;
  /** Requests forwarded upstream with this method and path (a server-side count as far as the proxy can see). */
  forwardedCount(method: string, path: string | RegExp): number;
  setRates(rates: FaultRates): void;
  close(): Promise<void>;
}

const GATEWAY_PAGES: Record<number, string> = {
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

function emptyFaultCounts(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
}

function validateRates(rates: FaultRates): void {
  let sum = 0;
  for (const [kind, rate] of Object.entries(rates)) {
    if (!FAULT_KINDS.includes(kind as FaultKind)) throw new Error(`unknown fault kind ${kind}`);
    if (rate === undefined || !(rate >= 0 && rate <= 1))
      throw new Error(`rate for ${kind} must be in [0, 1]`);
    sum += rate;
  }
  if (sum > 1 + 1e-9) throw new Error(`fault rates sum to ${sum}, more than 1`);
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = assertLoopbackUrl(options.target);
  validateRates(options.rates);
  let rates = { ...options.rates };
  const random = seededRandom(options.seed ?? 1);
  const retryAfterSeconds = options.retryAfterSeconds ?? 1;
  const stallMs = options.stallMs ?? 60_000;
  const maxConsecutive = options.maxConsecutivePerRoute ?? Number.POSITIVE_INFINITY;
  const shouldFault = options.shouldFault ?? (() => true);
  const routeCounts = new Map<string, number>();

  const log: ProxyLogEntry[] = [];
  const faults = emptyFaultCounts();
  const consecutive = new Map<string, number>();
  const lastWasFault = new Map<string, boolean>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let requests = 0;
  let forwarded = 0;
  let retriesObserved = 0;
  let upstreamErrors = 0;

  function pickFault(info: RequestInfo, route: string): FaultKind | null {
    const draw = random(); // drawn for every request so the sequence depends only on the request count
    const routeCount = routeCounts.get(route) ?? 0;
    routeCounts.set(route, routeCount + 1);
    const planned = options.plan?.({ ...info, routeCount });
    if (planned !== undefined) return planned;
    if (!shouldFault(info) || (consecutive.get(route) ?? 0) >= maxConsecutive) return null;
    let cumulative = 0;
    for (const kind of FAULT_KINDS) {
      cumulative += rates[kind] ?? 0;
      if (draw < cumulative) return kind;
    }
    return null;
  }

  function forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    entry: ProxyLogEntry,
    cut: "none" | "lost-response" | "truncated-body",
  ): void {
    const dropResponse = cut === "lost-response";
    forwarded++;
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (upstreamRes) => {
        if (dropResponse) {
          // Let the server finish its side, then lose the answer on the way back.
          upstreamRes.resume();
          upstreamRes.on("end", () => req.socket.destroy());
          return;
        }
        entry.status = upstreamRes.statusCode ?? 502;
        res.writeHead(entry.status, upstreamRes.headers);
        if (cut === "truncated-body") {
          truncate(upstreamRes, res, req);
          return;
        }
        upstreamRes.pipe(res);
      },
    );
    upstream.on("error", () => {
      upstreamErrors++;
      if (dropResponse || res.headersSent) {
        req.socket.destroy();
        return;
      }
      entry.status = 502;
      res.writeHead(502, { "content-type": "text/plain" }).end("upstream unreachable");
    });
    req.pipe(upstream);
  }

  /** Sends about half the body (at least one byte, when there is one), then drops the connection. */
  function truncate(
    upstreamRes: http.IncomingMessage,
    res: http.ServerResponse,
    req: http.IncomingMessage,
  ): void {
    const length = Number(upstreamRes.headers["content-length"]);
    let budget = Number.isFinite(length) && length > 1 ? Math.floor(length / 2) : 1;
    let cut = false;
    const drop = () => {
      if (cut) return;
      cut = true;
      upstreamRes.destroy();
      req.socket.destroy();
    };
    upstreamRes.on("data", (chunk: Buffer) => {
      if (budget <= 0 || cut) return;
      const part = chunk.subarray(0, budget);
      budget -= part.length;
      // Drop the connection only once the partial body has been handed to the socket.
      if (budget <= 0) res.write(part, () => setTimeout(drop, 20));
      else res.write(part);
    });
    upstreamRes.on("end", () => {
      if (budget > 0) drop(); // a body shorter than planned: still never completed
    });
  }

  function answerWithFault(req: http.IncomingMessage, res: http.ServerResponse, entry: ProxyLogEntry): void {
    const kind = entry.fault!;
    if (kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (kind === "stall") {
      req.resume();
      const timer = setTimeout(() => {
        timers.delete(timer);
        req.socket.destroy();
      }, stallMs);
      timers.add(timer);
      req.socket.once("close", () => {
        clearTimeout(timer);
        timers.delete(timer);
      });
      return;
    }
    // Answer once the request body is in, like a gateway would.
    req.resume();
    req.once("end", () => {
      if (kind === "429-seconds" || kind === "429-date") {
        const retryAfter =
          kind === "429-seconds"
            ? String(retryAfterSeconds)
            : new Date(Date.now() + retryAfterSeconds * 1000).toUTCString();
        entry.status = 429;
        res.writeHead(429, { "content-type": "application/json", "retry-after": retryAfter }).end(
          JSON.stringify({
            detail: `Request was throttled. Expected available in ${retryAfterSeconds} seconds.`,
          }),
        );
        return;
      }
      const status = Number(kind);
      entry.status = status;
      res
        .writeHead(status, { "content-type": "text/html" })
        .end(`<html><body><h1>${status} ${GATEWAY_PAGES[status]}</h1></body></html>`);
    });
  }

  const server = http.createServer((req, res) => {
    requests++;
    const info: RequestInfo = { method: req.method ?? "GET", path: (req.url ?? "/").split("?")[0]! };
    const route = `${info.method} ${info.path}`;
    if (lastWasFault.get(route)) retriesObserved++;
    const fault = pickFault(info, route);
    const entry: ProxyLogEntry = { ...info, fault, status: null };
    log.push(entry);
    lastWasFault.set(route, fault !== null);
    if (fault === null) {
      consecutive.set(route, 0);
      forward(req, res, entry, "none");
      return;
    }
    faults[fault]++;
    consecutive.set(route, (consecutive.get(route) ?? 0) + 1);
    if (fault === "lost-response" || fault === "truncated-body") forward(req, res, entry, fault);
    else answerWithFault(req, res, entry);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    stats: () => ({
      requests,
      forwarded,
      faults: { ...faults },
      totalFaults: Object.values(faults).reduce((a, b) => a + b, 0),
      retriesObserved,
      upstreamErrors,
    }),
    forwardedCount: (method, path) =>
      log.filter(
        (e) =>
          e.method === method &&
          (e.fault === null || e.fault === "lost-response" || e.fault === "truncated-body") &&
          (typeof path === "string" ? e.path === path : path.test(e.path)),
      ).length,
    setRates(next) {
      validateRates(next);
      rates = { ...next };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
