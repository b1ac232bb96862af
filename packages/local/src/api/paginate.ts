import type { FastifyRequest } from "fastify";
import { ApiError } from "./errors.js";

export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 1000;

export interface PageRequest {
  page: number;
  pageSize: number;
  limit: number;
  offset: number;
}

function positiveInt(value: unknown): number | undefined {
  if (typeof value !== "string" || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n > 0 ? n : undefined;
}

export function pageRequest(req: FastifyRequest): PageRequest {
  const query = req.query as Record<string, unknown>;
  const page = query.page === undefined ? 1 : positiveInt(query.page);
  if (page === undefined) throw new ApiError(404, { detail: "Invalid page." });
  const pageSize = Math.min(positiveInt(query.page_size) ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  return { page, pageSize, limit: pageSize, offset: (page - 1) * pageSize };
}

export function origin(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

function pageUrl(req: FastifyRequest, page: number): string {
  const url = new URL(req.url, origin(req));
  if (page === 1) url.searchParams.delete("page");
  else url.searchParams.set("page", String(page));
  return url.toString();
}

/** `{count, next, previous, results}` with absolute `next`/`previous` as Django REST Framework answers. */
export function pageBody<T>(req: FastifyRequest, p: PageRequest, count: number, results: T[]) {
  if (p.page > 1 && p.offset >= count) throw new ApiError(404, { detail: "Invalid page." });
  return {
    count,
    next: p.offset + p.pageSize < count ? pageUrl(req, p.page + 1) : null,
    previous: p.page > 1 ? pageUrl(req, p.page - 1) : null,
    results,
  };
}

/** Paginates a list already in memory (small catalogs). */
export function pageOf<T>(req: FastifyRequest, all: T[]) {
  const p = pageRequest(req);
  return pageBody(req, p, all.length, all.slice(p.offset, p.offset + p.limit));
}
