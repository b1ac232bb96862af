import os from "node:os";
import type { BackendPreference } from "../backend.js";
import { UnsupportedError } from "../errors.js";
import type { FeatureEngine } from "./engine.js";

export type EnginePreference = "auto" | "onnx" | "tfjs";
export const ENGINE_CHOICES: readonly EnginePreference[] = ["auto", "onnx", "tfjs"];

export interface EngineSelection {
  engine: FeatureEngine;
  /** Why the preferred engine was not used (auto only). */
  notes: string[];
}

export interface SelectEngineOptions {
  engine?: EnginePreference;
  backend?: BackendPreference;
  /** Default: the cores available. */
  threads?: number;
  cacheDir?: string;
  modelDir?: string;
}

/**
 * `auto` = the ONNX Runtime engine when it loads (native speed), else TF.js. An explicit `onnx` that cannot load
 * is an error. The modules are imported lazily so a broken native onnxruntime never breaks the tfjs path.
 */
export async function selectEngine(options: SelectEngineOptions): Promise<EngineSelection> {
  const preference = options.engine ?? "auto";
  const threads = options.threads ?? os.availableParallelism();
  const notes: string[] = [];
  if (preference === "auto" || preference === "onnx") {
    try {
      const { createOnnxEngine } = await import("./onnx/index.js");
      const engine = await createOnnxEngine({
        threads,
        cacheDir: options.cacheDir,
        modelDir: options.modelDir,
      });
      return { engine, notes };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (preference === "onnx") throw new UnsupportedError(`--engine onnx is not available: ${message}`);
      notes.push(`onnx engine unavailable, using tfjs: ${message}`);
    }
  }
  const { createTfjsEngine } = await import("./tfjs.js");
  const engine = await createTfjsEngine({
    backend: options.backend,
    threads: options.threads,
    modelDir: options.modelDir,
  });
  return { engine, notes };
}

/** The caller's engine when one is given (the caller disposes it), else a selected one, named in `owned`. */
export async function engineOrSelect(
  given: FeatureEngine | undefined,
  options: SelectEngineOptions,
): Promise<EngineSelection & { owned?: FeatureEngine }> {
  if (given) return { engine: given, notes: [] };
  const selection = await selectEngine(options);
  return { ...selection, owned: selection.engine };
}
