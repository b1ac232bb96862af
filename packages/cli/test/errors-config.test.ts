import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeError } from "../src/errors.js";
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

  it("maps error classes by name, and unknown errors to 70 with a bug hint", () => {
    class NotFoundError extends Error {}
    expect(describeError(new NotFoundError("gone")).exitCode).toBe(ExitCode.NotFound);
    expect(describeError(Object.assign(new Error("x"), { status: 401 })).exitCode).toBe(ExitCode.Auth);
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
