/** Removes secrets (API keys) from anything that might be shown: messages, bodies, log metadata. */

export const REDACTED = "[REDACTED]";

const SENSITIVE_HEADER = /^(authorization|cookie|set-cookie|x-api-key|proxy-authorization)$/i;

/** Replaces every occurrence of each secret (and `Token xxx` / `Bearer xxx` credentials) in a string. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out.replace(/\b(Token|Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${REDACTED}`);
}

/** Deep copy with secrets redacted in every string and sensitive headers blanked. Cycles are cut. */
export function redactValue<T>(value: T, secrets: readonly string[], seen = new WeakSet<object>()): T {
  if (typeof value === "string") return redactText(value, secrets) as T;
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[Circular]" as T;
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets, seen)) as T;
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>` as T;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = SENSITIVE_HEADER.test(key) ? REDACTED : redactValue(item, secrets, seen);
  }
  return out as T;
}
