import { describe, expect, it } from "vitest";
import {
  ConfigurationError,
  ConnectionError,
  errorFromResponse,
  InvalidBaseUrlError,
  JobFailedError,
  ProfileNotFoundError,
  RescaleError,
  type RescaleErrorKind,
  ResponseShapeError,
  TimeoutError,
  WalltimeError,
} from "../src/index.js";

describe("error kinds", () => {
  it("each HTTP status gets the kind of its class", () => {
    const kindOf = (status: number, body: unknown = {}) =>
      errorFromResponse({ status, method: "GET", path: "/api/v2/jobs/", body }).kind;
    const expected: [number, RescaleErrorKind][] = [
      [400, "validation"],
      [401, "auth"],
      [403, "permission"],
      [404, "not-found"],
      [409, "conflict"],
      [429, "rate-limit"],
      [500, "server"],
      [503, "server"],
    ];
    for (const [status, kind] of expected) expect([status, kindOf(status)]).toEqual([status, kind]);
    expect(kindOf(400, { projectId: ["This field is required."] })).toBe("project-required");
  });

  it("errors raised without a response carry their own kind, subclasses overriding their parent's", () => {
    const expected: [RescaleError, RescaleErrorKind][] = [
      [new RescaleError("x"), "other"],
      [new ConnectionError("x"), "connection"],
      [new TimeoutError("x"), "timeout"],
      [new ConfigurationError("x"), "configuration"],
      [new ProfileNotFoundError("x"), "profile-not-found"],
      [new InvalidBaseUrlError("x"), "invalid-base-url"],
      [new WalltimeError("x"), "walltime"],
      [new ResponseShapeError("x"), "response-shape"],
      [new JobFailedError("x", { jobId: "1" }), "job-failed"],
    ];
    for (const [error, kind] of expected) expect([error.name, error.kind]).toEqual([error.name, kind]);
  });
});
