import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { assertSplitMatches, isMaskFile, scanDataset, splitDataset } from "../src/dataset.js";
import { DatasetError } from "../src/errors.js";
import { makeDataset, pngImage, tempDir } from "./helpers.js";

describe("scanDataset", () => {
  it("maps sorted class names to indices and excludes masks", async () => {
    const root = await makeDataset(await tempDir(), { normal: 6, benign: 7, malignant: 6 });
    await writeFile(path.join(root, "benign", "benign (1)_mask_1.png"), await pngImage(999));
    const ds = await scanDataset(root);
    expect(ds.classNames).toEqual(["benign", "malignant", "normal"]);
    expect(ds.images).toHaveLength(19);
    expect(ds.masksExcluded).toBe(20);
    expect(ds.images.every((img) => !img.file.includes("_mask"))).toBe(true);
    expect(ds.images.find((img) => img.className === "normal")?.label).toBe(2);
    expect(ds.images[0]?.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("recognises BUSI mask names", () => {
    expect(isMaskFile("benign (12)_mask.png")).toBe(true);
    expect(isMaskFile("benign (12)_mask_1.png")).toBe(true);
    expect(isMaskFile("benign (12).png")).toBe(false);
  });

  it("skips and reports corrupt files and non-images", async () => {
    const root = await makeDataset(await tempDir());
    const good = await pngImage(5);
    await writeFile(path.join(root, "benign", "truncated.png"), good.subarray(0, good.length / 2));
    await writeFile(path.join(root, "benign", "garbage.jpg"), Buffer.from("not an image at all"));
    await writeFile(path.join(root, "benign", "notes.txt"), "hello");
    const ds = await scanDataset(root);
    expect(ds.images).toHaveLength(24);
    expect(ds.skipped.map((s) => s.file).sort()).toEqual([
      "benign/garbage.jpg",
      "benign/notes.txt",
      "benign/truncated.png",
    ]);
    expect(ds.skipped.find((s) => s.file === "benign/truncated.png")?.reason).toMatch(/unreadable/);
  });

  it("raises clear errors for empty, single-class and too-small datasets", async () => {
    const empty = await tempDir();
    await expect(scanDataset(empty)).rejects.toThrow(DatasetError);
    await expect(scanDataset(path.join(empty, "missing"))).rejects.toThrow(/Cannot read the dataset folder/);

    const single = await makeDataset(await tempDir(), { benign: 8 });
    await expect(scanDataset(single)).rejects.toThrow(/single class/);

    const withEmpty = await makeDataset(await tempDir(), { benign: 8, malignant: 8 });
    await mkdir(path.join(withEmpty, "normal"));
    await expect(scanDataset(withEmpty)).rejects.toThrow(/no usable images: normal/);

    const tooFew = await makeDataset(await tempDir(), { benign: 8, malignant: 3 });
    await expect(scanDataset(tooFew)).rejects.toThrow(/too few in malignant: 3/);
  });
});

describe("splitDataset", () => {
  it("is stratified, seeded, complete and disjoint", async () => {
    const ds = await scanDataset(
      await makeDataset(await tempDir(), { benign: 20, malignant: 10, normal: 8 }),
    );
    const split = splitDataset(ds, 42);
    const all = [...split.train, ...split.val, ...split.test];
    expect(new Set(all).size).toBe(38);
    for (const className of ds.classNames) {
      for (const part of [split.val, split.test]) {
        expect(part.filter((f) => f.startsWith(`${className}/`)).length).toBeGreaterThanOrEqual(1);
      }
    }
    expect(split.test.filter((f) => f.startsWith("benign/"))).toHaveLength(3);
    expect(split.val.filter((f) => f.startsWith("benign/"))).toHaveLength(3);
    expect(split.train.filter((f) => f.startsWith("benign/"))).toHaveLength(14);
    expect(splitDataset(ds, 42)).toEqual(split);
    expect(splitDataset(ds, 7).test).not.toEqual(split.test);
    expect(() => assertSplitMatches(ds, split)).not.toThrow();
  });

  it("keeps exact duplicates on one side of the split", async () => {
    const root = await makeDataset(await tempDir(), { benign: 10, malignant: 8, normal: 8 });
    for (let i = 0; i < 4; i++) {
      await copyFile(path.join(root, "benign", "benign (1).png"), path.join(root, "benign", `copy${i}.png`));
    }
    const ds = await scanDataset(root);
    expect(ds.duplicateGroups).toHaveLength(1);
    expect(ds.duplicateGroups[0]).toHaveLength(5);
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const split = splitDataset(ds, seed);
      const parts = [split.train, split.val, split.test].filter((part) =>
        part.includes("benign/benign (1).png"),
      );
      expect(parts).toHaveLength(1);
      for (let i = 0; i < 4; i++) expect(parts[0]).toContain(`benign/copy${i}.png`);
    }
  });

  it("gives the same fingerprint for the same content", async () => {
    const a = await scanDataset(await makeDataset(await tempDir()));
    const b = await scanDataset(await makeDataset(await tempDir()));
    expect(a.fingerprint).toBe(b.fingerprint);
    await writeFile(path.join(b.root, "normal", "normal (1).png"), await pngImage(77));
    expect((await scanDataset(b.root)).fingerprint).not.toBe(a.fingerprint);
    expect((await readFile(path.join(b.root, "normal", "normal (1).png"))).length).toBeGreaterThan(0);
  });
});

describe("scanDataset and symbolic links", () => {
  it("never follows symbolic links: inside, outside or dangling, they are skipped and reported", async () => {
    const { symlink } = await import("node:fs/promises");
    const root = await makeDataset(await tempDir());
    const outside = path.join(await tempDir(), "outside.png");
    await writeFile(outside, await pngImage(500));
    await symlink(outside, path.join(root, "benign", "outside.png"));
    await symlink(path.join(root, "benign", "missing.png"), path.join(root, "normal", "dangling.png"));
    await symlink(path.join(root, "benign", "benign (1).png"), path.join(root, "malignant", "inside.png"));
    const ds = await scanDataset(root);
    expect(ds.images).toHaveLength(24);
    expect(ds.skipped).toEqual(
      expect.arrayContaining([
        { file: "benign/outside.png", reason: "symbolic link (not followed)" },
        { file: "normal/dangling.png", reason: "symbolic link (not followed)" },
        { file: "malignant/inside.png", reason: "symbolic link (not followed)" },
      ]),
    );
  });
});
