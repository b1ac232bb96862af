import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { firstViews, ORIGINAL_VIEW, VIEWS, viewById } from "../src/augment.js";
import { decodeBmp } from "../src/bmp.js";
import {
  CAFFE_MEAN_BGR,
  decodeImage,
  INPUT_FLOATS,
  preprocessViews,
  renderView,
  toCaffeInput,
} from "../src/preprocess.js";

const at = (x: Float32Array, row: number, col: number) => {
  const i = (row * 224 + col) * 3;
  return [x[i]!, x[i + 1]!, x[i + 2]!];
};

/** A width x height RGB image: left half `left`, right half `right`. */
function halves(width: number, height: number, left: number[], right: number[]) {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(x < width / 2 ? left : right, (y * width + x) * 3);
  }
  return data;
}

describe("Keras caffe preprocessing", () => {
  it("converts RGB to BGR and subtracts the ImageNet means, without scaling", () => {
    const rgb = new Uint8Array(INPUT_FLOATS);
    for (let p = 0; p < 224 * 224; p++) rgb.set([200, 100, 50], p * 3);
    const x = toCaffeInput(rgb);
    // Hand-computed: B = 50 - 103.939, G = 100 - 116.779, R = 200 - 123.68.
    const [b, g, r] = at(x, 100, 7);
    expect(b).toBeCloseTo(-53.939, 4);
    expect(g).toBeCloseTo(-16.779, 4);
    expect(r).toBeCloseTo(76.32, 4);
    expect(CAFFE_MEAN_BGR).toEqual([103.939, 116.779, 123.68]);
  });

  it("decodes a PNG, resizes to 224x224 and keeps left/right; the flip view mirrors it", async () => {
    const png = await sharp(halves(8, 4, [255, 0, 0], [0, 0, 255]), {
      raw: { width: 8, height: 4, channels: 3 },
    })
      .png()
      .toBuffer();
    const [orig, flip] = await preprocessViews(png, [ORIGINAL_VIEW, viewById("flip")]);
    expect(orig).toHaveLength(224 * 224 * 3);
    // Left edge is pure red: B = 0 - 103.939, G = 0 - 116.779, R = 255 - 123.68 = 131.32.
    expect(at(orig!, 10, 0).map((v) => Math.round(v * 1000) / 1000)).toEqual([-103.939, -116.779, 131.32]);
    expect(at(orig!, 10, 223).map((v) => Math.round(v * 1000) / 1000)).toEqual([151.061, -116.779, -123.68]);
    expect(at(flip!, 10, 0)).toEqual(at(orig!, 10, 223));
  });

  it("converts grayscale 16-bit to 8-bit RGB", async () => {
    const grey = Buffer.alloc(4 * 4 * 2);
    for (let i = 0; i < 16; i++) grey.writeUInt16LE(0x8080, i * 2);
    // sharp reads 16-bit raw input with `depth`, which its type declarations do not list.
    const raw16 = { width: 4, height: 4, channels: 1, depth: "ushort" } as sharp.CreateRaw;
    const png16 = await sharp(grey, { raw: raw16 }).toColourspace("grey16").png().toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe("ushort");
    const image = await decodeImage(png16);
    expect(image.data).toHaveLength(4 * 4 * 3);
    expect(Math.abs(image.data[0]! - 128)).toBeLessThanOrEqual(1);
    expect(image.data[0]).toBe(image.data[1]);
    expect(image.data[1]).toBe(image.data[2]);
  });

  it("honours EXIF orientation", async () => {
    // Stored 8x4 with red left / blue right; orientation 6 = rotate 90 degrees clockwise on display:
    // displayed 4x8 with red on top.
    const jpeg = await sharp(halves(8, 4, [255, 0, 0], [0, 0, 255]), {
      raw: { width: 8, height: 4, channels: 3 },
    })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const image = await decodeImage(jpeg);
    expect([image.width, image.height]).toEqual([4, 8]);
    expect(image.data[0]).toBeGreaterThan(200); // top-left pixel is red
    expect(image.data[2]).toBeLessThan(60);
  });

  it("refuses images above the pixel limit", async () => {
    const png = await sharp({ create: { width: 100, height: 100, channels: 3, background: "#808080" } })
      .png()
      .toBuffer();
    await expect(decodeImage(png, { limitInputPixels: 5000 })).rejects.toThrow(/pixel limit/i);
  });

  it("decodes uncompressed 24-bit BMP", async () => {
    const width = 3;
    const height = 2;
    const stride = 12;
    const bmp = Buffer.alloc(54 + stride * height);
    bmp.write("BM", 0, "ascii");
    bmp.writeUInt32LE(bmp.length, 2);
    bmp.writeUInt32LE(54, 10);
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(width, 18);
    bmp.writeInt32LE(height, 22);
    bmp.writeUInt16LE(1, 26);
    bmp.writeUInt16LE(24, 28);
    // Bottom-up rows of BGR: the bottom row (stored first) is green, the top row red.
    for (let x = 0; x < width; x++) bmp.set([0, 255, 0], 54 + x * 3);
    for (let x = 0; x < width; x++) bmp.set([0, 0, 255], 54 + stride + x * 3);
    const raw = decodeBmp(bmp, 1e6);
    expect([...raw.data.subarray(0, 3)]).toEqual([255, 0, 0]);
    expect([...raw.data.subarray(9, 12)]).toEqual([0, 255, 0]);
    const image = await decodeImage(bmp);
    expect([image.width, image.height]).toEqual([3, 2]);
    expect([...image.data.subarray(0, 3)]).toEqual([255, 0, 0]);
  });
});

describe("augmented views", () => {
  it("have unique stable ids and are deterministic", async () => {
    expect(new Set(VIEWS.map((v) => v.id)).size).toBe(VIEWS.length);
    expect(firstViews(1)).toEqual([ORIGINAL_VIEW]);
    expect(() => firstViews(0)).toThrow(RangeError);
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: "#6a4020" } })
      .png()
      .toBuffer();
    const image = await decodeImage(png);
    for (const view of VIEWS) {
      const a = await renderView(image, view);
      expect(a).toHaveLength(INPUT_FLOATS);
      expect(await renderView(image, view)).toEqual(a);
    }
    const bright = await renderView(image, viewById("bright110"));
    expect(bright[0]).toBe(Math.round(0x6a * 1.1));
  });
});
