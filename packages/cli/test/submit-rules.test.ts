/**
 * `submit` refuses, before any upload, what the runner would refuse (the runner's own rules, runner/src/rules.ts):
 * bad class folders and bad runner options. Against a real local platform on 127.0.0.1; afterwards the platform
 * holds no file and no job.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LocalPlatform, startLocalPlatform } from "@rescale-run/local";
import { looksLikeStackTrace, writeImageFolderDataset } from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runInProcess, sandboxEnv } from "./helpers.js";

const KEY = "submit-rules-key-0123456789abcdef";
let platform: LocalPlatform;
let env: NodeJS.ProcessEnv;
let root: string;

async function dataset(name: string, classes: Record<string, number>): Promise<string> {
  const dir = join(root, name);
  await writeImageFolderDataset(dir, { classes });
  return dir;
}

async function platformCount(path: string): Promise<number> {
  const res = await fetch(`${platform.url}${path}`, { headers: { authorization: `Token ${KEY}` } });
  return ((await res.json()) as { count: number }).count;
}

const submit = (...args: string[]) =>
  runInProcess(["submit", "--cores", "1", "--walltime", "1h", "--yes", ...args], env);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "rr-submit-rules-"));
  platform = await startLocalPlatform({ dataDir: join(root, "platform"), apiKey: KEY });
  env = sandboxEnv({ RESCALE_API_KEY: KEY, RESCALE_API_URL: platform.url });
});
afterAll(() => platform?.close());

describe("submit refuses what the runner would refuse, before uploading", () => {
  it.each([
    ["a class with 3 images", { benign: 8, malignant: 3 }, "", /too few in malignant: 3/],
    ["an empty class folder", { benign: 8, malignant: 8 }, "empty", /no usable images: empty/],
    ["an extra folder of non-images", { benign: 8, malignant: 8 }, "notes", /no usable images: notes/],
    ["no class subfolders", {}, "", /no class subfolders/],
  ] as const)("%s: exit 2, nothing uploaded", async (label, classes, extraFolder, message) => {
    const data = await dataset(label.replace(/\W+/g, "-"), classes);
    mkdirSync(data, { recursive: true });
    if (extraFolder) {
      mkdirSync(join(data, extraFolder));
      if (extraFolder === "notes") writeFileSync(join(data, extraFolder, "readme.txt"), "not an image");
    }
    if (Object.keys(classes).length === 0) writeFileSync(join(data, "a.png"), "loose file");
    const r = await submit("--data", data);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(looksLikeStackTrace(r.stderr)).toBe(false);
    expect(await platformCount("/api/v2/files/")).toBe(0);
    expect(await platformCount("/api/v2/jobs/")).toBe(0);
  });

  it.each([
    [["--epochs", "0"], /--epochs must be a positive integer, got 0/],
    [["--epochs=-1"], /--epochs must be a positive integer, got -1/],
    [["--epochs", "NaN"], /--epochs must be a positive integer/],
    [["--seed", "abc"], /--seed must be an integer/],
    [["--runner-arg=--frobnicate"], /Unknown argument: frobnicate/],
    [["--runner-arg=--views=9"], /--views/],
  ])("runner options %j: exit 2, nothing uploaded", async (args, message) => {
    const data = await dataset(`ok-${args.join("").replace(/\W+/g, "")}`, { benign: 6, malignant: 6 });
    const r = await submit("--data", data, ...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/Nothing was uploaded/);
    expect(await platformCount("/api/v2/files/")).toBe(0);
  });
});
