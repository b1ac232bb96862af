/** The built CLI as a real process whose stdout is a pipe that `head -1` has already closed. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, REPO, sandboxEnv } from "./helpers.js";

/**
 * `head -1` reads the subshell's first line and exits; the CLI starts after that (the sleep), so every write it
 * makes meets a closed pipe (EPIPE), deterministically. Returns the CLI's own exit code and stderr.
 */
function intoClosedPipe(args: string[]): { code: number; stderr: string; head: string } {
  const dir = mkdtempSync(join(tmpdir(), "rr-pipe-"));
  const quoted = args.map((a) => `'${a}'`).join(" ");
  const script =
    `(echo first; sleep 0.3; "${process.execPath}" "${BIN}" ${quoted} 2>"${dir}/stderr"; echo $? >"${dir}/code")` +
    " | head -1";
  const result = spawnSync("bash", ["-c", script], { cwd: REPO, env: sandboxEnv(), encoding: "utf8" });
  return {
    head: result.stdout,
    code: Number(readFileSync(join(dir, "code"), "utf8")),
    stderr: readFileSync(join(dir, "stderr"), "utf8"),
  };
}

describe("a closed pipe is not a crash", () => {
  it("coretypes compare | head -1 exits 0 with nothing on stderr", () => {
    const r = intoClosedPipe(["coretypes", "compare", "--cores", "1", "--walltime", "1h"]);
    expect(r.head).toBe("first\n");
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled|at /);
    expect(r.code).toBe(0);
  }, 30_000);
});
