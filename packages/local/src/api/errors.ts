import { fieldErrorBody } from "@rescale-run/sdk";

/** An error answered in Django REST Framework's shape: `{"detail": ...}` or a 400 field map. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: unknown,
  ) {
    super(typeof body === "object" && body && "detail" in body ? String(body.detail) : `HTTP ${statusCode}`);
  }
}

export const notFound = (): ApiError => new ApiError(404, { detail: "Not found." });

export const badRequest = (body: unknown): ApiError => new ApiError(400, body);

/** A 400 about one job field, nested like Rescale: `{"jobanalyses":[{"hardware":{"coresPerSlot":[msg]}}]}`. */
export function jobFieldError(path: string[], message: string): ApiError {
  return badRequest(fieldErrorBody([{ path, message }]));
}
