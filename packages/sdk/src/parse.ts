import type { z } from "zod";
import { ResponseShapeError } from "./errors.js";

/** Validates a response body against its schema; a mismatch is a ResponseShapeError naming the fields. */
export function parseResponse<S extends z.ZodTypeAny>(
  schema: S,
  data: unknown,
  where: { method: string; path: string; redact?: <T>(value: T) => T },
): z.output<S> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const problems = result.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`)
    .join("; ");
  throw new ResponseShapeError(`Unexpected response shape from ${where.method} ${where.path}: ${problems}`, {
    method: where.method,
    path: where.path,
    body: where.redact ? where.redact(data) : data,
  });
}
