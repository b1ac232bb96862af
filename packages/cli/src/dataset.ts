/**
 * The dataset a job trains on: a folder or zip in the image-folder layout (one subfolder per class, BUSI style),
 * or, without --data, the SYNTHETIC demo dataset generated on the spot. Checked before anything is uploaded,
 * then packed into one zip whose top folder the platform unpacks into the job's working directory.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, readdir, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { listZipEntries, writeArchive } from "./archive.js";
import { errorKind, UsageError } from "./errors.js";
import type { PlanDataset } from "./plan.js";
import { loadRunner } from "./runner-module.js";

/**
 * What counts as a training image, and which class folders the runner accepts, are the runner's rules
 * (runner/src/rules.ts): `submit` applies them before uploading anything.
 */
const isImage = async () => (await loadRunner()).isTrainingImageName;

/** Images per class of the synthetic demo dataset. */
const DEMO_IMAGES_PER_CLASS = 30;
const DEMO_VERSION = 1;

export interface InspectedDataset extends PlanDataset {
  /** For a folder: the class root on disk (may be below what was given). */
  root: string;
}

/** Every non-hidden subfolder is a class (empty ones included: the runner refuses them, so must submit). */
async function classCounts(dir: string): Promise<{ name: string; images: number }[]> {
  const image = await isImage();
  const entries = await readdir(dir, { withFileTypes: true });
  const classes: { name: string; images: number }[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith(".")) continue;
    const files = await readdir(join(dir, e.name));
    classes.push({ name: e.name, images: files.filter(image).length });
  }
  return classes.sort((a, b) => a.name.localeCompare(b.name));
}

async function checkClasses(source: string, classes: { name: string; images: number }[]): Promise<void> {
  try {
    (await loadRunner()).checkClassCounts(source, classes);
  } catch (err) {
    if (errorKind(err) !== "dataset") throw err;
    throw new UsageError(
      (err as Error).message,
      "Nothing was uploaded. Omit --data to use the synthetic demo dataset.",
    );
  }
}

/** A dataset folder: class subfolders here, or in its single subfolder (e.g. the parent of Dataset_BUSI_with_GT). */
async function inspectDatasetDir(dir: string, synthetic = false): Promise<InspectedDataset> {
  const info = await stat(dir).catch(() => {
    throw new UsageError(`--data ${dir}: no such file or folder.`);
  });
  if (!info.isDirectory()) throw new UsageError(`--data ${dir} is neither a folder nor a .zip file.`);
  let root = dir;
  let classes = await classCounts(root);
  // The parent of the dataset folder (e.g. of Dataset_BUSI_with_GT): one subfolder holding no images itself.
  if (classes.length === 1 && classes[0]!.images === 0) {
    const subdirs = (await readdir(dir, { withFileTypes: true })).filter(
      (e) => e.isDirectory() && !e.name.startsWith("."),
    );
    if (subdirs.length === 1) {
      root = join(dir, subdirs[0]!.name);
      classes = await classCounts(root);
    }
  }
  await checkClasses(dir, classes);
  return {
    source: dir,
    kind: "directory",
    synthetic,
    classes,
    jobDir: synthetic ? "synthetic-busi" : "dataset",
    root,
  };
}

/** A dataset zip: its class folders must sit under one top folder, which becomes the job's dataset folder. */
async function inspectDatasetZip(file: string): Promise<InspectedDataset> {
  const names = await zipEntryNames(file);
  const unsafe = names.find(
    (n) => n.startsWith("/") || /^[A-Za-z]:/.test(n) || n.split(/[\\/]/).includes(".."),
  );
  if (unsafe) {
    throw new UsageError(
      `${file} has an entry that would land outside the job's directory: "${unsafe}".`,
      "Rezip the dataset folder itself (zip -r data.zip Dataset_BUSI_with_GT).",
    );
  }
  const image = await isImage();
  const byRoot = new Map<string, Map<string, number>>();
  for (const name of names) {
    const parts = name.split("/").filter(Boolean);
    if (parts.length < 2 || !image(parts[parts.length - 1]!)) continue;
    const cls = parts[parts.length - 2]!;
    const root = parts.slice(0, -2).join("/");
    const classes = byRoot.get(root) ?? new Map<string, number>();
    classes.set(cls, (classes.get(cls) ?? 0) + 1);
    byRoot.set(root, classes);
  }
  const [root, classMap] = [...byRoot.entries()].sort((a, b) => b[1].size - a[1].size)[0] ?? ["", new Map()];
  const classes = [...classMap.entries()]
    .map(([name, images]) => ({ name, images }))
    .sort((a, b) => a.name.localeCompare(b.name));
  await checkClasses(file, classes);
  if (root === "" || root.startsWith("__MACOSX")) {
    throw new UsageError(
      `${file} has its class folders at the top of the zip; the job needs them under one folder.`,
      `Zip the dataset folder itself (zip -r data.zip Dataset_BUSI_with_GT), or pass the folder with --data.`,
    );
  }
  return { source: file, kind: "zip", synthetic: false, classes, jobDir: root, root: file };
}

async function zipEntryNames(file: string): Promise<string[]> {
  const entries = await listZipEntries(file).catch((err: Error) => {
    throw new UsageError(`--data ${file} is not a readable zip file: ${err.message}`);
  });
  const link = entries.find((e) => e.isSymlink);
  if (link)
    throw new UsageError(
      `--data ${file}: entry "${link.name}" is a symlink; the platform accepts only files and folders in archives.`,
      "Rezip the dataset with the images themselves (zip -r without -y).",
    );
  return entries.map((e) => e.name);
}

/** `--data` as typed: an empty or blank value is a mistake (it would silently fall back to the synthetic set). */
export async function inspectDatasetFlag(value: string, cwd: string): Promise<InspectedDataset> {
  if (String(value).trim() === "")
    throw new UsageError(
      "--data is empty: give a dataset folder or zip.",
      "Omit --data altogether to train on the SYNTHETIC demo dataset.",
    );
  return inspectDataset(resolve(cwd, value));
}

export async function inspectDataset(path: string): Promise<InspectedDataset> {
  if (path.toLowerCase().endsWith(".zip") && existsSync(path) && (await stat(path)).isFile()) {
    return inspectDatasetZip(path);
  }
  return inspectDatasetDir(path);
}

/** The synthetic demo dataset in the cache, generated by the runner the first time. */
export async function ensureDemoDataset(cacheRoot: string): Promise<InspectedDataset> {
  const dir = join(cacheRoot, `demo-dataset-v${DEMO_VERSION}`, "synthetic-busi");
  const done = join(dir, "README.txt");
  if (!existsSync(done)) {
    const { generateSyntheticDataset } = await loadRunner();
    await generateSyntheticDataset(dir, { perClass: DEMO_IMAGES_PER_CLASS, seed: 1 });
  }
  return inspectDatasetDir(dir, true);
}

/**
 * Packs a dataset folder into `<cache>/datasets/<name>-<hash>.zip` with entries `<jobDir>/<class>/<image>`
 * (masks left out: the runner never trains on them). A zip the user gave is uploaded as it is.
 */
export async function packDataset(dataset: InspectedDataset, cacheRoot: string): Promise<string> {
  if (dataset.kind === "zip") return dataset.source;
  const image = await isImage();
  const files: { source: string; name: string; size: number; mtime: number }[] = [];
  for (const cls of dataset.classes) {
    for (const name of (await readdir(join(dataset.root, cls.name))).filter(image).sort()) {
      const source = join(dataset.root, cls.name, name);
      const s = await lstat(source);
      // Links are not packed: one may point outside the dataset, and the platform refuses links in archives.
      if (!s.isFile()) continue;
      files.push({ source, name: `${dataset.jobDir}/${cls.name}/${name}`, size: s.size, mtime: s.mtimeMs });
    }
  }
  const hash = createHash("sha256");
  for (const f of files) hash.update(`${f.source}\0${f.name}\0${f.size}\0${f.mtime}\n`);
  const dir = join(cacheRoot, "datasets");
  await mkdir(dir, { recursive: true });
  const target = join(dir, `${basename(dataset.jobDir)}-${hash.digest("hex").slice(0, 12)}.zip`);
  if (existsSync(target)) return target;
  await writeArchive(target, "zip", (archive) => {
    for (const f of files) archive.file(f.source, { name: f.name });
  });
  return target;
}
