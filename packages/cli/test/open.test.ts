/** `rescale-run open`: finds a run's report.html in a folder (or its outputs/), prints it where no browser opens. */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { opener, reportIn } from "../src/commands/open.js";
import { runInProcess, sandboxEnv } from "./helpers.js";

function runFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), "rr-open-"));
  mkdirSync(join(dir, "outputs"));
  writeFileSync(join(dir, "outputs", "report.html"), "<!doctype html><title>Run report</title>");
  return dir;
}

describe("rescale-run open", () => {
  it("prints the report of a downloaded folder with --print, and of its outputs/ folder", async () => {
    const dir = runFolder();
    const env = sandboxEnv();
    for (const target of [dir, join(dir, "outputs"), join(dir, "outputs", "report.html")]) {
      const r = await runInProcess(["open", target, "--print", "--json"], env);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ path: join(dir, "outputs", "report.html"), opened: false });
    }
  });

  it("without a display, prints the path and says why it did not open it", async () => {
    const dir = runFolder();
    const env = sandboxEnv();
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const r = await runInProcess(["open", dir], env);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(join(dir, "outputs", "report.html"));
    if (process.platform === "linux") expect(r.stderr).toContain("no browser to open it in");
  });

  it("a folder without a report is a one-line error, exit 4", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rr-open-empty-"));
    const r = await runInProcess(["open", dir], sandboxEnv());
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/No report\.html in .*rr-open-empty-/);
  });

  it("picks the platform's opener, none on Linux without a display", () => {
    expect(opener("linux", {})).toBeNull();
    expect(opener("linux", { DISPLAY: ":0" })).toEqual({ command: "xdg-open", args: [] });
    expect(opener("darwin", {})?.command).toBe("open");
    expect(reportIn(mkdtempSync(join(tmpdir(), "rr-open-none-")))).toBeNull();
  });
});
