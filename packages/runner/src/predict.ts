import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { ORIGINAL_VIEW, viewById } from "./augment.js";
import { loadHead } from "./checkpoint.js";
import { predictOverViews } from "./cv.js";
import { IMAGE_EXTENSIONS, isMaskFile } from "./dataset.js";
import { chooseDevice, type DeviceChoice, type DevicePreference, describeDevice } from "./device.js";
import { UserInputError } from "./errors.js";
import type { FeatureEngine } from "./features/engine.js";
import { extractFeatures } from "./features/extract.js";
import { type EnginePreference, engineOrSelect } from "./features/select.js";
import { argmax } from "./metrics.js";

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
  /** Inputs that could not be read as images. */
  failed: { file: string; reason: string }[];
  notes: string[];
  device: DeviceChoice;
}

async function listImages(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const full = path.join(dir, entry.name);
      if (entry.name.startsWith(".")) continue;
      if (entry.isDirectory()) await walk(full);
      else if (
        IMAGE_EXTENSIONS.includes(
          path.extname(entry.name).toLowerCase() as (typeof IMAGE_EXTENSIONS)[number],
        ) &&
        !isMaskFile(entry.name)
      ) {
        files.push(full);
      }
    }
  };
  for (const input of inputs) {
    const info = await stat(input).catch(() => undefined);
    if (!info) throw new UserInputError(`${input}: no such file or folder`);
    if (info.isDirectory()) await walk(input);
    else files.push(input);
  }
  if (files.length === 0) throw new UserInputError(`no images found in ${inputs.join(", ")}`);
  return files;
}

async function resolveModelDir(model: string): Promise<string> {
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
  const files = await listImages(options.inputs);
  const notes: string[] = [];
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
    return { classNames: info.classNames, predictions, failed, notes, device };
  } finally {
    await owned?.dispose();
  }
}
