/**
 * The API's objects as this platform serves them, and the lookups of the object a route names: what several
 * route modules share, so that they depend on this module instead of on each other. Each object is typed by
 * the SDK's own description of it (`serves<Wire<typeof schema>>()`), so a field the SDK reads cannot change type here alone; test/wire.test.ts checks at run time that every answer parses and carries every field the SDK knows.
 */
import type { jobSchema, rescaleFileSchema, Wire } from "@rescale-run/sdk";
import type { FastifyRequest } from "fastify";
import type { JobSpec } from "../jobspec.js";
import type { FileRow, JobRow } from "../store/db.js";
import type { PlatformContext } from "./context.js";
import { notFound } from "./errors.js";
import { origin } from "./paginate.js";

/**
 * A checker of served objects against the SDK's description `W` (a `Wire<typeof schema>`): the value must have
 * every field the SDK relies on with the type it parses, and may carry more (Rescale sends many more).
 */
export const serves =
  <W>() =>
  <T extends W>(value: T): T =>
    value;

const display = (content: string) => ({ content, labelClass: "", useLabel: false });

/** The job named by the `:id` route parameter, or a 404. */
export function jobOf(ctx: PlatformContext, req: FastifyRequest): JobRow {
  const job = ctx.store.job((req.params as { id: string }).id);
  if (!job) throw notFound();
  return job;
}

/** The (live) file named by the `:id` route parameter, or a 404. */
export function fileOf(ctx: PlatformContext, req: FastifyRequest): FileRow {
  const file = ctx.store.file((req.params as { id: string }).id);
  if (!file) throw notFound();
  return file;
}

/**
 * Like Rescale: for `outputSyncMs` after Completed the outputs are still being synced, so the cluster shows
 * Stopping and only the log is listed.
 */
export function syncingOutputs(ctx: PlatformContext, job: JobRow): boolean {
  if (ctx.outputSyncMs <= 0 || job.status !== "Completed") return false;
  const completed = ctx.store.statusDate(job.id, "Completed");
  return completed !== undefined && Date.now() - Date.parse(completed) < ctx.outputSyncMs;
}

/** A job as `GET /api/v2/jobs/<id>/` answers it. A saved (unsubmitted) job has no status (empty content). */
export function jobJson(ctx: PlatformContext, job: JobRow) {
  const spec = job.spec as JobSpec;
  return serves<Wire<typeof jobSchema>>()({
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
  });
}

/**
 * A row of `GET /api/v2/jobs/` as Rescale answers it: a summary without hardware or status reason (fetch the
 * job or its statuses for those). The SDK reads list rows with the job's schema.
 */
export function jobSummaryJson(ctx: PlatformContext, job: JobRow) {
  const full = jobJson(ctx, job);
  return serves<Wire<typeof jobSchema>>()({
    id: full.id,
    name: full.name,
    dateInserted: full.dateInserted,
    owner: full.owner,
    analysisNames: full.analysisNames,
    storage: 0,
    jobStatus: display(job.status ?? ""),
    clusterStatusDisplay: full.clusterStatusDisplay,
    isLocal: true,
  });
}

/** A file as `GET /api/v2/files/<id>/` answers it (a job's output files too). */
export function fileJson(req: FastifyRequest, ctx: PlatformContext, f: FileRow) {
  return serves<Wire<typeof rescaleFileSchema>>()({
    id: f.id,
    name: f.name,
    typeId: f.typeId,
    dateUploaded: f.dateUploaded,
    decryptedSize: f.size,
    md5: f.md5,
    fileChecksums: [
      { hashFunction: "sha256", fileHash: f.sha256 },
      { hashFunction: "md5", fileHash: f.md5 },
    ],
    isUploaded: true,
    isDeleted: f.isDeleted,
    downloadUrl: `${origin(req)}/api/v2/files/${f.id}/contents/`,
    path: f.jobId ? `jobs/${f.jobId}/${f.relativePath}` : `files/${f.id}/${f.name}`,
    relativePath: f.relativePath ?? f.name,
    owner: ctx.owner,
    storage: { storageType: "local-disk", encryptionType: "none" },
  });
}
