import { describe, expect, it } from "vitest";
import { runInProcess, sandboxEnv } from "./helpers.js";

const env = sandboxEnv();

describe("help", () => {
  it("lists every command, the exit codes and examples", async () => {
    const r = await runInProcess(["--help"], env);
    expect(r.code).toBe(0);
    for (const cmd of [
      "submit",
      "coretypes",
      "list",
      "status <job>",
      "logs <job>",
      "connect <job>",
      "stop <job>",
      "download <job>",
      "software",
      "train",
      "predict",
      "export",
      "local",
      "config",
    ]) {
      expect(r.stdout).toContain(`rescale-run ${cmd}`);
    }
    expect(r.stdout).toContain("Exit codes: 0 success, 1 job failed, 2 usage error");
    expect(r.stdout).toContain("Examples:");
  });

  it.each([
    [
      "submit",
      ["--cores", "--walltime", "--core-type", "--dry-run", "--detach", "--allow-ip", "--priority", "--data"],
    ],
    ["coretypes compare", ["--cores", "--walltime", "--min-memory", "--gpus", "--sort"]],
    ["coretypes list", ["--all"]],
    ["list", ["--active"]],
    ["status", ["<job>"]],
    ["logs", ["--follow"]],
    ["connect", ["<job>"]],
    ["stop", ["<job>"]],
    ["download", ["--out"]],
    ["software list", ["--search"]],
    ["local start", ["--max-cores"]],
    ["local stop", []],
    ["local status", []],
    ["config set", ["--region", "--base-url"]],
    ["config list", []],
  ])("%s --help teaches its flags with examples", async (command, flags) => {
    const r = await runInProcess([...command.split(" "), "--help"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Examples:");
    for (const flag of flags) expect(r.stdout).toContain(flag);
  });

  it("an unknown flag is a usage error (exit 2) with a hint, no stack", async () => {
    const r = await runInProcess(["submit", "--cores", "4", "--walltime", "8h", "--bogus"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown argument: bogus");
    expect(r.stderr).toContain("hint:");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("a misspelt command gets a suggestion", async () => {
    const r = await runInProcess(["sumbit"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Did you mean submit?");
  });

  it("a bad walltime is refused before any platform is contacted", async () => {
    const r = await runInProcess(["submit", "--cores", "4", "--walltime", "8 parsecs"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--walltime");
  });
});
