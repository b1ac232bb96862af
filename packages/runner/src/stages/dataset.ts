import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  assertSplitMatches,
  type Dataset,
  type DatasetImage,
  type Split,
  scanDataset,
  splitDataset,
} from "../dataset.js";
import { UserInputError } from "../errors.js";
import type { RunContext } from "./context.js";
import { writeJson } from "./json.js";

/** The dataset stage's result: the scanned images and their train / validation / test split. */
export interface RunData {
  dataset: Dataset;
  split: Split;
  classNames: string[];
  train: DatasetImage[];
  val: DatasetImage[];
  test: DatasetImage[];
  /** What cross-validation chooses on: every labelled image but the test split (train + validation). */
  cvPool: DatasetImage[];
  /** What the saved model is fitted on: `cvPool`, or every image with `--final-fit all`. */
  fitImages: DatasetImage[];
}

/** --resume keeps the split it saved (and refuses other data); otherwise a new seeded split in split.json. */
async function loadOrMakeSplit(dataset: Dataset, out: string, seed: number, resume: boolean): Promise<Split> {
  const file = path.join(out, "split.json");
  if (resume) {
    try {
      const saved = JSON.parse(await readFile(file, "utf8")) as Split;
      assertSplitMatches(dataset, saved);
      return saved;
    } catch (error) {
      if (error instanceof UserInputError) throw error;
    }
  }
  const split = splitDataset(dataset, seed);
  await writeJson(file, split);
  return split;
}

/** Stage 1: scans the image folder, writes labels.json and split.json. */
export async function datasetStage(ctx: RunContext): Promise<RunData> {
  const { options, out, progress } = ctx;
  const dataset = await scanDataset(options.data, { limitInputPixels: options.limitInputPixels });
  const { classNames } = dataset;
  await writeJson(path.join(out, "labels.json"), {
    classNames,
    indices: Object.fromEntries(classNames.map((c, i) => [c, i])),
  });
  const split = await loadOrMakeSplit(dataset, out, ctx.seed, options.resume === true);
  const byFile = new Map(dataset.images.map((img) => [img.file, img]));
  const part = (files: string[]) => files.map((f) => byFile.get(f)!);
  const [train, val, test] = [part(split.train), part(split.val), part(split.test)];
  progress.log(
    `dataset: ${dataset.images.length} images in ${classNames.length} classes (${classNames.join(", ")}); ` +
      `split ${train.length}/${val.length}/${test.length}; ${dataset.skipped.length} skipped`,
  );
  for (const note of dataset.notes) progress.log(`dataset: ${note}`);
  // Cross-validation chooses on, and the saved model is fitted on, every labelled image but the test split
  // (train + validation: no validation split is needed without early stopping); --final-fit all adds the test split.
  const cvPool = [...train, ...val];
  const fitImages = ctx.plan.finalFit === "all" ? [...cvPool, ...test] : cvPool;
  ctx.lap("dataset");
  return { dataset, split, classNames, train, val, test, cvPool, fitImages };
}
