/** The built CLI as a real process (build first: npx -y pnpm@9 -r build), against the local platform it starts. */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { writeArchive } from "../src/archive.js";
import { BIN, runBin, sandboxEnv } from "./helpers.js";

let env: NodeJS.ProcessEnv;
let dataDir: string;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first with npx -y pnpm@9 -r build`);
  env = sandboxEnv();
  const root = mkdtempSync(join(tmpdir(), "rr-bin-"));
  dataDir = join(root, "busi");
  // Tiny placeholder "images": the CLI checks the layout, the runner (not run here) decodes them.
  const { mkdirSync, writeFileSync } = await import("node:fs");
  for (const cls of ["benign", "malignant", "normal"]) {
    mkdirSync(join(dataDir, cls), { recursive: true });
    writeFileSync(join(dataDir, cls, `${cls} (1).png`), "x");
  }
  await writeArchive(join(root, "unused.zip"), "zip", () => {});
});

describe("rescale-run (real process)", () => {
  it("--help and --version", async () => {
    const help = await runBin(["--help"], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("rescale-run submit");
    const version = await runBin(["--version"], env);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("coretypes list --json describes this machine on the local platform", async () => {
    const r = await runBin(["coretypes", "list", "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    const types = JSON.parse(r.stdout);
    expect(types[0].code).toBe("local");
    expect(types[0].price).toBe(0);
  });

  it("submit --dry-run prints the plan and the script, uploads nothing, exits 0", async () => {
    const r = await runBin(
      ["submit", "--data", dataDir, "--cores", "1", "--walltime", "90m", "--dry-run"],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("walltime        2 h (1 h 30 min requested, rounded up to whole hours)");
    expect(r.stdout).toContain("#!/bin/sh");
    expect(r.stdout).toContain("Dry run: nothing was uploaded or created.");
    const list = await runBin(["list", "--json"], env);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it("--detach without a daemon is refused before uploading", async () => {
    const r = await runBin(
      ["submit", "--data", dataDir, "--cores", "1", "--walltime", "1h", "--detach", "--yes"],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("rescale-run local start");
  });
});
