/**
 * The dashboard's guard, as the local platform has it: loopback Host names only (DNS rebinding), a per-session
 * token printed in the URL and exchanged for an HttpOnly SameSite=Strict cookie, and a CSRF token plus an Origin
 * check on every state-changing request. Pure functions; server.ts wires them into fastify hooks.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { isLoopbackHost } from "../exposure.js";

export const SESSION_COOKIE = "rescale_run_ui";
export const CSRF_FIELD = "_csrf";

export function newSessionToken(): string {
  return randomBytes(32).toString("base64url");
}

/** The CSRF token of a session: derived from the session token, so it needs no storage and dies with it. */
export function csrfTokenFor(session: string): string {
  return createHmac("sha256", session).update("rescale-run ui csrf").digest("base64url");
}

export function sameSecret(a: string | undefined, b: string): boolean {
  if (typeof a !== "string") return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** An Origin (or Referer) header, when the browser sends one, must be this server's own loopback origin. */
export function isSameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (!origin) return true;
  try {
    const url = new URL(origin);
    return url.host === host && isLoopbackHost(url.host);
  } catch {
    return false;
  }
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(token: string): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}

/** Response headers on every page: no framing, no referrer to other sites, scripts only with this response's nonce. */
export function pageHeaders(nonce: string): Record<string, string> {
  return {
    "content-security-policy": [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      "style-src 'unsafe-inline'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "form-action 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join("; "),
    "x-frame-options": "DENY",
    // Not no-referrer: under it Chromium sends `Origin: null` on the page's own form posts, which the check refuses.
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
  };
}

/** A job's report.html, served in a sandbox: it cannot run scripts or reach the dashboard's origin. */
export const REPORT_HEADERS: Record<string, string> = {
  "content-security-policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};
