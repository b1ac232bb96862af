/**
 * The network edge: one axios instance, one place for auth, retries, error mapping and redaction.
 * Resources call `transport.request()` and get parsed data or a typed RescaleError; nothing else
 * in the SDK touches axios.
 */
import { Readable } from "node:stream";
import axios, { type AxiosInstance, type AxiosResponse, isAxiosError } from "axios";
import pRetry from "p-retry";
import type { z } from "zod";
import { normalizeBaseUrl } from "./config.js";
import {
  ConfigurationError,
  ConnectionError,
  errorFromResponse,
  RateLimitError,
  RescaleError,
  ServerError,
  TimeoutError,
} from "./errors.js";
import { parseResponse } from "./parse.js";
import { redactText, redactValue } from "./redact.js";
import { abortableSleep, abortReason, throwIfAborted } from "./sleep.js";

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Logger {
  debug?(message: string, meta?: Record<string, unknown>): void;
  info?(message: string, meta?: Record<string, unknown>): void;
  warn?(message: string, meta?: Record<string, unknown>): void;
}

export interface RetryOptions {
  /** Retries after the first attempt. Default 4. */
  retries?: number;
  /** First backoff delay. Default 500 ms. */
  minTimeoutMs?: number;
  /** Backoff ceiling. Default 20 s. */
  maxTimeoutMs?: number;
  /** A 429 asking to wait longer than this is not retried but thrown. Default 120 s. */
  maxRetryAfterMs?: number;
}

export interface TransportOptions {
  apiKey: string;
  baseUrl: string;
  userAgent?: string;
  retry?: RetryOptions;
  /** Per-request timeout (no answer / idle socket). Default 60 s. */
  timeoutMs?: number;
  logger?: Logger;
}

export interface RequestOptions {
  method: HttpMethod;
  /** `/api/v2/...` (a trailing slash is added) or an absolute URL on the same host (pagination links). */
  path: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** JSON-serialisable value, or a Readable for raw/multipart bodies. */
  body?: unknown;
  /**
   * Builds a fresh streamed body for each attempt (e.g. re-opening a file), which makes a streamed request
   * replayable. Takes precedence over `body`.
   */
  makeBody?: () => StreamBody;
  headers?: Record<string, string>;
  responseType?: "json" | "stream";
  signal?: AbortSignal;
  /**
   * May the request be repeated when its outcome is unknown (lost response, 5xx)? Default: GET/HEAD only.
   * Requests the server provably did not process (429, connection refused) are retried whenever replayable.
   */
  idempotent?: boolean;
  /** Statuses to hand back instead of throwing (e.g. 416 for a resumed download). */
  acceptStatus?: number[];
  timeoutMs?: number;
  /** Overrides the client's retry count for this request (0 = no retries at all). */
  retries?: number;
  /** Send `path` as given, without the trailing slash otherwise added (Rescale's tail endpoint has none). */
  exactPath?: boolean;
}

export interface StreamBody {
  body: Readable;
  headers: Record<string, string>;
  /** Releases what the body reads from (called after every attempt). */
  dispose?: () => void;
}

export interface TransportResponse<T> {
  status: number;
  headers: Record<string, string>;
  data: T;
  requestId: string | undefined;
}

const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
const REQUEST_ID_HEADERS = [
  "x-request-id",
  "x-amzn-requestid",
  "x-amz-request-id",
  "request-id",
  "x-correlation-id",
];

/** The one retry decision: may this failed attempt be repeated? */
export function isRetryable(error: unknown, request: { idempotent: boolean; replayable: boolean }): boolean {
  if (!request.replayable) return false;
  if (error instanceof RateLimitError) return true;
  if (error instanceof ConnectionError) return request.idempotent || NOT_SENT_CODES.has(error.code ?? "");
  if (error instanceof TimeoutError || error instanceof ServerError) return request.idempotent;
  return false;
}

/** `Token <key>`, or `Bearer <jwt>` for short-lived session tokens (three dot-separated parts starting `ey`). */
export function authorizationHeader(apiKey: string): string {
  const isJwt = apiKey.startsWith("ey") && apiKey.split(".").length === 3;
  return `${isJwt ? "Bearer" : "Token"} ${apiKey}`;
}

export class Transport {
  readonly baseUrl: string;
  private readonly http: AxiosInstance;
  private readonly secrets: string[];
  private readonly retry: Required<RetryOptions>;
  private readonly logger: Logger | undefined;

  constructor(options: TransportOptions) {
    if (!options.apiKey || typeof options.apiKey !== "string") {
      throw new ConfigurationError("RescaleClient needs an apiKey (or use RescaleClient.fromEnvironment()).");
    }
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    this.secrets = [options.apiKey];
    this.logger = options.logger;
    this.retry = {
      retries: options.retry?.retries ?? 4,
      minTimeoutMs: options.retry?.minTimeoutMs ?? 500,
      maxTimeoutMs: options.retry?.maxTimeoutMs ?? 20_000,
      maxRetryAfterMs: options.retry?.maxRetryAfterMs ?? 120_000,
    };
    this.http = axios.create({
      baseURL: this.baseUrl,
      timeout: options.timeoutMs ?? 60_000,
      headers: {
        Authorization: authorizationHeader(options.apiKey),
        Accept: "application/json",
        "User-Agent": options.userAgent ?? "rescale-run-sdk/0.1",
      },
      validateStatus: () => true,
      maxBodyLength: Number.POSITIVE_INFINITY,
      maxContentLength: Number.POSITIVE_INFINITY,
    });
  }

  /** Logging or inspecting the transport (or a resource holding it) shows the platform, never the key. */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Transport { baseUrl: '${this.baseUrl}' }`;
  }

  /** Removes the API key from any text or value before it is shown or logged. */
  redact<T>(value: T): T {
    return redactValue(value, this.secrets);
  }

  /** Absolute URL of a path on this platform (for links such as the in-browser desktop). */
  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  /** A request whose 2xx body is validated against `schema` (a mismatch is a ResponseShapeError). */
  async requestAs<S extends z.ZodTypeAny>(schema: S, options: RequestOptions): Promise<z.output<S>> {
    const response = await this.request(options);
    const redact = <T>(value: T): T => this.redact(value);
    return parseResponse(schema, response.data, {
      method: options.method,
      path: this.displayPath(options.path, options.exactPath),
      redact,
    });
  }

  async request<T = unknown>(options: RequestOptions): Promise<TransportResponse<T>> {
    const method = options.method;
    const idempotent = options.idempotent ?? (method === "GET" || method === "HEAD");
    const replayable = options.makeBody !== undefined || !(options.body instanceof Readable);
    const retries = options.retries ?? this.retry.retries;
    const signal = options.signal;
    const shouldRetry = (error: unknown): boolean => {
      if (signal?.aborted || !isRetryable(error, { idempotent, replayable })) return false;
      return !(error instanceof RateLimitError && (error.retryAfterMs ?? 0) > this.retry.maxRetryAfterMs);
    };
    return pRetry((attempt) => this.attempt<T>(options, attempt), {
      retries,
      minTimeout: this.retry.minTimeoutMs,
      maxTimeout: this.retry.maxTimeoutMs,
      factor: 2,
      randomize: true,
      signal,
      shouldRetry,
      // p-retry calls this even after shouldRetry said no, so it must apply the same decision before waiting.
      onFailedAttempt: async (error) => {
        if (error.retriesLeft <= 0 || !shouldRetry(error)) return;
        this.log(
          "warn",
          `retrying ${method} ${this.displayPath(options.path, options.exactPath)} after: ${error.message}`,
          {
            attempt: error.attemptNumber,
            retriesLeft: error.retriesLeft,
          },
        );
        if (error instanceof RateLimitError && error.retryAfterMs) {
          await abortableSleep(error.retryAfterMs, signal);
        }
      },
    });
  }

  private async attempt<T>(options: RequestOptions, attempt: number): Promise<TransportResponse<T>> {
    throwIfAborted(options.signal);
    const path = this.displayPath(options.path, options.exactPath);
    const started = Date.now();
    this.log("debug", `→ ${options.method} ${path}`, { attempt });
    const made = options.makeBody?.();
    const body = made ? made.body : options.body;
    const headers = {
      ...(options.responseType === "stream" ? { Accept: "*/*" } : {}),
      ...options.headers,
      ...made?.headers,
    };
    let response: AxiosResponse;
    try {
      response = await this.http.request({
        method: options.method,
        url: this.requestUrl(options.path, options.exactPath),
        params: cleanQuery(options.query),
        data: body,
        headers,
        responseType: options.responseType === "stream" ? "stream" : "json",
        signal: options.signal,
        timeout: options.timeoutMs,
        // follow-redirects buffers request bodies to replay them; a streamed upload must not be buffered.
        ...(body instanceof Readable ? { maxRedirects: 0 } : {}),
      });
    } catch (error) {
      throw this.transportError(error, options.method, path, options.signal);
    } finally {
      if (made) {
        if (!made.body.destroyed) made.body.destroy();
        made.dispose?.();
      }
    }
    const responseHeaders = flattenHeaders(response.headers);
    const requestId = REQUEST_ID_HEADERS.map((name) => responseHeaders[name]).find(Boolean);
    this.log("debug", `← ${response.status} ${options.method} ${path}`, {
      ms: Date.now() - started,
      requestId,
    });
    if (response.status >= 400 && !options.acceptStatus?.includes(response.status)) {
      const body = options.responseType === "stream" ? await readErrorStream(response.data) : response.data;
      throw errorFromResponse({
        status: response.status,
        method: options.method,
        path,
        requestId,
        body: this.redact(body === "" ? undefined : body),
        retryAfter: responseHeaders["retry-after"],
      });
    }
    return { status: response.status, headers: responseHeaders, data: response.data as T, requestId };
  }

  private requestUrl(path: string, exactPath = false): string {
    if (/^https?:\/\//i.test(path)) {
      // Pagination links are absolute and sometimes carry another scheme/host (proxies); keep our origin
      // so the key is only ever sent to the configured platform.
      const url = new URL(path);
      return `${url.pathname}${url.search}`;
    }
    const [pathname = "", search] = path.split("?", 2);
    const withSlash = exactPath || pathname.endsWith("/") ? pathname : `${pathname}/`;
    return search === undefined ? withSlash : `${withSlash}?${search}`;
  }

  private displayPath(path: string, exactPath = false): string {
    return redactText(this.requestUrl(path, exactPath), this.secrets);
  }

  private transportError(error: unknown, method: string, path: string, signal?: AbortSignal): Error {
    if (signal?.aborted) return abortReason(signal);
    if (error instanceof RescaleError) return error;
    const code = isAxiosError(error) ? error.code : (error as NodeJS.ErrnoException)?.code;
    const rawMessage = error instanceof Error ? error.message : String(error);
    const message = redactText(rawMessage, this.secrets);
    if (code === "ECONNABORTED" || code === "ETIMEDOUT" || /timeout/i.test(message)) {
      return new TimeoutError(`No answer from Rescale for ${method} ${path} in time (${message})`, {
        method,
        path,
      });
    }
    const cause = isAxiosError(error) ? (error.cause as NodeJS.ErrnoException | undefined) : undefined;
    const systemCode = cause?.code ?? code;
    return new ConnectionError(`Could not reach Rescale for ${method} ${path}: ${message}`, {
      method,
      path,
      code: systemCode ?? undefined,
    });
  }

  private log(level: keyof Logger, message: string, meta?: Record<string, unknown>): void {
    const fn = this.logger?.[level];
    if (fn) fn.call(this.logger, redactText(message, this.secrets), meta && this.redact(meta));
  }
}

function cleanQuery(query: RequestOptions["query"]): Record<string, string> | undefined {
  if (!query) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) out[key] = String(value);
  }
  return out;
}

function flattenHeaders(headers: AxiosResponse["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (value !== undefined && value !== null)
      out[key.toLowerCase()] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return out;
}

async function readErrorStream(stream: unknown, limit = 64 * 1024): Promise<unknown> {
  if (!(stream instanceof Readable)) return stream;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      if (size < limit) chunks.push(buffer);
      size += buffer.length;
    }
  } catch {
    // a broken error body is still an error; keep what arrived
  }
  const text = Buffer.concat(chunks).toString("utf8").slice(0, limit);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
