import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import sharp from "sharp";
import { seededRandom } from "./rng.js";
import { writeZip, ZIP_SYMLINK } from "./zip-writer.js";

export async function makeTempDir(
  prefix = "rescale-run-test-",
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Greyscale speckle noise, different for every seed, so no two generated images are duplicates. */
export async function speckleImage(seed: number, size = 32, format: "png" | "jpeg" = "png"): Promise<Buffer> {
  const random = seededRandom(seed);
  const pixels = Buffer.alloc(size * size);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(random() * 256);
  const image = sharp(pixels, { raw: { width: size, height: size, channels: 1 } });
  return format === "png" ? image.png().toBuffer() : image.jpeg().toBuffer();
}

async function writeAt(path: string, data: Buffer | string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
  return path;
}

export async function writeValidPng(path: string, seed: number, size = 32): Promise<string> {
  return writeAt(path, await speckleImage(seed, size));
}

/** A valid PNG cut in half: the header parses, the pixel data ends early. */
export async function writeTruncatedPng(path: string, seed = 101): Promise<string> {
  const png = await speckleImage(seed, 64);
  return writeAt(path, png.subarray(0, Math.floor(png.length / 2)));
}

/** A PNG whose IDAT payload is overwritten with garbage (bad zlib stream and bad CRC), length intact. */
export async function writeCorruptPng(path: string, seed = 102): Promise<string> {
  const png = Buffer.from(await speckleImage(seed, 64));
  const idat = png.indexOf("IDAT");
  const random = seededRandom(seed);
  for (let i = idat + 4; i < Math.min(png.length - 12, idat + 4 + 400); i++)
    png[i] = Math.floor(random() * 256);
  return writeAt(path, png);
}

export async function writeZeroByteFile(path: string): Promise<string> {
  return writeAt(path, Buffer.alloc(0));
}

export async function writeTextAsPng(path: string): Promise<string> {
  return writeAt(path, "This is a text file with an image's name.\n");
}

/** A real 16-bit-per-channel RGB PNG (ultrasound exports often are). */
export async function write16BitPng(path: string, size = 32): Promise<string> {
  const png = await sharp({
    create: { width: size, height: size, channels: 3, background: { r: 40, g: 90, b: 200 } },
  })
    .toColourspace("rgb16")
    .png()
    .toBuffer();
  return writeAt(path, png);
}

export async function writeCmykJpeg(path: string, size = 32): Promise<string> {
  const jpeg = await sharp({
    create: { width: size, height: size, channels: 3, background: { r: 200, g: 60, b: 30 } },
  })
    .toColourspace("cmyk")
    .jpeg()
    .toBuffer();
  return writeAt(path, jpeg);
}

export async function writeOnePixelPng(path: string): Promise<string> {
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: "#808080" } })
    .png()
    .toBuffer();
  return writeAt(path, png);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** sharp's default `limitInputPixels` (0x3FFF * 0x3FFF). */
export const SHARP_DEFAULT_PIXEL_LIMIT = 16383 * 16383;

/**
 * A complete, valid 1-bit greyscale PNG of width x height (default 17000 x 17000 = 289 M pixels, over
 * sharp's default limit) that is only tens of kilobytes on disk: a decompression bomb in miniature.
 */
export async function writeOverPixelLimitPng(path: string, width = 17_000, height = 17_000): Promise<string> {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth
  header[9] = 0; // greyscale
  const rowBytes = 1 + Math.ceil(width / 8); // filter byte + packed pixels
  const raw = Buffer.alloc(rowBytes * height); // all zeros: filter 0, black
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(raw, { level: 9 })),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
  return writeAt(path, png);
}

/** Names like BUSI's ("benign (1).png") plus spaces and non-ASCII characters. */
export const AWKWARD_NAMES = ["benign (1).png", "with space (2).png", "café ünï 超音波 (3).png"] as const;

export interface ImageFolderOptions {
  /** Class name -> number of valid images to write. */
  classes: Record<string, number>;
  size?: number;
  seed?: number;
}

/** A valid image-folder dataset (one subfolder per class), with BUSI-like names "<class> (n).png". */
export async function writeImageFolderDataset(root: string, options: ImageFolderOptions): Promise<string[]> {
  const written: string[] = [];
  let seed = options.seed ?? 1;
  for (const [className, count] of Object.entries(options.classes)) {
    for (let i = 1; i <= count; i++) {
      written.push(
        await writeValidPng(join(root, className, `${className} (${i}).png`), seed++, options.size),
      );
    }
  }
  return written;
}

/** Every bad-input case of issue 4, keyed by name, with the path written for it. */
export interface BadInputs {
  /** A three-class dataset of valid images into which the bad files below are mixed (class `benign`). */
  dataset: string;
  /** Paths of the bad files inside `dataset`, which a reader should skip (or refuse) and report. */
  unreadable: {
    truncatedPng: string;
    corruptPng: string;
    zeroByte: string;
    textAsPng: string;
    overPixelLimit: string;
  };
  /** Paths inside `dataset` of unusual but legitimate images that a reader should accept. */
  unusualButValid: {
    png16Bit: string;
    cmykJpeg: string;
    onePixel: string;
    awkwardNames: string[];
  };
  /** A symlink inside `dataset` pointing to a valid image outside it. */
  symlinkOut: string;
  /** The target of `symlinkOut`, outside the dataset. */
  outsideTarget: string;
  /** A dataset with a single class of valid images. */
  oneClassDataset: string;
  /** A zip whose entries include `../` (and an absolute path); extracting it naively writes outside the target. */
  zipSlip: string;
  /** The file names the zip-slip entries would create if followed (relative to the extraction dir's parent). */
  zipSlipEscapes: string[];
  /** A zip with a symlink entry pointing outside (`../outside-dir`), then a file written through that link. */
  zipSymlinkSlip: string;
  /** The directory `zipSymlinkSlip` tries to write into (absolute; created empty). */
  zipSymlinkTargetDir: string;
  /** How many valid images each class of `dataset` holds (not counting the unusual-but-valid ones). */
  validPerClass: Record<string, number>;
}

export async function writeBadInputs(root: string, validPerClass = 6): Promise<BadInputs> {
  const dataset = join(root, "dataset");
  const classes = { benign: validPerClass, malignant: validPerClass, normal: validPerClass };
  await writeImageFolderDataset(dataset, { classes, seed: 1000 });
  const benign = join(dataset, "benign");
  const outsideTarget = await writeValidPng(join(root, "outside", "secret-outside.png"), 9999);
  const symlinkOut = join(benign, "link-out.png");
  await symlink(outsideTarget, symlinkOut);
  const oneClassDataset = join(root, "one-class");
  await writeImageFolderDataset(oneClassDataset, { classes: { benign: validPerClass }, seed: 2000 });

  const zipSlipEscapes = ["zip-slip-escaped.txt"];
  const zipSlip = await writeZip(join(root, "zip-slip.zip"), [
    { name: "data/ok.txt", data: "fine\n" },
    { name: "../zip-slip-escaped.txt", data: "escaped\n" },
    { name: "data/../../zip-slip-escaped.txt", data: "escaped\n" },
  ]);

  const zipSymlinkTargetDir = join(root, "symlink-target");
  await mkdir(zipSymlinkTargetDir, { recursive: true });
  const zipSymlinkSlip = await writeZip(join(root, "zip-symlink-slip.zip"), [
    { name: "escape", data: zipSymlinkTargetDir, mode: ZIP_SYMLINK },
    { name: "escape/planted.txt", data: "planted through a symlink\n" },
  ]);

  let seed = 3000;
  const awkwardNames: string[] = [];
  for (const name of AWKWARD_NAMES) awkwardNames.push(await writeValidPng(join(benign, name), seed++));

  return {
    dataset,
    unreadable: {
      truncatedPng: await writeTruncatedPng(join(benign, "truncated.png")),
      corruptPng: await writeCorruptPng(join(benign, "corrupt.png")),
      zeroByte: await writeZeroByteFile(join(benign, "zero-byte.png")),
      textAsPng: await writeTextAsPng(join(benign, "text-file.png")),
      overPixelLimit: await writeOverPixelLimitPng(join(benign, "over-pixel-limit.png")),
    },
    unusualButValid: {
      png16Bit: await write16BitPng(join(benign, "sixteen-bit.png")),
      cmykJpeg: await writeCmykJpeg(join(benign, "cmyk.jpg")),
      onePixel: await writeOnePixelPng(join(benign, "one-pixel.png")),
      awkwardNames,
    },
    symlinkOut,
    outsideTarget,
    oneClassDataset,
    zipSlip,
    zipSlipEscapes,
    zipSymlinkSlip,
    zipSymlinkTargetDir,
    validPerClass: { ...Object.fromEntries(Object.keys(classes).map((c) => [c, validPerClass])) },
  };
}
