import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { ORIGINAL_VIEW, viewById } from "./augment.js";
import { loadHead } from "./checkpoint.js";
import { predictOverViews } from "./cv.js";
import { chooseDevice, type DeviceChoice, type DevicePreference, describeDevice } from "./device.js";
import { UserInputError } from "./errors.js";
import type { FeatureEngine } from "./features/engine.js";
import { extractFeatures } from "./features/extract.js";
import { type EnginePreference, engineOrSelect } from "./features/select.js";
import { argmax } from "./metrics.js";
import { isMaskFile, isTrainingImageName } from "./rules.js";

export interface PredictOptions {
  /** Image files and/or folders (folders are searched recursively; masks are skipped). */
  inputs: string[];
  /** A training output folder (holding model/) or the model folder itself. */
  model: string;
  engine?: EnginePreference;
  /** `auto` (default): a hardware GPU when one exists, else the CPU; `gpu` fails without one. */
  device?: DevicePreference;
  threads?: number;
  cacheDir?: string;
  limitInputPixels?: number;
  featureEngine?: FeatureEngine;
}

export interface Prediction {
  file: string;
  className: string;
  probabilities: Record<string, number>;
}

export interface PredictResult {
  classNames: string[];
  predictions: Prediction[];
  /** Inputs that could not be read as images (a partial failure: the CLI exits 2). */
  failed: { file: string; reason: string }[];
  /** Inputs named explicitly and not classified: masks and non-image files, with the reason. */
  skipped: { file: string; reason: string }[];
  notes: string[];
  device: DeviceChoice;
}

interface ImageList {
  files: string[];
  /** Inputs named explicitly that are not images to classify (masks, other extensions), with the reason. */
  skipped: { file: string; reason: string }[];
  /** Segmentation masks found in folders (left out, as in training). */
  masksInFolders: number;
}

async function listImages(inputs: string[]): Promise<ImageList> {
  const list: ImageList = { files: [], skipped: [], masksInFolders: 0 };
  const walk = async (dir: string) => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const full = path.join(dir, entry.name);
      if (entry.name.startsWith(".")) continue;
      if (entry.isDirectory()) await walk(full);
      else if (isTrainingImageName(entry.name)) list.files.push(full);
      else if (isMaskFile(entry.name)) list.masksInFolders++;
    }
  };
  for (const input of inputs) {
    const info = await stat(input).catch(() => undefined);
    if (!info) throw new UserInputError(`${input}: no such file or folder`);
    if (info.isDirectory()) await walk(input);
    else if (isMaskFile(path.basename(input))) {
      list.skipped.push({
        file: input,
        reason: "a segmentation mask (its name contains _mask), not an image to classify",
      });
    } else if (!isTrainingImageName(path.basename(input))) {
      list.skipped.push({ file: input, reason: "not an image file (unsupported extension)" });
    } else list.files.push(input);
  }
  if (list.files.length === 0) {
    const why = list.skipped.map((s) => `${s.file}: ${s.reason}`).join("; ");
    throw new UserInputError(`no images to classify in ${inputs.join(", ")}${why ? ` (${why})` : ""}`);
  }
  return list;
}

/** The model folder of a training --out folder (its model/) or of the model folder itself. */
export async function resolveModelDir(model: string): Promise<string> {
  for (const dir of [path.join(model, "model"), model]) {
    if (await stat(path.join(dir, "head.json")).catch(() => undefined)) return dir;
  }
  throw new UserInputError(
    `${model} holds no trained model (model/head.json). Pass the --out folder of a finished training run.`,
  );
}

/** Classifies images with a trained head: class name and one probability per class for each image. */
export async function predict(options: PredictOptions): Promise<PredictResult> {
  // First, as in train: an unusable --device gpu is reported before anything else is read.
  const device = await chooseDevice(options.device ?? "auto");
  const modelDir = await resolveModelDir(path.resolve(options.model));
  const { info, model } = await loadHead(modelDir);
  const { files, skipped, masksInFolders } = await listImages(options.inputs);
  const notes: string[] = [];
  if (masksInFolders > 0) {
    notes.push(
      `left out ${masksInFolders} segmentation mask file(s) (names containing _mask) found in folders`,
    );
  }
  let engine = options.featureEngine;
  let owned: FeatureEngine | undefined;
  notes.push(`device: ${describeDevice(device)}`);
  if (!engine) {
    // A fine-tuned backbone is saved with the Keras layer and weight names: any engine, on the GPU or the CPU,
    // builds its features from it.
    const selection = await engineOrSelect(undefined, {
      ...options,
      device,
      ...(info.backbone ? { modelDir: path.join(modelDir, info.backbone) } : {}),
    });
    engine = owned = selection.engine;
    notes.push(...selection.notes);
  }
  try {
    if (engine.cacheKey !== info.engineCacheKey) {
      notes.push(
        `the model was trained on features ${info.engineCacheKey}, these come from ${engine.cacheKey}`,
      );
    }
    // Predictions averaged over the views the model was evaluated with (test-time augmentation).
    const views = (info.ttaViews ?? [ORIGINAL_VIEW.id]).map(viewById);
    const failed: PredictResult["failed"] = [];
    const images = [];
    for (const file of files) {
      try {
        const bytes = await readFile(file);
        images.push({
          file,
          absPath: path.resolve(file),
          className: "",
          label: 0,
          hash: createHash("sha256").update(bytes).digest("hex"),
        });
      } catch (error) {
        failed.push({ file, reason: (error as Error).message });
      }
    }
    const readable = [];
    const features = new Map();
    // One image at a time through extraction would hide which file failed; extract in one pass and, on a decode
    // error, retry per image to report the unreadable ones.
    try {
      const result = await extractFeatures(
        images.map((image) => ({ image, views })),
        { engine, limitInputPixels: options.limitInputPixels },
      );
      for (const [k, v] of result.features) features.set(k, v);
      readable.push(...images);
    } catch {
      for (const image of images) {
        try {
          const result = await extractFeatures([{ image, views }], {
            engine,
            limitInputPixels: options.limitInputPixels,
          });
          for (const [k, v] of result.features) features.set(k, v);
          readable.push(image);
        } catch (error) {
          failed.push({ file: image.file, reason: `unreadable image: ${(error as Error).message}` });
        }
      }
    }
    const probs = predictOverViews(
      model,
      readable,
      views.map((v) => v.id),
      features,
    );
    const k = info.classNames.length;
    const predictions = readable.map((img, i) => {
      const p = Array.from(probs.subarray(i * k, (i + 1) * k));
      return {
        file: img.file,
        className: info.classNames[argmax(p)]!,
        probabilities: Object.fromEntries(info.classNames.map((c, j) => [c, p[j]!])),
      };
    });
    return { classNames: info.classNames, predictions, failed, skipped, notes, device };
  } finally {
    await owned?.dispose();
  }
}
