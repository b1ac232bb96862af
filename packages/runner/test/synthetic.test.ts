import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSyntheticDataset, type SyntheticDataset, SyntheticDatasetError } from "../src/synthetic.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "rr-synthetic-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Decodes a PNG to one 8-bit channel; `channels` is what the file itself stores. */
async function gray(
  path: string,
): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { channels } = await sharp(path).metadata();
  const { data, info } = await sharp(path).toColourspace("b-w").raw().toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(1);
  return { data, width: info.width, height: info.height, channels };
}

describe("generateSyntheticDataset", () => {
  let dataset: SyntheticDataset;
  let dir: string;
  beforeAll(async () => {
    dir = join(root, "default");
    dataset = await generateSyntheticDataset(dir, { perClass: 4, size: 96 });
  });

  it("writes the BUSI layout: one folder per class, '<class> (i).png' and '<class> (i)_mask.png'", async () => {
    expect((await readdir(dir)).sort()).toEqual(["README.txt", "benign", "malignant", "normal"]);
    for (const c of ["benign", "malignant", "normal"]) {
      const expected = [1, 2, 3, 4].flatMap((i) => [`${c} (${i}).png`, `${c} (${i})_mask.png`]);
      expect((await readdir(join(dir, c))).sort()).toEqual(expected.sort());
    }
    expect(dataset.images).toHaveLength(12);
    expect(dataset.images[0]).toEqual({
      className: "benign",
      image: join(dir, "benign", "benign (1).png"),
      mask: join(dir, "benign", "benign (1)_mask.png"),
    });
  });

  it("says in README.txt that the data are synthetic, written after every image", async () => {
    const readme = await readFile(dataset.readme, "utf8");
    const readmeTime = (await stat(dataset.readme)).mtimeMs;
    for (const entry of dataset.images)
      expect((await stat(entry.image)).mtimeMs).toBeLessThanOrEqual(readmeTime);
    expect(readme).toMatch(/^SYNTHETIC DATA - NOT MEDICAL IMAGES/);
    expect(readme).toContain("seed 1");
  });

  it("writes single-channel images of the requested size", async () => {
    const img = await gray(dataset.images[0]!.image);
    expect([img.width, img.height, img.channels]).toEqual([96, 96, 1]);
  });

  it("draws masks over darker lesions, and all-black masks for normal", async () => {
    for (const entry of dataset.images) {
      const img = await gray(entry.image);
      const mask = await gray(entry.mask!);
      let inside = 0;
      let insideSum = 0;
      let outsideSum = 0;
      let notBinary = 0;
      for (let i = 0; i < mask.data.length; i++) {
        if (mask.data[i] === 255) {
          inside++;
          insideSum += img.data[i]!;
        } else {
          if (mask.data[i] !== 0) notBinary++;
          outsideSum += img.data[i]!;
        }
      }
      expect(notBinary).toBe(0);
      if (entry.className === "normal") {
        expect(inside).toBe(0);
      } else {
        expect(inside).toBeGreaterThan(96 * 96 * 0.01);
        const outsideMean = outsideSum / (mask.data.length - inside);
        expect(insideSum / inside).toBeLessThan(outsideMean * 0.6);
      }
    }
  });

  it("draws malignant lesions less convex than benign ones (irregular, spiculated margins)", async () => {
    // Fill ratio = lesion area / bounding-box area: an ellipse fills ~pi/4 of its box, a spiculated shape less.
    const fill = async (path: string) => {
      const { data, width } = await gray(path);
      let minX = width;
      let maxX = -1;
      let minY = width;
      let maxY = -1;
      let area = 0;
      data.forEach((v, i) => {
        if (v !== 255) return;
        const x = i % width;
        const y = Math.floor(i / width);
        area++;
        minX = Math.min(minX, x);
        maxX = Math.max(maxX, x);
        minY = Math.min(minY, y);
        maxY = Math.max(maxY, y);
      });
      return area / ((maxX - minX + 1) * (maxY - minY + 1));
    };
    for (const entry of dataset.images) {
      if (entry.className === "benign") expect(await fill(entry.mask!)).toBeGreaterThan(0.7);
      if (entry.className === "malignant") expect(await fill(entry.mask!)).toBeLessThan(0.6);
    }
  });

  it("is deterministic: the same seed gives byte-identical files, another seed different ones", async () => {
    const again = await generateSyntheticDataset(join(root, "again"), { perClass: 4, size: 96 });
    const other = await generateSyntheticDataset(join(root, "other"), { perClass: 4, size: 96, seed: 2 });
    for (let i = 0; i < dataset.images.length; i++) {
      const a = await readFile(dataset.images[i]!.image);
      expect((await readFile(again.images[i]!.image)).equals(a)).toBe(true);
      expect((await readFile(again.images[i]!.mask!)).equals(await readFile(dataset.images[i]!.mask!))).toBe(
        true,
      );
      expect((await readFile(other.images[i]!.image)).equals(a)).toBe(false);
    }
  });

  it("gives image i the same content whatever perClass is", async () => {
    const fewer = await generateSyntheticDataset(join(root, "fewer"), { perClass: 2, size: 96 });
    expect((await readFile(fewer.images[1]!.image)).equals(await readFile(dataset.images[1]!.image))).toBe(
      true,
    );
  });
});

describe("generateSyntheticDataset options", () => {
  it("skips masks when withMasks is false and honours custom classes", async () => {
    const dir = join(root, "nomask");
    const d = await generateSyntheticDataset(dir, {
      perClass: 2,
      size: 64,
      classes: ["normal", "malignant"],
      withMasks: false,
    });
    expect((await readdir(join(dir, "malignant"))).sort()).toEqual([
      "malignant (1).png",
      "malignant (2).png",
    ]);
    expect(d.images.every((e) => e.mask === null)).toBe(true);
    expect(d.classes).toEqual(["normal", "malignant"]);
  });

  it("rejects invalid options with a SyntheticDatasetError", async () => {
    const dir = join(root, "bad");
    await expect(generateSyntheticDataset(dir, { perClass: 0 })).rejects.toThrow(SyntheticDatasetError);
    await expect(generateSyntheticDataset(dir, { size: 8 })).rejects.toThrow(
      /size must be an integer between/,
    );
    await expect(generateSyntheticDataset(dir, { classes: [] })).rejects.toThrow(/at least one class/);
    await expect(generateSyntheticDataset(dir, { classes: ["a", "a"] })).rejects.toThrow(/unique/);
    await expect(generateSyntheticDataset(dir, { classes: ["../x"] })).rejects.toThrow(
      /not a plain folder name/,
    );
    await expect(generateSyntheticDataset(dir, { seed: 1.5 })).rejects.toThrow(/seed must be an integer/);
  });
});
