import { timingSafeEqual } from "node:crypto";
import multipart from "@fastify/multipart";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { hashKey } from "../store/db.js";
import { catalogRoutes } from "./catalog-routes.js";
import type { PlatformContext } from "./context.js";
import { ApiError } from "./errors.js";
import { fileRoutes } from "./file-routes.js";
import { jobRoutes } from "./job-routes.js";
import { runRoutes } from "./run-routes.js";

const UNAUTHENTICATED = { detail: "Authentication credentials were not provided." };
const INVALID_TOKEN = { detail: "Invalid token." };
const INACTIVE_KEY = { detail: "API key is no longer active" };

function sameKey(a: string, b: string): boolean {
  return timingSafeEqual(Buffer.from(hashKey(a), "hex"), Buffer.from(hashKey(b), "hex"));
}

/** Host names accepted in requests, or undefined (anything) when bound to every interface. */
function allowedHostNames(bindHost: string): Set<string> | undefined {
  if (bindHost === "0.0.0.0" || bindHost === "::") return undefined;
  return new Set(["127.0.0.1", "localhost", "::1", bindHost.replace(/^\[|\]$/g, "").toLowerCase()]);
}

function hostNameOf(host: string | undefined): string {
  if (!host) return "";
  const bracketed = /^\[([^\]]+)\]/.exec(host);
  return (bracketed ? bracketed[1]! : host.replace(/:\d+$/, "")).toLowerCase();
}

/** The HTTP face of the platform: auth, Rescale's error shapes, and the routes. */
export async function buildServer(
  ctx: PlatformContext,
  options: { apiKey: string; logger: FastifyBaseLogger | boolean; bindHost: string },
): Promise<FastifyInstance> {
  const { apiKey, logger } = options;
  const allowedHosts = allowedHostNames(options.bindHost);
  const app = Fastify({
    loggerInstance: typeof logger === "object" ? logger : undefined,
    logger:
      typeof logger === "boolean"
        ? logger && { level: "warn", redact: ["req.headers.authorization", "req.headers.cookie"] }
        : undefined,
    bodyLimit: 10 * 2 ** 20,
    // close() runs after the executor has stopped every job: end kept-alive client connections at once instead of
    // waiting out fastify's 72 s keep-alive timeout (a test's platform.close() took 70 s).
    forceCloseConnections: true,
  });
  await app.register(multipart, { limits: { fileSize: Number.MAX_SAFE_INTEGER, files: 1, fields: 10 } });

  // Django accepts an empty POST (submit, stop) whatever its Content-Type, and form-encoded bodies.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser(["application/json", "*"], { parseAs: "string" }, (req, body, done) => {
    const text = String(body);
    if (text.trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      if (req.headers["content-type"]?.startsWith("application/x-www-form-urlencoded")) {
        return done(null, Object.fromEntries(new URLSearchParams(text)));
      }
      done(new ApiError(400, { detail: "JSON parse error: the request body is not valid JSON." }), undefined);
    }
  });

  app.addHook("onRequest", async (req) => {
    // Like Django's ALLOWED_HOSTS: a page that rebinds its DNS name to 127.0.0.1 cannot reach the API.
    if (allowedHosts && !allowedHosts.has(hostNameOf(req.host))) {
      throw new ApiError(400, {
        detail: "Invalid Host header: the local platform answers loopback names only.",
      });
    }
    const header = req.headers.authorization;
    if (!header) throw new ApiError(401, UNAUTHENTICATED);
    const m = /^(Token|Bearer)\s+(\S+)$/.exec(header);
    if (!m) throw new ApiError(401, INVALID_TOKEN);
    const key = m[2]!;
    if (sameKey(key, apiKey)) return;
    const jobKey = ctx.store.jobKey(key);
    if (!jobKey) throw new ApiError(401, INVALID_TOKEN);
    if (!jobKey.active) throw new ApiError(401, INACTIVE_KEY);
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiError) return reply.code(err.statusCode).send(err.body);
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      // fastify's own client errors (bad JSON, wrong content type, ...) in DRF's shape
      return reply.code(status).send({ detail: (err as Error).message });
    }
    if ((err as NodeJS.ErrnoException).code === "ENOSPC") {
      return reply
        .code(507)
        .send({ detail: "The local platform's disk is full: free space in its data directory." });
    }
    req.log.error({ err }, "request failed");
    return reply.code(500).send({ detail: "A server error occurred." });
  });

  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ detail: "Not found." }));

  catalogRoutes(app, ctx);
  fileRoutes(app, ctx);
  jobRoutes(app, ctx);
  runRoutes(app, ctx);
  return app;
}
