import fs from "node:fs";
import type { fileLinesSchema, Wire } from "@rescale-run/sdk";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { PlatformContext } from "./context.js";
import { badRequest } from "./errors.js";
import { fileJson, fileOf, serves } from "./objects.js";
import { pageBody, pageRequest } from "./paginate.js";

export function fileRoutes(app: FastifyInstance, ctx: PlatformContext): void {
  app.post("/api/v2/files/contents/", async (req, reply) => {
    if (!req.isMultipart()) throw badRequest({ file: ["No file was submitted (send multipart/form-data)."] });
    const part = await req.file();
    if (part?.type !== "file" || part.fieldname !== "file") {
      throw badRequest({ file: ['No file was submitted in the form field "file".'] });
    }
    // A client may send a path; the file keeps its last component, as a browser would send it.
    const name = part.filename?.split(/[\\/]/).pop()?.trim();
    if (!name || name === "." || name === "..")
      throw badRequest({ file: ["The submitted file has no usable name."] });
    const info = await ctx.blobs.put(part.file);
    if (part.file.truncated) throw badRequest({ file: ["The upload was truncated."] });
    const row = ctx.store.insertFile({ name, typeId: 1, ...info, jobId: null, relativePath: null });
    return reply.code(201).send(fileJson(req, ctx, row));
  });

  app.get("/api/v2/files/", async (req) => {
    const p = pageRequest(req);
    const { search } = req.query as { search?: string };
    const { count, rows } = ctx.store.listFiles({ search }, p.limit, p.offset);
    return pageBody(
      req,
      p,
      count,
      rows.map((f) => fileJson(req, ctx, f)),
    );
  });

  const load = (req: FastifyRequest) => fileOf(ctx, req);

  app.get("/api/v2/files/:id/", async (req) => fileJson(req, ctx, load(req)));

  app.patch("/api/v2/files/:id/", async (req) => {
    const file = load(req);
    const { name } = (req.body ?? {}) as { name?: unknown };
    if (name !== undefined) {
      if (typeof name !== "string" || name.trim() === "" || name.includes("/")) {
        throw badRequest({ name: ["Not a valid file name."] });
      }
      ctx.store.renameFile(file.id, name);
    }
    return fileJson(req, ctx, ctx.store.file(file.id)!);
  });

  app.delete("/api/v2/files/:id/", async (req, reply) => {
    const file = load(req);
    ctx.store.markFileDeleted(file.id);
    if (!ctx.store.blobInUse(file.sha256)) ctx.blobs.remove(file.sha256);
    return reply.code(204).send();
  });

  app.get("/api/v2/files/:id/contents/", async (req, reply) => {
    const file = load(req);
    return sendFile(req, reply, ctx.blobs.pathOf(file.sha256), file);
  });

  app.get("/api/v2/files/:id/lines/", async (req) => {
    const file = load(req);
    const q = req.query as { start?: string; count?: string };
    const start = Math.max(0, Number(q.start ?? 0) || 0);
    const count = Math.min(10_000, Math.max(1, Number(q.count ?? 100) || 100));
    const lines = await readLines(ctx.blobs.pathOf(file.sha256), start, count);
    return serves<Wire<typeof fileLinesSchema>>()({ lines, start, count: lines.length });
  });
}

async function readLines(file: string, start: number, count: number): Promise<string[]> {
  const { createInterface } = await import("node:readline");
  const out: string[] = [];
  let index = 0;
  const rl = createInterface({ input: fs.createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) {
    if (index++ < start) continue;
    out.push(line);
    if (out.length >= count) break;
  }
  rl.close();
  return out;
}

/** Streams a file, honouring a single `Range: bytes=a-b` (206 / 416) as Rescale's storage does. */
function sendFile(
  req: FastifyRequest,
  reply: FastifyReply,
  file: string,
  meta: { name: string; size: number },
) {
  const size = meta.size;
  reply.header("Accept-Ranges", "bytes");
  reply.header("Content-Type", "application/octet-stream");
  reply.header("Content-Disposition", `attachment; filename="${meta.name.replace(/["\\\r\n]/g, "_")}"`);
  const range = req.headers.range;
  if (range) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    let start = m?.[1] ? Number(m[1]) : Number.NaN;
    let end = m?.[2] ? Number(m[2]) : size - 1;
    if (m && !m[1] && m[2]) {
      start = Math.max(0, size - Number(m[2])); // suffix range: the last N bytes
      end = size - 1;
    }
    if (!m || Number.isNaN(start) || start >= size || end < start) {
      return reply.code(416).header("Content-Range", `bytes */${size}`).send();
    }
    end = Math.min(end, size - 1);
    reply
      .code(206)
      .header("Content-Range", `bytes ${start}-${end}/${size}`)
      .header("Content-Length", end - start + 1);
    return reply.send(fs.createReadStream(file, { start, end }));
  }
  reply.header("Content-Length", size);
  return reply.send(fs.createReadStream(file));
}
