/**
 * One error hierarchy for everything the SDK throws, built by one factory (`errorFromResponse`).
 * Errors carry only what is safe to show: status, method, path, request id and the (redacted) body.
 * They never hold request headers or the axios error, so the API key cannot leak through them.
 */

export interface FieldError {
  /** Dotted path into the request body, e.g. `jobanalyses.0.hardware.coresPerSlot`; empty for a general error. */
  path: string;
  message: string;
}

export interface RescaleErrorDetails {
  status?: number;
  method?: string;
  path?: string;
  requestId?: string;
  body?: unknown;
  cause?: unknown;
}

/**
 * What went wrong, as a caller decides on it (exit code, hint, retry): one value per error class below, so callers
 * key on `kind` instead of class names or `instanceof` (which fails across two copies of the SDK).
 */
export type RescaleErrorKind =
  | "other"
  | "auth"
  | "permission"
  | "not-found"
  | "conflict"
  | "validation"
  | "project-required"
  | "rate-limit"
  | "server"
  | "connection"
  | "timeout"
  | "configuration"
  | "profile-not-found"
  | "invalid-base-url"
  | "walltime"
  | "response-shape"
  | "job-failed";

export class RescaleError extends Error {
  /** Set by each subclass; "other" for a plain RescaleError (a client-side check, a corrupt download). */
  readonly kind: RescaleErrorKind = "other";
  readonly status: number | undefined;
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly requestId: string | undefined;
  readonly body: unknown;

  constructor(message: string, details: RescaleErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.status = details.status;
    this.method = details.method;
    this.path = details.path;
    this.requestId = details.requestId;
    this.body = details.body;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      status: this.status,
      method: this.method,
      path: this.path,
      requestId: this.requestId,
      body: this.body,
    };
  }
}

/** 401: missing, invalid or expired API key. */
export class AuthenticationError extends RescaleError {
  override readonly kind: RescaleErrorKind = "auth";
}
/** 403: the key is valid but not allowed to do this. */
export class PermissionError extends RescaleError {
  override readonly kind: RescaleErrorKind = "permission";
}
/** 404. */
export class NotFoundError extends RescaleError {
  override readonly kind: RescaleErrorKind = "not-found";
}
/** 409 and other 4xx the API does not document. */
export class ConflictError extends RescaleError {
  override readonly kind: RescaleErrorKind = "conflict";
}

/** 400 with the server's nested field map flattened into readable `{path, message}` entries. */
export class ValidationError extends RescaleError {
  override readonly kind: RescaleErrorKind = "validation";
  readonly fieldErrors: FieldError[];
  constructor(message: string, details: RescaleErrorDetails & { fieldErrors?: FieldError[] } = {}) {
    super(message, details);
    this.fieldErrors = details.fieldErrors ?? [];
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), fieldErrors: this.fieldErrors };
  }
}

/**
 * 400 naming the project: the workspace requires every job to belong to a project (`projectId`), or the one
 * given is not the user's. Pass one of `client.projects.list()`.
 */
export class ProjectRequiredError extends ValidationError {
  override readonly kind: RescaleErrorKind = "project-required";
}

/** 429. `retryAfterMs` comes from `Retry-After` (seconds or an HTTP date) when the server sent one. */
export class RateLimitError extends RescaleError {
  override readonly kind: RescaleErrorKind = "rate-limit";
  readonly retryAfterMs: number | undefined;
  constructor(message: string, details: RescaleErrorDetails & { retryAfterMs?: number } = {}) {
    super(message, details);
    this.retryAfterMs = details.retryAfterMs;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), retryAfterMs: this.retryAfterMs };
  }
}

/** 5xx. */
export class ServerError extends RescaleError {
  override readonly kind: RescaleErrorKind = "server";
}
/** The request never got an HTTP answer (DNS, refused, reset...). `code` is the system error code. */
export class ConnectionError extends RescaleError {
  override readonly kind: RescaleErrorKind = "connection";
  readonly code: string | undefined;
  constructor(message: string, details: RescaleErrorDetails & { code?: string } = {}) {
    super(message, details);
    this.code = details.code;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), code: this.code };
  }
}
/** The request (or a waiter) ran out of time. */
export class TimeoutError extends RescaleError {
  override readonly kind: RescaleErrorKind = "timeout";
}
/** Nothing (or something invalid) is configured: no key, unknown profile, bad base URL. */
export class ConfigurationError extends RescaleError {
  override readonly kind: RescaleErrorKind = "configuration";
}
/** The profile asked for (--profile, $RESCALE_PROFILE) is not in the apiconfig file. */
export class ProfileNotFoundError extends ConfigurationError {
  override readonly kind: RescaleErrorKind = "profile-not-found";
}
/** A base URL (RESCALE_API_URL, a profile's apibaseurl) that is not an http(s) URL. */
export class InvalidBaseUrlError extends ConfigurationError {
  override readonly kind: RescaleErrorKind = "invalid-base-url";
}
/** A walltime the user typed makes no sense or is over the limit. */
export class WalltimeError extends RescaleError {
  override readonly kind: RescaleErrorKind = "walltime";
}
/** The server answered 2xx with a body that does not match the documented shape. */
export class ResponseShapeError extends RescaleError {
  override readonly kind: RescaleErrorKind = "response-shape";
}
/** A job a waiter was watching ended without reaching the awaited state (e.g. failed before becoming active). */
export class JobFailedError extends RescaleError {
  override readonly kind: RescaleErrorKind = "job-failed";
  readonly jobId: string;
  readonly statusReason: string | undefined;
  constructor(message: string, details: RescaleErrorDetails & { jobId: string; statusReason?: string }) {
    super(message, details);
    this.jobId = details.jobId;
    this.statusReason = details.statusReason;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), jobId: this.jobId, statusReason: this.statusReason };
  }
}

/** Flattens DRF's nested `{field: [messages]}` / `[{...}]` maps into `{path, message}` entries. */
export function flattenFieldErrors(body: unknown, prefix = ""): FieldError[] {
  if (typeof body === "string") return [{ path: prefix, message: body }];
  if (Array.isArray(body)) {
    if (body.every((item) => typeof item === "string")) {
      return body.map((message) => ({ path: prefix, message }));
    }
    return body.flatMap((item, index) => flattenFieldErrors(item, joinPath(prefix, String(index))));
  }
  if (body !== null && typeof body === "object") {
    return Object.entries(body).flatMap(([key, value]) => {
      const path = key === "non_field_errors" || key === "detail" ? prefix : joinPath(prefix, key);
      return flattenFieldErrors(value, path);
    });
  }
  if (body === null || body === undefined) return [];
  return [{ path: prefix, message: String(body) }];
}

function joinPath(prefix: string, key: string): string {
  return prefix ? `${prefix}.${key}` : key;
}

/** Parses `Retry-After` as delta-seconds or an HTTP date; returns milliseconds from `now`, or undefined. */
export function parseRetryAfter(value: string | undefined | null, now = Date.now()): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = String(value).trim();
  if (text === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

export interface ResponseErrorInput {
  status: number;
  method: string;
  path: string;
  requestId?: string;
  body: unknown;
  retryAfter?: string | null;
}

/** The one factory: maps an HTTP error response to the matching error class. */
export function errorFromResponse(input: ResponseErrorInput): RescaleError {
  const { status, method, path, body } = input;
  const details: RescaleErrorDetails = { status, method, path, body, requestId: input.requestId };
  const where = `${method} ${path}`;
  const detail = describeBody(body);
  const suffix = detail ? `: ${detail}` : "";
  if (status === 400) {
    const fieldErrors = flattenFieldErrors(body);
    const summary = fieldErrors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join("; ");
    if (fieldErrors.some((e) => /project/i.test(`${e.path} ${e.message}`))) {
      return new ProjectRequiredError(
        `Rescale needs a project for ${where} (400)${summary ? `: ${summary}` : ""}`,
        { ...details, fieldErrors },
      );
    }
    return new ValidationError(`Rescale rejected ${where} (400)${summary ? `: ${summary}` : ""}`, {
      ...details,
      fieldErrors,
    });
  }
  if (status === 401) {
    return new AuthenticationError(
      `Rescale did not accept the API key for ${where} (401)${suffix}. Check RESCALE_API_KEY or your apiconfig profile, and that the key belongs to this platform region.`,
      details,
    );
  }
  if (status === 403) return new PermissionError(`Not allowed: ${where} (403)${suffix}`, details);
  if (status === 404) return new NotFoundError(`Not found: ${where} (404)${suffix}`, details);
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(input.retryAfter);
    const wait = retryAfterMs === undefined ? "" : ` (retry after ${Math.ceil(retryAfterMs / 1000)} s)`;
    return new RateLimitError(`Rate limited: ${where} (429)${wait}${suffix}`, { ...details, retryAfterMs });
  }
  if (status >= 500) return new ServerError(`Rescale server error on ${where} (${status})${suffix}`, details);
  return new ConflictError(`Rescale answered ${status} to ${where}${suffix}`, details);
}

function describeBody(body: unknown): string {
  if (body === undefined || body === null || body === "") return "";
  if (typeof body === "string") return body.length > 300 ? `${body.slice(0, 300)}…` : body;
  if (typeof body === "object" && "detail" in body && typeof body.detail === "string") return body.detail;
  const text = JSON.stringify(body);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
