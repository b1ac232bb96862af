import os from "node:os";
import type { DeviceChoice } from "../device.js";
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
  /**
   * The device (device.ts `chooseDevice`): on the GPU, ONNX Runtime's WebGPU provider or TF.js's WebGPU backend;
   * on the CPU, ONNX Runtime's CPU provider (or CUDA, if its library is installed) or a TF.js CPU backend.
   * Undefined: the CPU.
   */
  device?: DeviceChoice;
  /** Default: the cores available. */
  threads?: number;
  cacheDir?: string;
  modelDir?: string;
}

/**
 * `auto` = the ONNX Runtime engine when it loads (native speed), else TF.js. An explicit `onnx` that cannot load
 * is an error, and so is any engine failing on the GPU the device choice found (no silent CPU fallback). The modules
 * are imported lazily so a broken native onnxruntime never breaks the tfjs path.
 */
export async function selectEngine(options: SelectEngineOptions): Promise<EngineSelection> {
  const preference = options.engine ?? "auto";
  const threads = options.threads ?? os.availableParallelism();
  const notes: string[] = [];
  const onGpu = options.device?.kind === "gpu";
  if (preference === "auto" || preference === "onnx") {
    try {
      const { createOnnxEngine } = await import("./onnx/index.js");
      const engine = await createOnnxEngine({
        threads,
        cacheDir: options.cacheDir,
        modelDir: options.modelDir,
        executionProvider: onGpu ? "webgpu" : options.device ? "cpu" : undefined,
      });
      return { engine, notes };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (onGpu)
        throw new UnsupportedError(`--device gpu: the ONNX Runtime WebGPU provider failed: ${message}`);
      if (preference === "onnx") throw new UnsupportedError(`--engine onnx is not available: ${message}`);
      notes.push(`onnx engine unavailable, using tfjs: ${message}`);
    }
  }
  const { createTfjsEngine } = await import("./tfjs.js");
  const engine = await createTfjsEngine({
    backend: onGpu ? "webgpu" : "auto",
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
