/**
 * A small, deterministic, SYNTHETIC ultrasound-like dataset in the BUSI folder layout, for demos and tests when the
 * real BUSI dataset is not at hand. Nothing here is medical data.
 *
 * Each image is a grayscale B-mode-like picture: layered tissue echogenicity, depth attenuation, multiplicative
 * Rayleigh speckle elongated laterally, log-like compression. "normal" has no lesion; "benign" has a smooth,
 * wider-than-tall, homogeneous dark oval with slight posterior enhancement; "malignant" has an irregular,
 * spiculated, taller-than-wide dark lesion with a posterior acoustic shadow. Masks cover the lesion.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { UserInputError, type UserInputErrorKind } from "./errors.js";
import { Rng } from "./rng.js";

/** Invalid options for {@link generateSyntheticDataset}. */
export class SyntheticDatasetError extends UserInputError {
  override readonly kind: UserInputErrorKind = "dataset";
  constructor(message: string) {
    super(message);
    this.name = "SyntheticDatasetError";
  }
}

export interface SyntheticDatasetOptions {
  /** Images per class (default 12). */
  perClass?: number;
  /** Side of the square images, in pixels (default 128). */
  size?: number;
  /** Seed; the same seed gives byte-identical files (default 1). */
  seed?: number;
  /**
   * Class folder names (default benign, malignant, normal). A name containing "malignant" gets the irregular
   * lesion, "normal" none, any other name the smooth oval.
   */
  classes?: string[];
  /** Write "<name>_mask.png" beside each image, as BUSI does (default true). */
  withMasks?: boolean;
}

export interface SyntheticImage {
  className: string;
  /** Absolute or `dir`-relative path, as `dir` was given. */
  image: string;
  mask: string | null;
}

export interface SyntheticDataset {
  dir: string;
  classes: string[];
  images: SyntheticImage[];
  readme: string;
}

type LesionKind = "none" | "oval" | "irregular";

function lesionKindOf(className: string): LesionKind {
  const name = className.toLowerCase();
  if (name.includes("malignant")) return "irregular";
  if (name.includes("normal")) return "none";
  return "oval";
}

function randomStream(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** Seed of one image, from the dataset seed, class and index, so image i does not depend on `perClass`. */
function imageSeed(seed: number, className: string, index: number): number {
  let h = 2166136261 ^ seed;
  for (const ch of `${className}\u0000${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}

interface Lesion {
  cx: number;
  cy: number;
  /** Semi-axes, pixels. */
  rx: number;
  ry: number;
  /** Cosine and sine of the lesion's rotation (precomputed: lesionDepth runs per pixel). */
  cos: number;
  sin: number;
  /** Boundary radius multiplier by polar angle, tabulated over [-pi, pi] (1 everywhere for an ellipse). */
  boundary: Float32Array;
  /** Largest value of `boundary`. */
  maxBoundary: number;
  /** Soft edge width, pixels. */
  edge: number;
  /** Brightness multiplier inside the lesion. */
  darkness: number;
  /** Brightness multiplier of the column behind (below) the lesion: < 1 shadow, > 1 enhancement. */
  posterior: number;
}

const BOUNDARY_STEPS = 1024;

function tabulate(f: (theta: number) => number): { boundary: Float32Array; maxBoundary: number } {
  const boundary = new Float32Array(BOUNDARY_STEPS + 1);
  let maxBoundary = 0;
  for (let k = 0; k <= BOUNDARY_STEPS; k++) {
    boundary[k] = f(-Math.PI + (2 * Math.PI * k) / BOUNDARY_STEPS);
    maxBoundary = Math.max(maxBoundary, boundary[k]!);
  }
  return { boundary, maxBoundary };
}

const rotated = (angle: number) => ({ cos: Math.cos(angle), sin: Math.sin(angle) });

function makeLesion(kind: LesionKind, size: number, rand: () => number): Lesion | null {
  if (kind === "none") return null;
  const r0 = size * (0.11 + 0.08 * rand());
  const cx = size * (0.3 + 0.4 * rand());
  const cy = size * (0.35 + 0.2 * rand());
  /** Centre and semi-axes of a lesion of mean radius r0 and width/height ratio `aspect`. */
  const placed = (aspect: number) => ({ cx, cy, rx: r0 * Math.sqrt(aspect), ry: r0 / Math.sqrt(aspect) });
  if (kind === "oval") {
    return {
      ...placed(1.35 + 0.4 * rand()), // wider than tall, parallel to the skin
      ...rotated((rand() - 0.5) * 0.4),
      ...tabulate(() => 1),
      edge: 1.8,
      darkness: 0.22 + 0.08 * rand(),
      posterior: 1.18,
    };
  }
  const phases = [rand(), rand(), rand()].map((p) => p * 2 * Math.PI);
  const spikes = Array.from({ length: 7 + Math.floor(rand() * 6) }, () => ({
    at: rand() * 2 * Math.PI,
    length: 0.35 + 0.45 * rand(),
    width: 0.05 + 0.04 * rand(),
  }));
  const boundary = (theta: number): number => {
    let b =
      1 +
      0.16 * Math.sin(3 * theta + phases[0]!) +
      0.1 * Math.sin(5 * theta + phases[1]!) +
      0.06 * Math.sin(9 * theta + phases[2]!);
    for (const s of spikes) {
      const d = Math.atan2(Math.sin(theta - s.at), Math.cos(theta - s.at)) / s.width;
      b += s.length * Math.exp(-d * d);
    }
    return b;
  };
  return {
    ...placed(0.7 + 0.15 * rand()), // taller than wide
    ...rotated((rand() - 0.5) * 0.8),
    ...tabulate(boundary),
    edge: 0.8,
    darkness: 0.12 + 0.08 * rand(),
    posterior: 0.3 + 0.1 * rand(),
  };
}

/** Signed inside-ness of (x, y): > 0 inside the lesion, in pixels (approximately). */
function lesionDepth(l: Lesion, x: number, y: number): number {
  const dx = x - l.cx;
  const dy = y - l.cy;
  const u = (dx * l.cos + dy * l.sin) / l.rx;
  const v = (-dx * l.sin + dy * l.cos) / l.ry;
  const rho = Math.sqrt(u * u + v * v);
  const scale = Math.min(l.rx, l.ry);
  // Far outside: the boundary cannot reach; skip the angle lookup.
  if (rho > l.maxBoundary + 1) return (l.maxBoundary - rho) * scale;
  const b = l.boundary[Math.round(((Math.atan2(v, u) + Math.PI) / (2 * Math.PI)) * BOUNDARY_STEPS)]!;
  return (b - rho) * scale;
}

/** Overall receive gain before compression. */
const GAIN = 0.75;

/** Log compression of the echo amplitude (0..4 in 1/256 steps) to 8-bit gray, as a lookup table. */
const COMPRESSION = Uint8Array.from({ length: 4 * 256 + 1 }, (_, k) =>
  Math.min(255, Math.round((255 * Math.log1p((6 * k) / 256)) / Math.log1p(6))),
);

/** Renders one image and its mask as 8-bit grayscale rasters. */
function renderImage(kind: LesionKind, size: number, rand: () => number): { image: Buffer; mask: Buffer } {
  const n = size * size;
  const lesion = makeLesion(kind, size, rand);

  // Speckle: fully developed speckle has a Rayleigh-distributed amplitude; averaging three lateral neighbours
  // mimics the lateral elongation of a real point-spread function. Normalised to mean 1.
  const rayleigh = new Float32Array(n);
  for (let i = 0; i < n; i++) rayleigh[i] = Math.sqrt(-2 * Math.log(1 - rand()));
  const speckle = new Float32Array(n);
  const norm = 1 / (3 * Math.sqrt(Math.PI / 2));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const left = rayleigh[x > 0 ? i - 1 : i]!;
      const right = rayleigh[x < size - 1 ? i + 1 : i]!;
      speckle[i] = (left + rayleigh[i]! + right) * norm;
    }
  }

  // Tissue layers: skin line, darker subcutaneous fat, brighter fibroglandular tissue, darker chest wall; their
  // boundaries wave gently.
  const wave = [rand(), rand(), rand(), rand()].map((p) => p * 2 * Math.PI);
  const fatDepth = size * (0.1 + 0.06 * rand());
  const chestDepth = size * (0.8 + 0.08 * rand());
  const attenuation = 1.1 + 0.4 * rand();

  const fatEdge = new Float32Array(size);
  const chestEdge = new Float32Array(size);
  const glandPhase = new Float32Array(size);
  const chestTexture = new Float32Array(size);
  for (let x = 0; x < size; x++) {
    const fx = x / size;
    fatEdge[x] = fatDepth + size * 0.03 * Math.sin(2 * Math.PI * 1.3 * fx + wave[0]!);
    chestEdge[x] = chestDepth + size * 0.04 * Math.sin(2 * Math.PI * 0.9 * fx + wave[1]!);
    glandPhase[x] = 2 * Math.PI * 3 * fx + wave[2]!;
    chestTexture[x] = 0.25 + 0.1 * Math.sin(2 * Math.PI * 6 * fx + wave[3]!);
  }
  const skinDepth = size * 0.03;

  const image = Buffer.alloc(n);
  const mask = Buffer.alloc(n);
  for (let y = 0; y < size; y++) {
    const gain = GAIN * Math.exp(-attenuation * (y / size));
    const glandDepthPhase = (2 * Math.PI * 2 * y) / size;
    for (let x = 0; x < size; x++) {
      let tissue: number;
      if (y < skinDepth) tissue = 0.9;
      else if (y < fatEdge[x]!) tissue = 0.35;
      else if (y < chestEdge[x]!) tissue = 0.62 + 0.12 * Math.sin(glandPhase[x]! + glandDepthPhase);
      else tissue = chestTexture[x]!;

      const i = y * size + x;
      if (lesion) {
        const depth = lesionDepth(lesion, x, y);
        const inside = depth < -8 * lesion.edge ? 0 : 1 / (1 + Math.exp(-depth / lesion.edge));
        tissue *= 1 - inside * (1 - lesion.darkness);
        if (depth > 0) mask[i] = 255;
        // Behind the lesion (deeper, within its lateral extent): shadow or enhancement, fading with depth.
        const lateral = Math.abs(x - lesion.cx) / lesion.rx;
        if (y > lesion.cy && inside < 0.5 && lateral < 0.9) {
          const fade = Math.exp(-(y - lesion.cy) / size);
          const side = 1 - lateral / 0.9;
          tissue *= 1 + (lesion.posterior - 1) * Math.min(1, 2.5 * side) * fade;
        }
      }
      image[i] =
        COMPRESSION[Math.min(COMPRESSION.length - 1, Math.round(tissue * gain * speckle[i]! * 256))]!;
    }
  }
  return { image, mask };
}

const MAX_PENDING_WRITES = 16;

async function writePng(path: string, raster: Buffer, size: number): Promise<void> {
  const png = await sharp(raster, { raw: { width: size, height: size, channels: 1 } })
    .toColourspace("b-w")
    .png({ compressionLevel: 6, adaptiveFiltering: false })
    .toBuffer();
  await writeFile(path, png);
}

const README = (
  classes: string[],
  perClass: number,
  size: number,
  seed: number,
) => `SYNTHETIC DATA - NOT MEDICAL IMAGES

These ${classes.length * perClass} images were generated by rescale-run (generateSyntheticDataset, seed ${seed}).
They imitate the folder layout of the BUSI breast-ultrasound dataset (Al-Dhabyani et al., 2020) so that the
pipeline can be demonstrated without it, but they are SYNTHETIC: computer-drawn speckle texture with
drawn shapes. They contain no patient data and say nothing about real breast ultrasound.

Classes (${perClass} images each, ${size}x${size} grayscale PNG): ${classes.join(", ")}.
  normal:    tissue layers and speckle, no lesion (mask all black)
  benign:    a smooth, wider-than-tall dark oval lesion
  malignant: an irregular, spiculated, taller-than-wide dark lesion with an acoustic shadow
Masks ("<name>_mask.png", white = lesion) mark the drawn lesion.

For real results, use the real dataset (Dataset_BUSI_with_GT) instead.
`;

function validateOptions(perClass: number, size: number, seed: number, classes: string[]): void {
  if (!Number.isInteger(perClass) || perClass < 1) {
    throw new SyntheticDatasetError(`perClass must be a positive integer, got ${perClass}`);
  }
  if (!Number.isInteger(size) || size < 32 || size > 2048) {
    throw new SyntheticDatasetError(`size must be an integer between 32 and 2048 pixels, got ${size}`);
  }
  if (!Number.isInteger(seed)) throw new SyntheticDatasetError(`seed must be an integer, got ${seed}`);
  if (classes.length === 0) throw new SyntheticDatasetError("classes must name at least one class");
  if (new Set(classes).size !== classes.length) throw new SyntheticDatasetError("class names must be unique");
  for (const c of classes) {
    if (!/^[\w][\w .-]*$/.test(c)) {
      throw new SyntheticDatasetError(`class name ${JSON.stringify(c)} is not a plain folder name`);
    }
  }
}

/**
 * Writes a deterministic SYNTHETIC dataset into `dir` in the BUSI layout: `dir/<class>/<class> (i).png` and, with
 * masks, `dir/<class>/<class> (i)_mask.png` (i from 1), plus `dir/README.txt` stating the data are synthetic,
 * written after every image (so its presence marks a complete dataset).
 * The same options give byte-identical files. Existing files of the same names are overwritten.
 *
 * @throws {SyntheticDatasetError} for invalid options.
 */
export async function generateSyntheticDataset(
  dir: string,
  options: SyntheticDatasetOptions = {},
): Promise<SyntheticDataset> {
  const {
    perClass = 12,
    size = 128,
    seed = 1,
    classes = ["benign", "malignant", "normal"],
    withMasks = true,
  } = options;
  validateOptions(perClass, size, seed, classes);

  const images: SyntheticImage[] = [];
  const writes: Promise<void>[] = [];
  for (const className of classes) {
    const classDir = join(dir, className);
    await mkdir(classDir, { recursive: true });
    const kind = lesionKindOf(className);
    for (let index = 1; index <= perClass; index++) {
      const { image, mask } = renderImage(kind, size, randomStream(imageSeed(seed, className, index)));
      const base = join(classDir, `${className} (${index})`);
      const entry: SyntheticImage = {
        className,
        image: `${base}.png`,
        mask: withMasks ? `${base}_mask.png` : null,
      };
      writes.push(writePng(entry.image, image, size));
      if (entry.mask) writes.push(writePng(entry.mask, mask, size));
      images.push(entry);
      // Bound the rasters and PNG buffers held at once (large sizes, many images).
      if (writes.length >= MAX_PENDING_WRITES) await Promise.all(writes.splice(0));
    }
  }
  await Promise.all(writes);
  // Written last: its presence means the dataset is complete (the CLI's demo cache relies on it).
  const readme = join(dir, "README.txt");
  await writeFile(readme, README(classes, perClass, size, seed));
  return { dir, classes: [...classes], images, readme };
}
