/**
 * Packing the runner bundle writes only under the cache directory: nothing appears in the repository (it once left
 * `<repo>/tmp/<absolute cache path>/...` folders behind). Slow (a real `pnpm deploy`, about a minute), so one test.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ensureRunnerBundle } from "../src/bundle.js";
import { REPO } from "./helpers.js";

const gitStatus = () =>
  execFileSync("git", ["status", "--porcelain", "--untracked-files=all"], { cwd: REPO, encoding: "utf8" });

const homes: string[] = [];
// The packed bundle and pnpm's store in the temporary HOME are about 300 MB.
afterAll(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

describe("runner bundle", () => {
  it("packs with HOME in a temporary directory, reports its stages and leaves the repository clean", async () => {
    const before = gitStatus();
    const home = mkdtempSync(join(tmpdir(), "rr-bundle-home-"));
    homes.push(home);
    const cache = join(home, ".cache", "rescale-run");
    const saved = process.env.HOME;
    process.env.HOME = home;
    const stages: string[] = [];
    try {
      const bundle = await ensureRunnerBundle(cache, (stage) => stages.push(stage));
      expect(bundle.cached).toBe(false);
      expect(bundle.path.startsWith(join(cache, "bundles"))).toBe(true);
      expect(existsSync(bundle.path)).toBe(true);
    } finally {
      process.env.HOME = saved;
    }
    expect(stages.length).toBeGreaterThanOrEqual(3);
    expect(gitStatus()).toBe(before);
    // Where pnpm 9's deploy used to put them: the cache's path relative to the workspace root, joined onto each
    // package folder (inside the repository, or beside it when the checkout sits deep enough).
    for (const pkg of readdirSync(join(REPO, "packages"))) {
      const spurious = resolve(REPO, "packages", pkg, relative(REPO, cache));
      expect(existsSync(spurious), spurious).toBe(false);
    }
    expect(existsSync(resolve(REPO, relative("/", home))), "repo/<home path>").toBe(false);
  }, 600_000);
});
