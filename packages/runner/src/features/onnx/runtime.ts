/**
 * Loading onnxruntime-node defensively (a native addon: it may be missing or fail to load on an unusual platform)
 * and opening inference sessions on the CPU, on the GPU through the WebGPU execution provider (Dawn over Vulkan,
 * built into onnxruntime-node's Linux x64 binary since 1.2x), or, when installed, the CUDA execution provider.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

export type OnnxRuntime = typeof import("onnxruntime-node");
export type OnnxSession = import("onnxruntime-node").InferenceSession;

/** The ONNX engine cannot run here; the caller (features/select.ts) falls back to the TF.js engine. */
export class OnnxEngineUnavailableError extends Error {
  override readonly name = "OnnxEngineUnavailableError";
}

let runtime: Promise<OnnxRuntime> | undefined;

export function loadOnnxRuntime(): Promise<OnnxRuntime> {
  runtime ??= import("onnxruntime-node").catch((cause: unknown) => {
    runtime = undefined;
    throw new OnnxEngineUnavailableError(
      `onnxruntime-node could not be loaded (${cause instanceof Error ? cause.message : String(cause)}); ` +
        "use the tfjs engine instead",
      { cause },
    );
  });
  return runtime;
}

export function onnxRuntimeVersion(ort: OnnxRuntime): string {
  return ort.env.versions.node ?? ort.env.versions.common ?? "unknown";
}

/**
 * Whether the CUDA provider library sits next to onnxruntime-node's native binary. The npm package does not bundle
 * it: its install script downloads it (skipped in this project by `onnxruntime-node-install=skip`), or a user
 * installs onnxruntime-node with CUDA on a GPU workstation.
 */
export function cudaProviderInstalled(): boolean {
  try {
    const require = createRequire(import.meta.url);
    const root = path.dirname(require.resolve("onnxruntime-node/package.json"));
    const binDir = path.join(root, "bin", "napi-v6", process.platform, process.arch);
    const library =
      process.platform === "win32" ? "onnxruntime_providers_cuda.dll" : "libonnxruntime_providers_cuda.so";
    return existsSync(path.join(binDir, library));
  } catch {
    return false;
  }
}

export type ExecutionProvider = "cpu" | "cuda" | "webgpu";

export interface OpenedSession {
  session: OnnxSession;
  executionProvider: ExecutionProvider;
  /** Why the requested provider was not used, if it was not. */
  note: string | undefined;
}

/**
 * Opens the model (a file path or the serialised bytes) with `threads` intra-op threads and every graph optimisation.
 * `webgpu` opens the WebGPU provider or throws. `requested` undefined means CUDA
 * when its provider library is installed, else CPU. A CUDA failure (no GPU, no driver, no provider library) falls
 * back to the CPU with a note. The CUDA path is untested on this project's CPU-only build machine.
 */
export async function openSession(
  ort: OnnxRuntime,
  model: string | Uint8Array,
  threads: number,
  requested: ExecutionProvider | undefined,
): Promise<OpenedSession> {
  const options: import("onnxruntime-node").InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    // Idle pool threads sleep instead of spinning: a ResNet50 batch is a few dozen long operators, so wake-ups
    // cost nothing measurable, while spinning threads starve the sharp decoding that overlaps inference (and
    // other jobs on shared cores). Measured here under load: 1.8x bare and 1.1-1.6x end-to-end images/s.
    extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } },
  };
  const create = (sessionOptions: typeof options) =>
    typeof model === "string"
      ? ort.InferenceSession.create(model, sessionOptions)
      : ort.InferenceSession.create(model, sessionOptions);
  if (requested === "webgpu") {
    // No silent CPU fallback: the device choice (device.ts) already found a GPU adapter, so a failure here is
    // reported. Operators the WebGPU provider lacks run on the CPU provider inside the same session.
    const session = await create({ ...options, executionProviders: ["webgpu", "cpu"] });
    return { session, executionProvider: "webgpu", note: undefined };
  }
  const wantCuda = requested === "cuda" || (requested === undefined && cudaProviderInstalled());
  let note: string | undefined;
  if (wantCuda) {
    try {
      const session = await create({
        ...options,
        executionProviders: ["cuda", "cpu"],
      });
      return { session, executionProvider: "cuda", note: undefined };
    } catch (error) {
      note = `CUDA execution provider unavailable (${error instanceof Error ? error.message : String(error)}); using the CPU`;
    }
  }
  const session = await create({ ...options, executionProviders: ["cpu"] });
  return { session, executionProvider: "cpu", note };
}
