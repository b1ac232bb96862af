import { symlink } from "node:fs/promises";
import path from "node:path";
import { type BadInputs, makeTempDir, writeBadInputs } from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VIEWS } from "../src/augment.js";
import { scanDataset } from "../src/dataset.js";
import { DatasetError } from "../src/errors.js";
import { decodeImage, INPUT_FLOATS, preprocessViews } from "../src/preprocess.js";

// Issue 4, bad input: every generated bad file is either skipped and reported, or refused with a clear
// typed error; nothing crashes the runner's dataset scan or preprocessing.

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let bad: BadInputs;
const rel = (abs: string) => path.relative(bad.dataset, abs).split(path.sep).join("/");

beforeAll(async () => {
  tmp = await makeTempDir("runner-bad-inputs-");
  bad = await writeBadInputs(tmp.dir, 6);
});
afterAll(() => tmp.cleanup());

describe("runner dataset scan with bad input", () => {
  it("skips and reports each unreadable file with a reason, and keeps everything else", async () => {
    const ds = await scanDataset(bad.dataset);
    const skipped = new Map(ds.skipped.map((s) => [s.file, s.reason]));
    for (const [kind, abs] of Object.entries(bad.unreadable)) {
      expect(skipped.get(rel(abs)), `${kind} should be skipped`).toMatch(/unreadable image: .+/);
    }
    expect(skipped.get(rel(bad.unreadable.overPixelLimit))).toMatch(/pixel limit/i);
    const kept = new Set(ds.images.map((img) => img.file));
    const valid = [
      bad.unusualButValid.png16Bit,
      bad.unusualButValid.cmykJpeg,
      bad.unusualButValid.onePixel,
      ...bad.unusualButValid.awkwardNames,
    ];
    for (const abs of valid) expect(kept.has(rel(abs)), `${rel(abs)} should be kept`).toBe(true);
    // Names with spaces, parentheses and non-ASCII survive byte for byte.
    expect(kept.has("benign/café ünï 超音波 (3).png")).toBe(true);
    expect(ds.classNames).toEqual(["benign", "malignant", "normal"]);
  });

  it("refuses a one-class dataset with a clear DatasetError", async () => {
    const error = await scanDataset(bad.oneClassDataset).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as Error).message).toMatch(/single class \(benign\).*at least two/);
  });

  it("refuses a missing dataset folder with a clear DatasetError", async () => {
    const error = await scanDataset(path.join(tmp.dir, "no-such-folder")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as Error).message).toMatch(/Cannot read the dataset folder/);
  });

  // A link to a file outside the dataset would otherwise be trained on, packed and uploaded with it.
  it("does not silently include a symlink that points outside the dataset", async () => {
    const ds = await scanDataset(bad.dataset);
    expect(ds.images.map((img) => img.file)).not.toContain(rel(bad.symlinkOut));
    expect(ds.skipped.map((s) => s.file)).toContain(rel(bad.symlinkOut));
  });

  it("skips a dangling symlink instead of failing the whole scan", async () => {
    const { dir, cleanup } = await makeTempDir("runner-dangling-");
    try {
      const copy = await writeBadInputs(dir, 6);
      await symlink(path.join(dir, "does-not-exist.png"), path.join(copy.dataset, "normal", "dangling.png"));
      const ds = await scanDataset(copy.dataset);
      expect(ds.skipped.map((s) => s.file)).toContain("normal/dangling.png");
    } finally {
      await cleanup();
    }
  });
});

describe("runner preprocessing with unusual images", () => {
  it("decodes 16-bit PNG, CMYK JPEG and a 1x1 image to 8-bit RGB and renders every view", async () => {
    for (const file of [
      bad.unusualButValid.png16Bit,
      bad.unusualButValid.cmykJpeg,
      bad.unusualButValid.onePixel,
    ]) {
      const { readFile } = await import("node:fs/promises");
      const bytes = await readFile(file);
      const decoded = await decodeImage(bytes);
      expect(decoded.data.length).toBe(decoded.width * decoded.height * 3);
      const views = await preprocessViews(bytes, VIEWS);
      expect(views).toHaveLength(VIEWS.length);
      for (const view of views) {
        expect(view.length).toBe(INPUT_FLOATS);
        expect(view.every(Number.isFinite)).toBe(true);
      }
    }
  });

  it("rejects each unreadable file with an Error (never a crash or a hang)", async () => {
    const { readFile } = await import("node:fs/promises");
    for (const file of Object.values(bad.unreadable)) {
      await expect(decodeImage(await readFile(file))).rejects.toBeInstanceOf(Error);
    }
  });
});
