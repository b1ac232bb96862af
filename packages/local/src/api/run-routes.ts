import fs from "node:fs";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { PROCESS_OUTPUT_LOG } from "../executor/executor.js";
import { listFiles, resolveInside } from "../executor/sandbox.js";
import type { JobRow } from "../store/db.js";
import type { PlatformContext } from "./context.js";
import { ApiError, notFound } from "./errors.js";
import { jobOf } from "./job-routes.js";
import { pageOf } from "./paginate.js";

/** The single run a local job has (Rescale numbers runs; restarts are not possible here). */
const RUN_ID = 1;

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
