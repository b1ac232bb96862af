import { createHash } from "node:crypto";
import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { decodeBmp, isBmp } from "./bmp.js";
import { DatasetError } from "./errors.js";
import { DEFAULT_PIXEL_LIMIT } from "./preprocess.js";
import { Rng } from "./rng.js";
import { checkClassCounts, IMAGE_EXTENSIONS, isMaskFile, MIN_IMAGES_PER_CLASS } from "./rules.js";

export { IMAGE_EXTENSIONS, isMaskFile, MIN_IMAGES_PER_CLASS } from "./rules.js";

export interface DatasetImage {
  /** Path relative to the dataset root with forward slashes, e.g. "benign/benign (12).png". */
  file: string;
  absPath: string;
  className: string;
  label: number;
  /** sha256 of the file's bytes. */
  hash: string;
}

export interface SkippedFile {
  file: string;
  reason: string;
}

export interface Dataset {
  root: string;
  /** Sorted class names; a class's index is its position here (saved as labels.json). */
  classNames: string[];
  images: DatasetImage[];
  skipped: SkippedFile[];
  masksExcluded: number;
  /** sha256 over the sorted (class, content hash) pairs: same images and labels, same fingerprint. */
  fingerprint: string;
  /** Groups of files with identical bytes (only groups of two or more). */
  duplicateGroups: string[][];
  /** What the scan decided that the run's log should say (e.g. images left out because two classes hold them). */
  notes: string[];
}

export interface ScanOptions {
  limitInputPixels?: number;
  minImagesPerClass?: number;
}

/**
 * Scans an image-folder dataset (one subfolder per class), hashes every image and checks that it decodes.
 * Masks are excluded, unreadable files skipped and listed; problems the user must fix throw DatasetError.
 */
export async function scanDataset(root: string, options: ScanOptions = {}): Promise<Dataset> {
  const absRoot = path.resolve(root);
  const minPerClass = options.minImagesPerClass ?? MIN_IMAGES_PER_CLASS;
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(absRoot, { withFileTypes: true });
  } catch (cause) {
    throw new DatasetError(`Cannot read the dataset folder ${absRoot}: ${(cause as Error).message}`, {
      cause,
    });
  }
  const classNames = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort();
  if (classNames.length < 2) {
    checkClassCounts(
      absRoot,
      classNames.map((name) => ({ name, images: 0 })),
    );
  }

  const images: DatasetImage[] = [];
  const skipped: SkippedFile[] = [];
  let masksExcluded = 0;
  for (const [label, className] of classNames.entries()) {
    const names = (await readdir(path.join(absRoot, className))).sort();
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const file = `${className}/${name}`;
      const absPath = path.join(absRoot, className, name);
      // lstat: a symbolic link is never followed (it could pull in files from outside the dataset, which would
      // then be trained on, zipped and uploaded); dangling links are reported the same way.
      const info = await lstat(absPath);
      if (info.isSymbolicLink()) {
        skipped.push({ file, reason: "symbolic link (not followed)" });
        continue;
      }
      if (!info.isFile()) continue;
      if (isMaskFile(name)) {
        masksExcluded++;
        continue;
      }
      if (!IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase() as (typeof IMAGE_EXTENSIONS)[number])) {
        skipped.push({ file, reason: "not an image file (unsupported extension)" });
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = await readFile(absPath);
        await checkDecodes(bytes, options.limitInputPixels ?? DEFAULT_PIXEL_LIMIT);
      } catch (error) {
        skipped.push({ file, reason: `unreadable image: ${(error as Error).message}` });
        continue;
      }
      images.push({
        file,
        absPath,
        className,
        label,
        hash: createHash("sha256").update(bytes).digest("hex"),
      });
    }
  }

  const conflicts = dropCrossClassCopies(images, skipped);
  checkClassCounts(
    absRoot,
    classNames.map((name, label) => ({ name, images: images.filter((img) => img.label === label).length })),
    minPerClass,
  );

  const byHash = new Map<string, string[]>();
  for (const img of images) byHash.set(img.hash, [...(byHash.get(img.hash) ?? []), img.file]);
  const fingerprint = createHash("sha256")
    .update(
      images
        .map((img) => `${img.className}\t${img.hash}`)
        .sort()
        .join("\n"),
    )
    .digest("hex");
  return {
    root: absRoot,
    classNames,
    images,
    skipped,
    masksExcluded,
    fingerprint,
    duplicateGroups: [...byHash.values()].filter((files) => files.length > 1),
    notes: conflicts.map(
      (files) =>
        `left out ${files.join(" and ")}: the same image (identical bytes) in ${files.length > 2 ? "several" : "two"} classes, so its label is ambiguous`,
    ),
  };
}

/**
 * An image whose bytes appear in two or more classes has no single true label (BUSI has one: benign (433) is
 * malignant (145)). Every copy is left out (moved to `skipped`, with the reason) rather than silently trained or
 * evaluated under one of the labels. Returns the groups of files left out.
 */
function dropCrossClassCopies(images: DatasetImage[], skipped: SkippedFile[]): string[][] {
  const byHash = new Map<string, DatasetImage[]>();
  for (const img of images) byHash.set(img.hash, [...(byHash.get(img.hash) ?? []), img]);
  const conflicts = [...byHash.values()].filter((group) => new Set(group.map((img) => img.label)).size > 1);
  if (conflicts.length === 0) return [];
  const dropped = new Set(conflicts.flat());
  for (const group of conflicts) {
    for (const img of group) {
      const others = group.filter((o) => o !== img).map((o) => o.file);
      skipped.push({
        file: img.file,
        reason: `same image as ${others.join(", ")} in another class: left out, its label is ambiguous`,
      });
    }
  }
  const kept = images.filter((img) => !dropped.has(img));
  images.splice(0, images.length, ...kept);
  return conflicts.map((group) => group.map((img) => img.file));
}

/** Full decode at reduced size: catches truncated and corrupt files that a header check would miss. */
async function checkDecodes(bytes: Buffer, limitInputPixels: number): Promise<void> {
  if (isBmp(bytes)) {
    decodeBmp(bytes, limitInputPixels);
    return;
  }
  await sharp(bytes, { limitInputPixels, failOn: "error" }).resize(8, 8, { fit: "fill" }).raw().toBuffer();
}

export interface SplitFractions {
  train: number;
  val: number;
  test: number;
}

export const DEFAULT_SPLIT: SplitFractions = { train: 0.7, val: 0.15, test: 0.15 };

export interface Split {
  seed: number;
  fractions: SplitFractions;
  /** Relative file paths per part. */
  train: string[];
  val: string[];
  test: string[];
}

/**
 * Seeded, stratified train/validation/test split. Files with identical bytes form one group that goes to a
 * single part, so no duplicate leaks from training into evaluation. Every class gets at least one validation
 * and one test group.
 */
export function splitDataset(
  dataset: Dataset,
  seed: number,
  fractions: SplitFractions = DEFAULT_SPLIT,
): Split {
  const rng = new Rng(seed);
  const split: Split = { seed, fractions, train: [], val: [], test: [] };
  for (const [label, groups] of groupsByClass(dataset).entries()) {
    checkDistinctImages(dataset.classNames[label]!, groups);
    rng.shuffle(groups);
    const total = groups.reduce((sum, g) => sum + g.length, 0);
    const wantTest = Math.max(1, Math.round(total * fractions.test));
    const wantVal = Math.max(1, Math.round(total * fractions.val));
    let test = 0;
    let val = 0;
    for (const [i, group] of groups.entries()) {
      const files = group.map((img) => img.file);
      // After its first group, a part takes more only while groups remain for the parts after it (matters only
      // for classes of few distinct images: each part still gets one).
      const left = groups.length - i;
      if (test < wantTest && (test === 0 || left > 2)) {
        split.test.push(...files);
        test += files.length;
      } else if (val < wantVal && (val === 0 || left > 1)) {
        split.val.push(...files);
        val += files.length;
      } else split.train.push(...files);
    }
  }
  for (const part of [split.train, split.val, split.test]) part.sort();
  return split;
}

/**
 * Identical files form one group that goes to one part of the split, so a class needs three distinct images at
 * the very least (one each for training, validation and test); a class of copies of one image cannot be split.
 */
function checkDistinctImages(className: string, groups: DatasetImage[][]): void {
  const minDistinct = 3;
  if (groups.length >= minDistinct) return;
  const files = groups.reduce((sum, g) => sum + g.length, 0);
  throw new DatasetError(
    `Class ${className} has ${files} images but only ${groups.length} distinct one(s) (the others are identical copies). ` +
      `Identical files stay together in one part of the train/validation/test split, so each class needs at least ` +
      `${minDistinct} distinct images (and ${MIN_IMAGES_PER_CLASS} or more to learn anything).`,
  );
}

/**
 * Images grouped by content hash, then the groups bucketed by the class of their first file (sorted by class
 * index; groups sorted by first file so the result is independent of directory order).
 */
export function groupsByClass(dataset: Pick<Dataset, "classNames" | "images">): DatasetImage[][][] {
  const byHash = new Map<string, DatasetImage[]>();
  for (const img of dataset.images) byHash.set(img.hash, [...(byHash.get(img.hash) ?? []), img]);
  const buckets: DatasetImage[][][] = dataset.classNames.map(() => []);
  const groups = [...byHash.values()].sort((a, b) => (a[0]!.file < b[0]!.file ? -1 : 1));
  for (const group of groups) buckets[group[0]!.label]!.push(group);
  return buckets;
}

/** Checks that a saved split (split.json, e.g. on --resume) still matches the dataset's files. */
export function assertSplitMatches(dataset: Dataset, split: Split): void {
  const files = new Set(dataset.images.map((img) => img.file));
  const inSplit = [...split.train, ...split.val, ...split.test];
  const missing = inSplit.filter((f) => !files.has(f));
  if (missing.length > 0 || inSplit.length !== files.size) {
    throw new DatasetError(
      `The saved split.json does not match the dataset (${missing.length} files missing, ${inSplit.length} in split vs ` +
        `${files.size} found). Use a new --out folder or remove split.json.`,
    );
  }
}
