/**
 * `rescale-run ui`: a dashboard on 127.0.0.1 over the active profile's platform. The browser talks to this server
 * only; this server talks to the platform through the SDK, so the API key never leaves the process. The New
 * workstation form goes through submit's own plan and launch functions.
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { extname } from "node:path";
import { PassThrough } from "node:stream";
import type { CoreType, PriorityTier, RescaleFile } from "@rescale-run/sdk";
import {
  contentDisposition,
  parseWalltime,
  type RescaleClient,
  readFinalLog,
  readLiveLog,
} from "@rescale-run/sdk";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { comparisonContext } from "../commands/coretypes.js";
import { connectionDetails } from "../commands/jobs.js";
import { launchJob, makePlan, type SubmitOptions, submitInputs } from "../commands/submit.js";
import { describeError, UsageError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import { isLoopbackHost } from "../exposure.js";
import type { Factory } from "../factory.js";
import { money } from "../format.js";
import { PRIORITIES, type PriorityFlag } from "../plan.js";
import type { Target } from "../target.js";
import { type ExplorerQuery, explore, FinishedTimelines, jobRow, listJobRows, REPORT_FILE } from "./data.js";
import {
  EMPTY_FORM,
  errorPage,
  explorerPage,
  jobPage,
  type NewForm,
  newPage,
  type PageContext,
  stopPage,
  workstationsPage,
} from "./pages.js";
import {
  CSRF_FIELD,
  cookieValue,
  csrfTokenFor,
  isSameOrigin,
  newSessionToken,
  pageHeaders,
  REPORT_HEADERS,
  SESSION_COOKIE,
  sameSecret,
  sessionCookie,
} from "./security.js";

const LOG_LINES = 200;
const SORT_KEYS = new Set(["price", "priceEconomy", "memoryPerNode", "coresPerNode", "gpusPerNode", "name"]);

export interface UiServerOptions {
  target: Target;
  /** The `ui` command's factory: its io (cwd, env) and output for the submit flow, its abort signal. */
  factory: Factory;
  port?: number;
  /** Fixed session token (tests); default a fresh random one. */
  token?: string;
}

export interface UiServer {
  app: FastifyInstance;
  /** http://127.0.0.1:PORT */
  url: string;
  /** The URL to open: it carries the session token once, exchanged for a cookie. */
  loginUrl: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const optionalNumber = (v: unknown, label: string): number | undefined => {
  const text = str(v).trim();
  if (!text) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${label} must be a number, not "${text}".`);
  return n;
};

/** The form's fields as the `submit` command's arguments (detached, confirmed: the browser already asked). */
export function formToSubmitOptions(form: NewForm): SubmitOptions {
  const epochs = optionalNumber(form.epochs, "Epochs");
  if (epochs !== undefined && !Number.isInteger(epochs))
    throw new UsageError("Epochs must be a whole number.");
  if (!(form.priority in PRIORITIES)) throw new UsageError(`Unknown priority "${form.priority}".`);
  return {
    cores: Number(form.cores.trim() || Number.NaN),
    walltime: form.walltime.trim(),
    coreType: form.coreType.trim() || undefined,
    priority: form.priority as PriorityFlag,
    name: form.name.trim() || undefined,
    data: form.data.trim() || undefined,
    attach: form.attach
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean),
    software: form.software.trim() || undefined,
    allowIp: form.allowIp.trim() || undefined,
    batch: false,
    keepRunning: false,
    epochs,
    runnerArg: form.runnerArgs.split(/\s+/).filter(Boolean),
    detach: true,
    stopOnInterrupt: false,
    dryRun: false,
    yes: true,
  };
}

function formFrom(body: unknown): NewForm {
  const b = (body ?? {}) as Record<string, unknown>;
  return Object.fromEntries(
    (Object.keys(EMPTY_FORM) as (keyof NewForm)[]).map((k) => [k, str(b[k])]),
  ) as unknown as NewForm;
}

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const { target, factory } = options;
  const { client } = target;
  const token = options.token ?? newSessionToken();
  const csrf = csrfTokenFor(token);
  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 256 * 1024 });

  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  );

  const pageCtx = (reply: FastifyReply): PageContext => {
    const nonce = randomBytes(16).toString("base64");
    reply.headers(pageHeaders(nonce));
    return { platform: target.label, csrf, nonce };
  };
  const sendPage = (reply: FastifyReply, render: (pc: PageContext) => string, status = 200) => {
    const pc = pageCtx(reply);
    return reply.code(status).type("text/html; charset=utf-8").send(render(pc));
  };

  app.addHook("onRequest", async (req, reply) => {
    if (!isLoopbackHost(req.headers.host)) {
      reply
        .code(400)
        .type("text/plain")
        .send("Invalid Host header: the dashboard answers loopback names only.");
      return reply;
    }
    const url = new URL(req.url, "http://127.0.0.1");
    const offered = url.searchParams.get("token");
    if (req.method === "GET" && offered !== null) {
      if (!sameSecret(offered, token)) {
        return sendPage(
          reply,
          (pc) => errorPage(pc, "Wrong token", "That link's token is not this session's."),
          401,
        );
      }
      url.searchParams.delete("token");
      // The token leaves the address bar (and history) at once; the cookie carries the session from here on.
      reply.header("set-cookie", sessionCookie(token)).redirect(`${url.pathname}${url.search}`, 303);
      return reply;
    }
    if (!sameSecret(cookieValue(req.headers.cookie, SESSION_COOKIE), token)) {
      return sendPage(
        reply,
        (pc) =>
          errorPage(
            pc,
            "Not signed in",
            "Open the address `rescale-run ui` printed (it carries this session's token).",
          ),
        401,
      );
    }
  });

  // Every state-changing request: same origin and this session's CSRF token.
  app.addHook("preHandler", async (req, reply) => {
    if (req.method === "GET" || req.method === "HEAD") return;
    const origin = req.headers.origin ?? req.headers.referer;
    const sent =
      str((req.body as Record<string, unknown> | undefined)?.[CSRF_FIELD]) || req.headers["x-csrf-token"];
    if (
      !isSameOrigin(typeof origin === "string" ? origin : undefined, req.headers.host) ||
      !sameSecret(String(sent ?? ""), csrf)
    ) {
      return sendPage(
        reply,
        (pc) => errorPage(pc, "Refused", "This request did not come from a dashboard page (CSRF check)."),
        403,
      );
    }
  });

  app.setErrorHandler((err, _req, reply) => {
    // The platform's own 4xx (an SDK error's status) stays a 4xx: the job cannot be stopped, the id is unknown.
    const upstream =
      (err as { status?: unknown; statusCode?: unknown }).status ??
      (err as { statusCode?: unknown }).statusCode;
    const status =
      err instanceof HttpError
        ? err.statusCode
        : typeof upstream === "number" && upstream >= 400 && upstream < 500
          ? upstream
          : describeError(err).exitCode === ExitCode.NotFound
            ? 404
            : 500;
    const d = err instanceof HttpError ? { message: err.message, hint: err.hint } : describeError(err);
    if (status >= 500) factory.out.warn(`dashboard: ${d.message}`);
    return sendPage(
      reply,
      (pc) => errorPage(pc, status === 404 ? "Not found" : "Error", d.message, d.hint),
      status,
    );
  });
  app.setNotFoundHandler((_req, reply) =>
    sendPage(reply, (pc) => errorPage(pc, "Not found", "No such page."), 404),
  );

  const timelines = new FinishedTimelines();
  const coreTypes = () => client.coreTypes.list({ isActive: true, pageSize: 100 });
  const row = async (id: string, types?: CoreType[]) => {
    const [job, statuses, ts] = await Promise.all([
      client.jobs.get(id),
      client.jobs.statuses(id),
      types ? Promise.resolve(types) : coreTypes(),
    ]);
    return { row: jobRow(job, statuses, ts), statuses };
  };
  const jobFile = async (id: string, fileId: string): Promise<RescaleFile> => {
    const file = (await client.jobs.files(id)).find((f) => String(f.id) === fileId);
    if (!file) throw new HttpError(404, `Job ${id} has no output file ${fileId}.`);
    return file;
  };
  const streamFile = (file: RescaleFile) => {
    const body = new PassThrough();
    client.files
      .download(String(file.id), { to: body, signal: factory.signal })
      .catch((err) => body.destroy(err));
    return body;
  };

  app.get("/", async (_req, reply) => reply.redirect("/workstations", 303));

  app.get("/workstations", async (req, reply) => {
    const page = Math.max(1, Math.floor(Number((req.query as Record<string, string>).page) || 1));
    const data = await listJobRows(client, await coreTypes(), page, timelines);
    return sendPage(reply, (pc) => workstationsPage(pc, data));
  });

  app.get("/workstations/:id", async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const { row: r, statuses } = await row(id);
    const executing = r.status === "Executing";
    const [files, connect, log] = await Promise.all([
      client.jobs.files(id),
      executing
        ? client.workstations.get(id).then((w) => connectionDetails(w, target.kind))
        : Promise.resolve(undefined),
      r.outcome === "running"
        ? liveLogLines(client, id)
        : readFinalLog(client.jobs, client.files, id).then((l) => (l ?? []).slice(-LOG_LINES)),
    ]);
    return sendPage(reply, (pc) => jobPage(pc, { row: r, statuses, files, connect, log, kind: target.kind }));
  });

  app.get("/api/jobs/:id/live", async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const { row: r } = await row(id);
    const log = r.status === "Executing" ? await liveLogLines(client, id) : [];
    const h = r.walltimeLeftHours;
    reply.headers({ "cache-control": "no-store", "x-content-type-options": "nosniff" });
    return {
      status: r.status,
      reason: r.reason,
      outcome: r.outcome,
      walltimeLeft:
        h === null ? "-" : `${Math.floor(h)}h${String(Math.round((h % 1) * 60)).padStart(2, "0")}m`,
      costSoFar: money(r.costSoFar),
      log,
    };
  });

  app.get("/workstations/:id/stop", async (req, reply) => {
    const { row: r } = await row((req.params as { id: string }).id);
    return sendPage(reply, (pc) => stopPage(pc, r));
  });

  app.post("/workstations/:id/stop", async (req, reply) => {
    const id = (req.params as { id: string }).id;
    await client.jobs.stop(id, { signal: factory.signal });
    factory.out.note(`dashboard: stop requested for job ${id}`);
    return reply.redirect(`/workstations/${encodeURIComponent(id)}`, 303);
  });

  app.get("/workstations/:id/files/:fileId", async (req, reply) => {
    const { id, fileId } = req.params as { id: string; fileId: string };
    const file = await jobFile(id, fileId);
    const ext = extname(file.name).toLowerCase();
    const inline =
      (req.query as Record<string, string>).inline === "1" && [".png", ".jpg", ".jpeg", ".svg"].includes(ext);
    reply.headers({
      "content-security-policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
      "x-content-type-options": "nosniff",
      "cache-control": "no-store",
    });
    if (inline) {
      reply.type(ext === ".svg" ? "image/svg+xml" : ext === ".png" ? "image/png" : "image/jpeg");
    } else {
      reply
        .type("application/octet-stream")
        .header(
          "content-disposition",
          contentDisposition("file", file.name).replace(/^form-data; name="file"/, "attachment"),
        );
    }
    return reply.send(streamFile(file));
  });

  app.get("/workstations/:id/report", async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const file = (await client.jobs.files(id)).find((f) => f.name === REPORT_FILE);
    if (!file)
      throw new HttpError(404, `Job ${id} has no ${REPORT_FILE} (yet): it is written when training ends.`);
    reply.headers(REPORT_HEADERS).type("text/html; charset=utf-8");
    return reply.send(streamFile(file));
  });

  const newPageData = async (form: NewForm) => {
    const [types, analyses] = await Promise.all([coreTypes(), client.analyses.list({ pageSize: 100 })]);
    return {
      form,
      coreTypes: types.filter((t) => !t.isDeprecated),
      software: analyses.map((a) => ({ code: a.code, name: a.name })),
      priorities: Object.keys(PRIORITIES),
      plan: null,
      error: null,
    };
  };

  app.get("/new", async (_req, reply) => {
    const data = await newPageData({ ...EMPTY_FORM });
    return sendPage(reply, (pc) => newPage(pc, data));
  });

  app.post("/new", async (req, reply) => {
    const form = formFrom(req.body);
    const action = str((req.body as Record<string, unknown>).action);
    const data = await newPageData(form);
    try {
      const submitOptions = formToSubmitOptions(form);
      const inputs = await submitInputs(factory, submitOptions);
      const plan = await makePlan(
        factory,
        target,
        submitOptions,
        inputs.walltime,
        inputs.dataset,
        inputs.runtime,
      );
      if (action !== "submit") return sendPage(reply, (pc) => newPage(pc, { ...data, plan }));
      factory.out.note(`dashboard: submitting "${plan.name}"...`);
      const { jobId } = await launchJob(factory, target, plan, submitOptions, inputs.dataset, inputs.runtime);
      factory.out.note(`dashboard: submitted job ${jobId}`);
      return reply.redirect(`/workstations/${encodeURIComponent(jobId)}`, 303);
    } catch (err) {
      const d = describeError(err);
      if (d.exitCode !== ExitCode.Usage) throw err;
      return sendPage(
        reply,
        (pc) => newPage(pc, { ...data, error: { message: d.message, hint: d.hint } }),
        400,
      );
    }
  });

  app.get("/coretypes", async (req, reply) => {
    const q = req.query as Record<string, string>;
    const walltimeText = str(q.walltime).trim() || "8h";
    let walltimeHours: number;
    try {
      walltimeHours = parseWalltime(walltimeText).hours;
    } catch (err) {
      throw new HttpError(400, `Walltime "${walltimeText}": ${(err as Error).message}`);
    }
    const query: ExplorerQuery & { walltime: string } = {
      walltime: walltimeText,
      walltimeHours,
      cores: optionalPositive(q.cores, "Cores"),
      priority: (q.priority === "onDemandEconomy" ? "onDemandEconomy" : "onDemandPriority") as PriorityTier,
      sortBy: (SORT_KEYS.has(q.sort ?? "") ? q.sort : "price") as ExplorerQuery["sortBy"],
      descending: q.desc === "1",
      filter: str(q.filter),
      minMemoryGB: optionalPositive(q.minMemory, "Min memory"),
      minGpus: optionalPositive(q.minGpus, "Min GPUs"),
    };
    const cmp = explore(await comparisonContext(client), query);
    return sendPage(reply, (pc) => explorerPage(pc, query, cmp));
  });

  await app.listen({ host: "127.0.0.1", port: options.port ?? 0 });
  const { port } = app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return { app, url, loginUrl: `${url}/?token=${token}`, close: () => app.close() };
}

function optionalPositive(value: string | undefined, label: string): number | undefined {
  try {
    return optionalNumber(value, label);
  } catch (err) {
    throw new HttpError(400, (err as Error).message);
  }
}

/** The running job's last log lines through the SDK's reader (none while the log is not there yet). */
async function liveLogLines(client: RescaleClient, jobId: string): Promise<string[]> {
  const log = await readLiveLog(client.jobs, jobId, { lines: LOG_LINES });
  return log.available ? log.lines : [];
}
