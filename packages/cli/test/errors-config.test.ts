import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { LocalConfigError, LocalPlatformError } from "@rescale-run/local";
import { DatasetError, UnsupportedError, UserInputError } from "@rescale-run/runner/errors";
import * as sdk from "@rescale-run/sdk";
import { describe, expect, it } from "vitest";
import { describeError, UsageError } from "../src/errors.js";
import { ExitCode } from "../src/exit-codes.js";
import { runInProcess, sandboxEnv } from "./helpers.js";

describe("errors and exit codes", () => {
  it("an unreachable platform exits 5 with one line and a hint", async () => {
    const env = sandboxEnv({
      RESCALE_API_KEY: "k-unreachable-000000",
      RESCALE_API_URL: "http://127.0.0.1:9",
    });
    const r = await runInProcess(["coretypes", "list"], env);
    expect(r.code).toBe(ExitCode.Unavailable);
    expect(r.stderr).toMatch(/^error: .*ECONNREFUSED/m);
    expect(r.stderr).not.toContain("k-unreachable-000000");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("an unknown profile exits 4 (not found, as docs/cli.md says) and says what to do", async () => {
    const r = await runInProcess(["list", "--profile", "nope"], sandboxEnv());
    expect(r.code).toBe(ExitCode.NotFound);
    expect(r.stderr).toContain('No Rescale profile named "nope"');
    expect(r.stderr).toContain("rescale-run config set");
  });

  it("--json errors are JSON on stdout", async () => {
    const r = await runInProcess(["list", "--profile", "nope", "--json"], sandboxEnv());
    expect(JSON.parse(r.stdout).error.exitCode).toBe(ExitCode.NotFound);
  });

  it("maps each error kind to its exit code, and unknown errors to 70 with a bug hint", () => {
    const cases: [Error, number, string | undefined][] = [
      [new sdk.AuthenticationError("no"), ExitCode.Auth, "Check the API key"],
      [new sdk.PermissionError("no"), ExitCode.Auth, "not allowed"],
      [new sdk.NotFoundError("gone"), ExitCode.NotFound, undefined],
      [new sdk.ValidationError("bad"), ExitCode.Usage, "refused the request"],
      [new sdk.ProjectRequiredError("project"), ExitCode.Usage, "refused the request"],
      [new sdk.WalltimeError("99d"), ExitCode.Usage, undefined],
      [new sdk.RateLimitError("slow"), ExitCode.Unavailable, "retry later"],
      [new sdk.ServerError("500"), ExitCode.Unavailable, "retry later"],
      [new sdk.ConnectionError("refused"), ExitCode.Unavailable, "retry later"],
      [new sdk.TimeoutError("late"), ExitCode.Unavailable, "retry later"],
      [new sdk.ResponseShapeError("odd"), ExitCode.Unavailable, "retry later"],
      [new sdk.ConfigurationError("no key"), ExitCode.Auth, "RESCALE_API_KEY"],
      [new sdk.ProfileNotFoundError("nope"), ExitCode.NotFound, "config list"],
      [new sdk.InvalidBaseUrlError("ftp:"), ExitCode.Usage, "RESCALE_API_URL"],
      [new sdk.JobFailedError("failed", { jobId: "abc123" }), ExitCode.JobFailed, undefined],
      [new sdk.ConflictError("409"), ExitCode.Internal, "--debug"],
      [new sdk.RescaleError("checksum"), ExitCode.Internal, "--debug"],
      [new UserInputError("--epochs"), ExitCode.Usage, undefined],
      [new DatasetError("one class"), ExitCode.Usage, undefined],
      [new UnsupportedError("wasm"), ExitCode.Usage, undefined],
      [new LocalPlatformError("port busy"), ExitCode.Usage, undefined],
      [new LocalConfigError("key file"), ExitCode.Usage, undefined],
      [new UsageError("flag"), ExitCode.Usage, undefined],
    ];
    for (const [error, exitCode, hint] of cases) {
      const d = describeError(error);
      expect({ name: error.name, exitCode: d.exitCode }).toEqual({ name: error.name, exitCode });
      if (hint) expect(d.hint, error.name).toContain(hint);
      else expect(d.hint, error.name).toBeUndefined();
      expect(d.message).toBe(error.message);
    }
    // The kind decides, not the class name or an HTTP status.
    class NotFoundError extends Error {}
    expect(describeError(new NotFoundError("gone")).exitCode).toBe(ExitCode.Internal);
    expect(describeError(Object.assign(new Error("x"), { status: 401 })).exitCode).toBe(ExitCode.Internal);
    const bug = describeError(new TypeError("undefined is not a function"));
    expect(bug.exitCode).toBe(ExitCode.Internal);
    expect(bug.hint).toContain("--debug");
  });
});

describe("config", () => {
  it("reads the key from stdin, writes it 0600 in Rescale's INI format, never prints it", async () => {
    const env = sandboxEnv();
    const key = "rescale-secret-key-1234567890";
    const r = await runInProcess(
      ["config", "set", "--name", "work", "--region", "eu"],
      env,
      undefined,
      `${key}\n`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(key);
    const file = join(env.XDG_CONFIG_HOME!, "rescale", "apiconfig");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const ini = readFileSync(file, "utf8");
    expect(ini).toContain("[work]");
    expect(ini).toContain("apibaseurl=https://eu.rescale.com");
    expect(ini).toContain(`apikey=${key}`);
    const list = await runInProcess(["config", "list", "--json"], env);
    expect(list.stdout).not.toContain(key);
    expect(JSON.parse(list.stdout).profiles).toEqual([
      { name: "work", baseUrl: "https://eu.rescale.com", hasKey: true },
    ]);
  });

  it("refuses an empty key", async () => {
    const r = await runInProcess(["config", "set"], sandboxEnv(), undefined, "\n");
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.stderr).toContain("No API key given");
  });
});
