import { createHash } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "@rescale-run/sdk/atomic-write";
import type { CvResult } from "./cv.js";
import { UserInputError } from "./errors.js";
import type { HeadConfig, HeadModel, HeadTrainingState } from "./head.js";
import { type NamedArray, readArrays, writeArrays } from "./tensors.js";

/**
 * The checkpoint folder of a run (`<out>/checkpoint/`): the cross-validation result and, after every epoch of the
 * final head training, the full training state (current and best weights, Adam moments, history, RNG state).
 * `--resume` continues from it; it is left out of artifacts.zip.
 */
export interface CheckpointMeta {
  fingerprint: string;
  seed: number;
  config: HeadConfig;
  finished: boolean;
}

const prefixed = (prefix: string, arrays: readonly NamedArray[]) =>
  arrays.map((a) => ({ ...a, name: `${prefix}${a.name}` }));
const unprefixed = (prefix: string, arrays: readonly NamedArray[]) =>
  arrays.filter((a) => a.name.startsWith(prefix)).map((a) => ({ ...a, name: a.name.slice(prefix.length) }));

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export class Checkpoint {
  constructor(readonly dir: string) {}

  async saveCv(cv: CvResult): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(path.join(this.dir, "cv.json"), `${JSON.stringify(cv, null, 2)}\n`);
  }

  async loadCv(): Promise<CvResult | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.dir, "cv.json"), "utf8")) as CvResult;
    } catch {
      return undefined;
    }
  }

  /**
   * Three files make a checkpoint: state.json (the commit point, written last, naming the sha256 of the weights
   * it belongs to), state-arrays.bin (weights, Adam moments) and its manifest state-arrays.json (the same layout
   * every epoch). Before new weights are written the previous ones are kept as state-arrays.prev.bin, so a kill
   * at any moment leaves state.json with a matching weights file: the new one or the previous one.
   */
  async saveState(meta: CheckpointMeta, state: HeadTrainingState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const base = path.join(this.dir, "state-arrays");
    const previous = await readFile(`${base}.bin`).catch(() => undefined);
    if (previous) await writeFileAtomic(path.join(this.dir, "state-arrays.prev.bin"), previous);
    await writeArrays(base, [
      ...prefixed("weights:", state.weights),
      ...prefixed("best:", state.bestWeights),
      ...prefixed("optimizer:", state.optimizer),
      { name: "mean", shape: [state.mean.length], data: state.mean },
      { name: "std", shape: [state.std.length], data: state.std },
    ]);
    const arraysSha256 = sha256(await readFile(`${base}.bin`));
    const { weights, bestWeights, optimizer, mean, std, ...scalars } = state;
    await writeFileAtomic(
      path.join(this.dir, "state.json"),
      `${JSON.stringify({ meta, arraysSha256, ...scalars }, null, 1)}\n`,
    );
  }

  async loadState(): Promise<{ meta: CheckpointMeta; state: HeadTrainingState } | undefined> {
    let json: { meta: CheckpointMeta; arraysSha256?: string } & Omit<
      HeadTrainingState,
      "weights" | "bestWeights" | "optimizer" | "mean" | "std"
    >;
    try {
      json = JSON.parse(await readFile(path.join(this.dir, "state.json"), "utf8"));
    } catch {
      return undefined;
    }
    const base = path.join(this.dir, "state-arrays");
    let binFile: string | undefined;
    for (const file of [`${base}.bin`, path.join(this.dir, "state-arrays.prev.bin")]) {
      const bytes = await readFile(file).catch(() => undefined);
      if (bytes && (json.arraysSha256 === undefined || sha256(bytes) === json.arraysSha256)) {
        binFile = file;
        break;
      }
    }
    if (!binFile) {
      throw new UserInputError(
        `The checkpoint in ${this.dir} is damaged (no weights file matches state.json). Remove the folder to ` +
          "restart the head training (cached features are kept).",
      );
    }
    const arrays = await readArrays(base, binFile);
    const { meta, arraysSha256: _, ...scalars } = json;
    const find = (name: string) => {
      const a = arrays.find((x) => x.name === name);
      if (!a) throw new Error(`checkpoint ${this.dir} lacks ${name}`);
      return a.data;
    };
    return {
      meta,
      state: {
        ...scalars,
        weights: unprefixed("weights:", arrays),
        bestWeights: unprefixed("best:", arrays),
        optimizer: unprefixed("optimizer:", arrays),
        mean: find("mean"),
        std: find("std"),
      },
    };
  }

  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The trained head as predict loads it: `<out>/model/head.json` + `head-arrays.{json,bin}`. */
export interface SavedHead {
  format: "rescale-run-head/1";
  classNames: string[];
  config: HeadConfig;
  numClasses: number;
  /** Feature-engine cache key the head was trained on (weights identity). */
  engineCacheKey: string;
  preprocessVersion: string;
  /**
   * Views whose predictions are averaged (test-time augmentation), e.g. ["orig", "flip"]. Heads saved before it
   * existed lack it: the original view only.
   */
  ttaViews?: string[];
  /** Folder (relative to the model folder) of a fine-tuned ResNet that predict must use instead of the stock one. */
  backbone?: string;
}

export async function saveHead(
  dir: string,
  model: HeadModel,
  info: Omit<SavedHead, "format" | "config" | "numClasses">,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeArrays(path.join(dir, "head-arrays"), [
    ...prefixed("weights:", model.weights),
    { name: "mean", shape: [model.mean.length], data: model.mean },
    { name: "std", shape: [model.std.length], data: model.std },
  ]);
  const saved: SavedHead = {
    format: "rescale-run-head/1",
    config: model.config,
    numClasses: model.numClasses,
    ...info,
  };
  await writeFileAtomic(path.join(dir, "head.json"), `${JSON.stringify(saved, null, 2)}\n`);
}

export async function loadHead(dir: string): Promise<{ info: SavedHead; model: HeadModel }> {
  const info = JSON.parse(await readFile(path.join(dir, "head.json"), "utf8")) as SavedHead;
  if (info.format !== "rescale-run-head/1")
    throw new Error(`${dir}/head.json: unknown format ${info.format}`);
  const arrays = await readArrays(path.join(dir, "head-arrays"));
  const get = (name: string) => arrays.find((a) => a.name === name)?.data ?? new Float32Array();
  return {
    info,
    model: {
      config: info.config,
      numClasses: info.numClasses,
      mean: get("mean"),
      std: get("std"),
      weights: unprefixed("weights:", arrays),
    },
  };
}
