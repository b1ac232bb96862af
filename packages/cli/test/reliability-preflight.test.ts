import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runnerCompletion } from "../src/completion.js";
import { describeError } from "../src/errors.js";
import { checkOutputDir } from "../src/preflight.js";

// Issue 14, items 2 and 8: submit succeeds only on the runner's own word, and a full --out is found up front.

const root = mkdtempSync(join(tmpdir(), "cli-preflight-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the runner's completion record (item 2)", () => {
  const outDir = (name: string, runJson?: string) => {
    const dir = join(root, name);
    mkdirSync(join(dir, "outputs"), { recursive: true });
    if (runJson !== undefined) writeFileSync(join(dir, "outputs", "run.json"), runJson);
    return dir;
  };

  it("finished: run.json with a finishedAt time", async () => {
    expect(
      await runnerCompletion(
        outDir("ok", JSON.stringify({ finishedAt: "2026-12-04T02:00:00.000Z" })),
        "outputs",
      ),
    ).toEqual({
      finished: true,
    });
  });

  it.each([
    ["no run.json (a replaced script exited 0)", undefined, /not among the outputs/],
    [
      "run.json without finishedAt (the runner stopped early)",
      JSON.stringify({ finishedAt: "" }),
      /does not record a finished run/,
    ],
    ["run.json that is not JSON", "{", /does not record a finished run/],
  ])("not finished: %s", async (_label, runJson, why) => {
    const result = await runnerCompletion(outDir(`no-${Math.random()}`, runJson), "outputs");
    expect(result.finished).toBe(false);
    expect(result.finished === false && result.why).toMatch(why);
  });
});

describe("--out checked before upload (item 8)", () => {
  it("a disk with less free space than the outputs need is refused, naming the path and how much to free", () => {
    const dir = join(root, "full");
    mkdirSync(dir);
    const err = (() => {
      try {
        checkOutputDir(join(dir, "out"), 256 * 1024 * 1024, () => 10 * 1024 * 1024);
      } catch (e) {
        return e;
      }
    })();
    const d = describeError(err);
    expect(d.exitCode).toBe(2);
    expect(d.message).toContain(dir);
    expect(d.message).toMatch(/only 10\.0 MiB free/);
    expect(d.hint).toMatch(/Free at least 246 MiB there, or pass --out on another disk/);
    expect(readdirSync(dir)).toEqual([]); // the write probe is removed
  });

  it("a writable folder with room passes and leaves nothing behind", () => {
    const dir = join(root, "room");
    mkdirSync(dir);
    checkOutputDir(dir);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a disk-full error (ENOSPC) names the path and what to free, never 'looks like a bug'", () => {
    const err = Object.assign(new Error("ENOSPC: no space left on device, write"), {
      code: "ENOSPC",
      path: "/data/out/artifacts.zip",
    });
    const d = describeError(err);
    expect(d.message).toContain("/data/out/artifacts.zip");
    expect(d.hint).toMatch(/free space/i);
    expect(d.hint ?? "").not.toMatch(/bug/);
    expect(d.exitCode).not.toBe(70);
  });
});
