/** Auto-pagination over Rescale's `{count, next, previous, results}` lists as an async iterator. */
import { z } from "zod";
import { pageSchema } from "./schemas.js";
import type { Transport } from "./transport.js";

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface PageOptions {
  /** Items per page (`page_size`); Rescale's default is 25. */
  pageSize?: number;
  /** 1-based page to start from. */
  page?: number;
  query?: Query;
  signal?: AbortSignal;
}

export interface Page<T> {
  count: number | undefined;
  next: string | null;
  previous: string | null;
  results: T[];
}

/** Fetches one page. A bare array answer (some endpoints) is treated as a single complete page. */
export async function fetchPage<S extends z.ZodTypeAny>(
  transport: Transport,
  path: string,
  item: S,
  options: PageOptions = {},
): Promise<Page<z.output<S>>> {
  const query: Query = { ...options.query };
  if (options.pageSize !== undefined) query.page_size = options.pageSize;
  if (options.page !== undefined) query.page = options.page;
  return fetchPageAt(transport, path, item, query, options.signal);
}

async function fetchPageAt<S extends z.ZodTypeAny>(
  transport: Transport,
  path: string,
  item: S,
  query: Query | undefined,
  signal: AbortSignal | undefined,
): Promise<Page<z.output<S>>> {
  const schema = z.union([pageSchema(item), z.array(item)]);
  const page = (await transport.requestAs(schema, { method: "GET", path, query, signal })) as
    | z.output<ReturnType<typeof pageSchema<S>>>
    | z.output<S>[];
  if (Array.isArray(page)) return { count: page.length, next: null, previous: null, results: page };
  return {
    count: page.count,
    next: page.next ?? null,
    previous: page.previous ?? null,
    results: page.results,
  };
}

/**
 * Yields every item across pages, following `next` links. `next` may drop `page_size`, so it is set again.
 */
export async function* paginate<S extends z.ZodTypeAny>(
  transport: Transport,
  path: string,
  item: S,
  options: PageOptions = {},
): AsyncGenerator<z.output<S>, void, undefined> {
  let page = await fetchPage(transport, path, item, options);
  const seen = new Set<string>();
  for (;;) {
    yield* page.results;
    if (!page.next || page.results.length === 0) return;
    const next = new URL(page.next, transport.baseUrl);
    if (options.pageSize !== undefined) next.searchParams.set("page_size", String(options.pageSize));
    const key = `${next.pathname}?${next.searchParams.toString()}`;
    if (seen.has(key)) return; // a server that links a page to itself must not loop forever
    seen.add(key);
    page = await fetchPageAt(transport, `${next.pathname}${next.search}`, item, undefined, options.signal);
  }
}

/** Collects an async iterable into an array (with an optional cap). */
export async function collect<T>(items: AsyncIterable<T>, limit = Number.POSITIVE_INFINITY): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) {
    if (out.length >= limit) break;
    out.push(item);
  }
  return out;
}

/** Base of a resource with one main list endpoint: `iterate()`, `list()` and `page()` over it. */
export abstract class ListResource<S extends z.ZodTypeAny, O extends PageOptions = PageOptions> {
  constructor(
    protected readonly transport: Transport,
    private readonly listPath: string,
    private readonly item: S,
  ) {}

  /** Maps the resource's list options to query parameters; the default passes them through. */
  protected pageOptions(options: O): PageOptions {
    return options;
  }

  /** Every item across pages; stops fetching when the loop breaks. */
  iterate(options: O = {} as O): AsyncGenerator<z.output<S>> {
    return paginate(this.transport, this.listPath, this.item, this.pageOptions(options));
  }

  /** All items. */
  list(options: O = {} as O): Promise<z.output<S>[]> {
    return collect(this.iterate(options));
  }

  /** One page (`pageSize`, 1-based `page`). */
  page(options: O = {} as O): Promise<Page<z.output<S>>> {
    return fetchPage(this.transport, this.listPath, this.item, this.pageOptions(options));
  }
}
