/**
 * The rules a dataset and the training options must meet, in one place: the runner applies them when it trains,
 * and `rescale-run submit` applies the same ones before it uploads anything (it loads this module through the
 * runner package), so a job is never started only for the runner to refuse its input.
 */
import path from "node:path";
import { firstViews } from "./augment.js";
import { DatasetError, UserInputError } from "./errors.js";
import { DEFAULT_HEAD_EPOCHS } from "./head.js";

export const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"] as const;

/** A class needs this many usable images: at least one each for validation and test, and enough to train on. */
export const MIN_IMAGES_PER_CLASS = 6;

/** Segmentation masks (BUSI layout: "benign (12)_mask.png", "benign (12)_mask_1.png"): names containing "_mask". */
export function isMaskFile(name: string): boolean {
  return /_mask/i.test(name);
}

/** A file name the runner trains on: an image extension it decodes, and not a mask. */
export function isTrainingImageName(name: string): boolean {
  const ext = path.extname(name).toLowerCase() as (typeof IMAGE_EXTENSIONS)[number];
  return IMAGE_EXTENSIONS.includes(ext) && !isMaskFile(name) && !name.startsWith(".");
}

export interface ClassCount {
  /** The class folder's name. */
  name: string;
  /** Images the class holds (usable ones for the runner; by file name for `submit`). */
  images: number;
}

/**
 * Every subfolder of the dataset is a class (hidden ones excepted): at least two of them, none without images,
 * each with at least `minPerClass`. `where` names the folder or zip in the message.
 */
export function checkClassCounts(
  where: string,
  classes: readonly ClassCount[],
  minPerClass: number = MIN_IMAGES_PER_CLASS,
): void {
  const layout =
    "Expected one subfolder of images per class, e.g. Dataset_BUSI_with_GT/{benign,malignant,normal}/*.png.";
  if (classes.length === 0) throw new DatasetError(`${where} has no class subfolders. ${layout}`);
  if (classes.length === 1) {
    throw new DatasetError(
      `${where} has a single class (${classes[0]!.name}); classification needs at least two classes. ${layout}`,
    );
  }
  const empty = classes.filter((c) => c.images === 0).map((c) => c.name);
  if (empty.length > 0) {
    throw new DatasetError(
      `${where}: class folder(s) with no usable images: ${empty.join(", ")}. Every subfolder is a class; ` +
        "add images to it or move it out of the dataset folder.",
    );
  }
  const tooFew = classes.filter((c) => c.images < minPerClass);
  if (tooFew.length > 0) {
    throw new DatasetError(
      `Each class needs at least ${minPerClass} usable images for a train/validation/test split; too few in ` +
        `${tooFew.map((c) => `${c.name}: ${c.images}`).join(", ")} (in ${where}).`,
    );
  }
}

/** The options of `rescale-runner train` that these rules check (the names of TrainOptions). */
export interface TrainOptionValues {
  epochs?: number;
  batchSize?: number;
  threads?: number;
  patience?: number;
  startFromEpoch?: number;
  seed?: number;
  views?: number;
  tta?: number;
  cvFolds?: number;
  learningRate?: number;
  timeLimitSeconds?: number;
  cvRepeats?: number;
  finalFit?: string;
  solver?: string;
  head?: string;
}

/** What the saved model is fitted on once cross-validation has chosen: train+val (test held out), or all. */
export type FinalFit = "train+val" | "all";
export const FINAL_FITS: readonly FinalFit[] = ["train+val", "all"];

/** Throws UserInputError, naming the flag, for the first option value the runner cannot train with. */
export function checkTrainOptions(o: TrainOptionValues, defaultEpochs = DEFAULT_HEAD_EPOCHS): void {
  const positiveInt = (name: string, v: number | undefined) => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new UserInputError(`--${name} must be a positive integer, got ${v}`);
    }
  };
  positiveInt("epochs", o.epochs);
  positiveInt("batch-size", o.batchSize);
  positiveInt("threads", o.threads);
  positiveInt("patience", o.patience);
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) {
    throw new UserInputError(`--seed must be an integer, got ${o.seed}`);
  }
  const epochs = o.epochs ?? defaultEpochs;
  if (
    o.startFromEpoch !== undefined &&
    (!Number.isInteger(o.startFromEpoch) || o.startFromEpoch < 0 || o.startFromEpoch >= epochs)
  ) {
    throw new UserInputError(
      `--start-from-epoch must be an integer from 0 to ${epochs - 1} (below --epochs ${epochs}), got ${o.startFromEpoch}`,
    );
  }
  for (const [name, count] of [
    ["views", o.views],
    ["tta", o.tta],
  ] as const) {
    if (count === undefined) continue;
    try {
      firstViews(count);
    } catch (error) {
      throw new UserInputError(`--${name}: ${(error as Error).message}`);
    }
  }
  if (o.cvFolds !== undefined && (!Number.isInteger(o.cvFolds) || o.cvFolds === 1 || o.cvFolds < 0)) {
    throw new UserInputError(`--cv-folds must be 0 (off) or at least 2, got ${o.cvFolds}`);
  }
  if (o.cvRepeats !== undefined && (!Number.isInteger(o.cvRepeats) || o.cvRepeats < 1)) {
    throw new UserInputError(`--cv-repeats must be a positive integer, got ${o.cvRepeats}`);
  }
  if (o.finalFit !== undefined && !(FINAL_FITS as readonly string[]).includes(o.finalFit)) {
    throw new UserInputError(`--final-fit must be one of ${FINAL_FITS.join(", ")}, got ${o.finalFit}`);
  }
  if (o.solver === "exact" && o.head === "flatten") {
    throw new UserInputError(
      "--solver exact fits the dense head only (the flatten head is not convex): use --solver adam",
    );
  }
  if (o.learningRate !== undefined && !(o.learningRate > 0 && Number.isFinite(o.learningRate))) {
    throw new UserInputError(`--learning-rate must be a positive number, got ${o.learningRate}`);
  }
  if (o.timeLimitSeconds !== undefined && !(o.timeLimitSeconds > 0)) {
    throw new UserInputError(`--time-limit must be a positive number of seconds, got ${o.timeLimitSeconds}`);
  }
}

/**
 * Runner flags `submit` sets itself in the job's bootstrap script: passed again with --runner-arg they would
 * fight the job's own layout (the dataset and output folders, the job's core count).
 */
export const JOB_OWNED_RUNNER_FLAGS = ["--data", "--out", "--threads"] as const;
