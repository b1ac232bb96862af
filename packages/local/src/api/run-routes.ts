import fs from "node:fs";
import type { DirectoryEntry, instanceSchema, runSchema, tailSchema, Wire } from "@rescale-run/sdk";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { JobSpec } from "../jobspec.js";
import type { JobRow } from "../store/db.js";
import type { PlatformContext } from "./context.js";
import { ApiError, notFound } from "./errors.js";
import { jobOf, serves } from "./objects.js";
import { origin, pageOf } from "./paginate.js";

/** The single run a local job has (Rescale numbers runs; restarts are not possible here). */
const RUN_ID = 1;
/** Where a workstation's (interactive job's) files live in the paths Rescale gives them. */
const WORKSTATION_ROOT = "shared/";

/** The prefix of this job's file paths in directory-contents and tail: `shared/` for a workstation. */
function pathPrefix(job: JobRow): string {
  const spec = job.spec as JobSpec;
  return spec.jobanalyses.some((ja) => ja.hardware.type === "interactive") ? WORKSTATION_ROOT : "";
}

/** A job's run, its working directory while it runs, its log tail and its node. */
export function runRoutes(app: FastifyInstance, ctx: PlatformContext): void {
  const { store, executor } = ctx;
  const load = (req: FastifyRequest) => jobOf(ctx, req);
  const loadRun = (req: FastifyRequest): JobRow => {
    const job = load(req);
    if (String((req.params as { run: string }).run) !== String(RUN_ID) || !job.submitted) throw notFound();
    return job;
  };

  app.get("/api/v2/jobs/:id/runs/", async (req) => {
    const job = load(req);
    if (!job.submitted) return pageOf(req, []);
    return pageOf(req, [
      serves<Wire<typeof runSchema>>()({
        id: RUN_ID,
        dateStarted: store.statusDate(job.id, "Started") ?? null,
        dateCompleted: store.statusDate(job.id, "Completed") ?? null,
        type: 1,
        isRunning: executor.isRunning(job.id),
      }),
    ]);
  });

  // Each file with its path (as tail wants it) and its tail resource, like Rescale's answer (a bare list).
  app.get("/api/v2/jobs/:id/runs/:run/directory-contents/", async (req) => {
    const job = loadRun(req);
    const prefix = pathPrefix(job);
    const tailResource = (rel: string) =>
      `${origin(req)}/api/v2/jobs/${job.id}/runs/${RUN_ID}/tail/${prefix}${rel}`;
    if (executor.isRunning(job.id)) {
      return executor.workFiles(job.id).map((rel): DirectoryEntry => {
        const file = executor.workFile(job.id, rel);
        const stat = file ? fs.statSync(file, { throwIfNoEntry: false }) : undefined;
        return {
          path: `${prefix}${rel}`,
          resource: tailResource(rel),
          size: stat?.size ?? 0,
          modified: stat?.mtime.toISOString() ?? null,
          isDirectory: false,
        };
      });
    }
    return store.listFiles({ jobId: job.id }, 100_000, 0).rows.map(
      (f): DirectoryEntry => ({
        path: `${prefix}${f.relativePath ?? f.name}`,
        resource: tailResource(f.relativePath ?? f.name),
        size: f.size,
        modified: f.dateUploaded,
        isDirectory: false,
      }),
    );
  });

  // Called WITHOUT a trailing slash, as Rescale's clients do (`.../tail/<path>?lines=N`). The slash form is
  // refused (404), so a client that depends on it fails here too; a workstation's paths start with `shared/`.
  app.get("/api/v2/jobs/:id/runs/:run/tail/*", async (req) => {
    const job = loadRun(req);
    const raw = (req.params as { "*": string })["*"];
    if (raw.endsWith("/"))
      throw new ApiError(404, { detail: "Not found. (the tail endpoint takes no trailing slash)" });
    const prefix = pathPrefix(job);
    if (!raw.startsWith(prefix)) throw new ApiError(404, { detail: `No file "${raw}" in this run.` });
    const rel = raw.slice(prefix.length);
    const q = req.query as { lines?: string };
    const lines = Math.min(100_000, Math.max(1, Number(q.lines ?? 100) || 100));
    const file = tailSource(ctx, job, rel);
    if (!file) throw new ApiError(404, { detail: `No file "${raw}" in this run.` });
    return serves<Wire<typeof tailSchema>>()({ fileType: "text", lines: await lastLines(file, lines) });
  });

  app.get("/api/v2/jobs/:id/instances/", async (req) => {
    const job = load(req);
    const active = executor.isRunning(job.id) && job.status === "Executing";
    const instances = active
      ? [
          serves<Wire<typeof instanceSchema>>()({
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
          }),
        ]
      : [];
    return pageOf(req, instances);
  });
}

/** The live file while the job runs, else the collected output of the same path. */
function tailSource(ctx: PlatformContext, job: JobRow, rel: string): string | undefined {
  if (ctx.executor.isRunning(job.id)) {
    const file = ctx.executor.workFile(job.id, rel);
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
