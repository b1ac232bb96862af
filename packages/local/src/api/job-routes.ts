import type { FastifyInstance, FastifyRequest } from "fastify";
import { coresOf, type JobSpec, parseJobSpec } from "../jobspec.js";
import type { JobRow } from "../store/db.js";
import type { PlatformContext } from "./context.js";
import { badRequest, notFound } from "./errors.js";
import { fileJson } from "./file-routes.js";
import { pageBody, pageRequest } from "./paginate.js";

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

/** The job named by the `:id` route parameter, or a 404. */
export function jobOf(ctx: PlatformContext, req: FastifyRequest): JobRow {
  const job = ctx.store.job((req.params as { id: string }).id);
  if (!job) throw notFound();
  return job;
}

export function jobRoutes(app: FastifyInstance, ctx: PlatformContext): void {
  const { store, executor } = ctx;
  const load = (req: FastifyRequest) => jobOf(ctx, req);

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
}
