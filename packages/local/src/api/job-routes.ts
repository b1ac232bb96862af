import {
  type clusterStatusSchema,
  type jobStatusSchema,
  PROCESS_OUTPUT_LOG,
  type projectSchema,
  type Wire,
} from "@rescale-run/sdk";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { coresOf, parseJobSpec } from "../jobspec.js";
import type { JobRow } from "../store/db.js";
import type { PlatformContext } from "./context.js";
import { badRequest } from "./errors.js";
import { fileJson, jobJson, jobOf, jobSummaryJson, syncingOutputs } from "./objects.js";
import { pageBody, pageOf, pageRequest } from "./paginate.js";

/** A 400 naming the project, as a workspace that requires projects answers (the message is ours). */
function checkProject(ctx: PlatformContext, body: unknown): void {
  const projectId = (body as { projectId?: unknown } | null)?.projectId;
  if (projectId === undefined || projectId === null || projectId === "") {
    if (ctx.requireProject)
      throw badRequest({ projectId: ["This workspace requires every job to belong to a project."] });
    return;
  }
  if (!ctx.projects.some((p) => p.id === String(projectId)))
    throw badRequest({ projectId: [`"${String(projectId)}" is not one of your projects.`] });
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
  const load = (req: FastifyRequest) => jobOf(ctx, req);

  app.post("/api/v2/jobs/", async (req, reply) => {
    checkProject(ctx, req.body);
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
      rows.map((j) => jobSummaryJson(ctx, j)),
    );
  });

  app.get("/api/v2/users/me/projects/", async (req) =>
    pageOf<Wire<typeof projectSchema>>(req, [...ctx.projects]),
  );

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
    return pageBody<Wire<typeof jobStatusSchema>>(req, p, count, rows);
  });

  app.get("/api/v2/jobs/:id/cluster_statuses/", async (req) => {
    const job = load(req);
    const p = pageRequest(req);
    const all = store.clusterStatuses(job.id, 100_000, 0).rows;
    // While outputs sync after Completed the cluster is still Stopping (the Stopped entry is not out yet).
    const shown = syncingOutputs(ctx, job) ? all.filter((s) => s.status !== "Stopped") : all;
    return pageBody<Wire<typeof clusterStatusSchema>>(
      req,
      p,
      shown.length,
      shown.slice(p.offset, p.offset + p.limit).map(({ status, statusDate }) => ({ status, statusDate })),
    );
  });

  app.get("/api/v2/jobs/:id/files/", async (req) => {
    const job = load(req);
    const p = pageRequest(req);
    const { search } = req.query as { search?: string };
    if (syncingOutputs(ctx, job)) {
      // Right after Completed Rescale's list can be incomplete: only the log is there until the cluster stops.
      const log = store
        .listFiles({ jobId: job.id, search }, 100_000, 0)
        .rows.filter((f) => f.relativePath === PROCESS_OUTPUT_LOG);
      return pageBody(
        req,
        p,
        log.length,
        log.slice(p.offset, p.offset + p.limit).map((f) => fileJson(req, ctx, f)),
      );
    }
    const { count, rows } = store.listFiles({ jobId: job.id, search }, p.limit, p.offset);
    return pageBody(
      req,
      p,
      count,
      rows.map((f) => fileJson(req, ctx, f)),
    );
  });
}
