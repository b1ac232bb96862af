import fs from "node:fs";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { PROCESS_OUTPUT_LOG } from "../executor/executor.js";
import { listFiles, resolveInside } from "../executor/sandbox.js";
import { coresOf, type JobSpec, parseJobSpec } from "../jobspec.js";
import type { JobRow } from "../store/db.js";
import type { PlatformContext } from "./context.js";
import { ApiError, badRequest, notFound } from "./errors.js";
import { fileJson } from "./file-routes.js";
import { pageBody, pageOf, pageRequest } from "./paginate.js";

/** The single run a local job has (Rescale numbers runs; restarts are not possible here). */
const RUN_ID = 1;

const display = (content: string) => ({ content, labelClass: "", useLabel: false });

function jobJson(ctx: PlatformContext, job: JobRow) {
  const spec = job.spec as JobSpec;
  return {
    ...spec,
    id: job.id,
    name: job.name,
    owner: ctx.owner,
    dateInserted: job.dateInserted,
    analysisNames: spec.jobanalyses.map(
      (ja) => ctx.catalog.analyses.find((a) => a.code === ja.analysis.code)?.name ?? ja.analysis.code,
    ),
    jobStatus: { ...display(job.status ?? ""), status: job.status, statusReason: job.statusReason },
    clusterStatusDisplay: display(job.clusterStatus),
    isVisible: true,
    sharedWith: [],
    isLocal: true,
  };
}

const isFinished = (job: JobRow) => job.status === "Completed";

/** job_status filter values are upper snake case (PENDING, QUEUED, ...). */
const fromUpperSnake = (s: string) =>
  s
    .split(",")
    .map((part) => part.trim().toLowerCase().replace(/_/g, " "))
    .map((part) => part.replace(/^\w/, (c) => c.toUpperCase()));

export function jobRoutes(app: FastifyInstance, ctx: PlatformContext): void {
  const { store, executor } = ctx;

  const load = (req: FastifyRequest): JobRow => {
    const job = store.job((req.params as { id: string }).id);
    if (!job) throw notFound();
    return job;
  };

  const loadRun = (req: FastifyRequest): JobRow => {
    const job = load(req);
    if (String((req.params as { run: string }).run) !== String(RUN_ID) || !job.submitted) throw notFound();
    return job;
  };

  app.post("/api/v2/jobs/", async (req, reply) => {
    const spec = parseJobSpec(req.body, ctx.catalog, store);
    const job = store.insertJob({ name: spec.name, spec, cores: coresOf(spec) });
    return reply.code(201).send(jobJson(ctx, job));
  });

  app.get("/api/v2/jobs/", async (req) => {
    const p = pageRequest(req);
    const q = req.query as { state?: string; job_status?: string };
    let filter: { statuses?: string[]; exclude?: boolean } = {};
    if (q.job_status) filter = { statuses: fromUpperSnake(q.job_status) };
    else if (q.state === "completed") filter = { statuses: ["Completed"] };
    else if (q.state === "not_completed") filter = { statuses: ["Completed"], exclude: true };
    else if (q.state !== undefined) throw badRequest({ state: [`"${q.state}" is not a valid choice.`] });
    const { count, rows } = store.listJobs(filter, p.limit, p.offset);
    return pageBody(
      req,
      p,
      count,
      rows.map((j) => jobJson(ctx, j)),
    );
  });

  app.get("/api/v2/jobs/:id/", async (req) => jobJson(ctx, load(req)));

  // As on Rescale: renaming is accepted before submission; on a submitted job it answers 200 and changes nothing.
  app.patch("/api/v2/jobs/:id/", async (req) => {
    const job = load(req);
    const { name } = (req.body ?? {}) as { name?: unknown };
    if (!job.submitted && typeof name === "string" && name.trim() !== "") {
      store.updateJob(job.id, { name });
    }
    return jobJson(ctx, store.job(job.id)!);
  });

  app.delete("/api/v2/jobs/:id/", async (req, reply) => {
    const job = load(req);
    if (job.submitted && !isFinished(job)) {
      throw badRequest({
        detail: "The job's cluster is not stopped yet: stop the job and wait until it completes.",
      });
    }
    const outputs = store.listFiles({ jobId: job.id }, 1_000_000, 0).rows;
    store.deleteJob(job.id);
    for (const f of outputs) if (!store.blobInUse(f.sha256)) ctx.blobs.remove(f.sha256);
    return reply.code(204).send();
  });

  app.post("/api/v2/jobs/:id/submit/", async (req, reply) => {
    const job = load(req);
    if (job.submitted) {
      throw badRequest({
        detail: isFinished(job)
          ? "This job has finished; a finished job cannot be restarted (create a new job)."
          : "This job has already been submitted.",
      });
    }
    executor.submit(job.id);
    return reply.code(200).send();
  });

  app.post("/api/v2/jobs/:id/stop/", async (req, reply) => {
    const job = load(req);
    if (!job.submitted) throw badRequest({ detail: "This job has not been submitted." });
    if (isFinished(job)) throw badRequest({ detail: "This job has already completed." });
    executor.stop(job.id);
    return reply.code(202).send();
  });

  app.get("/api/v2/jobs/:id/statuses/", async (req) => {
    const job = load(req);
    const p = pageRequest(req);
    const { count, rows } = store.jobStatuses(job.id, p.limit, p.offset);
    return pageBody(req, p, count, rows);
  });

  app.get("/api/v2/jobs/:id/cluster_statuses/", async (req) => {
    const job = load(req);
    const p = pageRequest(req);
    const { count, rows } = store.clusterStatuses(job.id, p.limit, p.offset);
    return pageBody(
      req,
      p,
      count,
      rows.map(({ status, statusDate }) => ({ status, statusDate })),
    );
  });

  app.get("/api/v2/jobs/:id/files/", async (req) => {
    const job = load(req);
    const p = pageRequest(req);
    const { search } = req.query as { search?: string };
    const { count, rows } = store.listFiles({ jobId: job.id, search }, p.limit, p.offset);
    return pageBody(
      req,
      p,
      count,
      rows.map((f) => fileJson(req, ctx, f)),
    );
  });

  app.get("/api/v2/jobs/:id/runs/", async (req) => {
    const job = load(req);
    if (!job.submitted) return pageOf(req, []);
    return pageOf(req, [
      {
        id: RUN_ID,
        dateStarted: store.statusDate(job.id, "Started") ?? null,
        dateCompleted: store.statusDate(job.id, "Completed") ?? null,
        type: 1,
        isRunning: executor.isRunning(job.id),
      },
    ]);
  });

  app.get("/api/v2/jobs/:id/runs/:run/directory-contents/", async (req) => {
    const job = loadRun(req);
    if (executor.isRunning(job.id)) {
      const dir = executor.workDirOf(job.id);
      return listFiles(dir).map((rel) => {
        const stat = fs.statSync(`${dir}/${rel}`, { throwIfNoEntry: false });
        return {
          path: rel,
          size: stat?.size ?? 0,
          modified: stat?.mtime.toISOString() ?? null,
          isDirectory: false,
        };
      });
    }
    return store.listFiles({ jobId: job.id }, 100_000, 0).rows.map((f) => ({
      path: f.relativePath,
      size: f.size,
      modified: f.dateUploaded,
      isDirectory: false,
    }));
  });

  app.get("/api/v2/jobs/:id/runs/:run/tail/*", async (req) => {
    const job = loadRun(req);
    const rel = (req.params as { "*": string })["*"].replace(/\/+$/, "") || PROCESS_OUTPUT_LOG;
    const q = req.query as { lines?: string };
    const lines = Math.min(100_000, Math.max(1, Number(q.lines ?? 100) || 100));
    const file = tailSource(ctx, job, rel);
    if (!file) throw new ApiError(404, { detail: `No file "${rel}" in this run.` });
    return { fileType: "text", lines: await lastLines(file, lines) };
  });

  app.get("/api/v2/jobs/:id/instances/", async (req) => {
    const job = load(req);
    const active = executor.isRunning(job.id) && job.status === "Executing";
    const instances = active
      ? [
          {
            clusterId: job.id,
            publicHostname: "127.0.0.1",
            publicIp: "127.0.0.1",
            privateIp: "127.0.0.1",
            username: ctx.owner,
            sshPort: null,
            role: "MPI_MASTER",
            sshAvailable: false,
            workingDirectory: executor.workDirOf(job.id),
            note: "Local platform: there is no SSH; the job runs as a local process in workingDirectory.",
          },
        ]
      : [];
    return pageOf(req, instances);
  });
}

/** The live file while the job runs, else the collected output of the same path. */
function tailSource(ctx: PlatformContext, job: JobRow, rel: string): string | undefined {
  if (ctx.executor.isRunning(job.id)) {
    const file = resolveInside(ctx.executor.workDirOf(job.id), rel);
    return file && fs.existsSync(file) ? file : undefined;
  }
  const out = ctx.store.listFiles({ jobId: job.id }, 100_000, 0).rows.find((f) => f.relativePath === rel);
  return out && ctx.blobs.pathOf(out.sha256);
}

/** The last `count` lines of a file, reading backwards in blocks (logs can be large). */
async function lastLines(file: string, count: number): Promise<string[]> {
  const handle = await fs.promises.open(file, "r");
  try {
    const { size } = await handle.stat();
    const block = 64 * 1024;
    let position = size;
    let text = "";
    let newlines = 0;
    while (position > 0 && newlines <= count) {
      const length = Math.min(block, position);
      position -= length;
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, position);
      const chunk = buf.toString("latin1");
      for (const ch of chunk) if (ch === "\n") newlines++;
      text = chunk + text;
    }
    const lines = Buffer.from(text, "latin1").toString("utf8").split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    return lines.slice(-count);
  } finally {
    await handle.close();
  }
}
