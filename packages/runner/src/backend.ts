import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { UnsupportedError } from "./errors.js";

export type BackendPreference = "auto" | "gpu" | "node" | "wasm" | "cpu";
export const BACKEND_CHOICES: readonly BackendPreference[] = ["auto", "gpu", "node", "wasm", "cpu"];

export interface ActiveBackend {
  /** The TF.js backend name in use: "tensorflow" (tfjs-node / tfjs-node-gpu), "wasm" or "cpu". */
  name: string;
  /** Which package provided it, e.g. "@tensorflow/tfjs-node-gpu" or "@tensorflow/tfjs-backend-wasm (simd, 2 threads)". */
  description: string;
  /** True when convolutions can be trained efficiently (the GPU build): fine-tuning is allowed. */
  canFineTune: boolean;
  /** Why preferred backends were not used (e.g. "tfjs-node-gpu: not installed"). */
  notes: string[];
}

let active: ActiveBackend | undefined;

/**
 * Native TF.js packages are optional (not dependencies of this package): a GPU workstation installs
 * `@tensorflow/tfjs-node-gpu`. They are loaded by dynamic import, so a missing or broken native build is
 * caught here and the next choice is tried. Untested here (no CUDA, packages not installed).
 */
async function tryNative(pkg: "@tensorflow/tfjs-node-gpu" | "@tensorflow/tfjs-node", notes: string[]) {
  try {
    const spec: string = pkg;
    await import(spec);
    if (!(await tf.setBackend("tensorflow"))) throw new Error("the tensorflow backend did not initialise");
    await tf.ready();
    return true;
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    notes.push(`${pkg}: ${/Cannot find (module|package)/.test(message ?? "") ? "not installed" : message}`);
    return false;
  }
}

async function useWasm(threads: number): Promise<string> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  const require = createRequire(import.meta.url);
  const dist = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
  wasm.setWasmPaths(`${dist}${path.sep}`);
  wasm.setThreadsCount(threads);
  if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not initialise");
  await tf.ready();
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  const multi = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT");
  const used = multi ? wasm.getThreadsCount() : 1;
  return `@tensorflow/tfjs-backend-wasm ${wasm.version_wasm} (${simd ? "simd" : "no simd"}, ${used} thread${used === 1 ? "" : "s"})`;
}

/**
 * Selects and initialises the TF.js backend once per process. `auto` prefers tfjs-node-gpu, then tfjs-node,
 * then wasm; an explicit choice that cannot load is an error.
 */
export async function initBackend(
  preference: BackendPreference = "auto",
  threads = 1,
): Promise<ActiveBackend> {
  if (active) return active;
  const notes: string[] = [];
  const pick = async (): Promise<ActiveBackend> => {
    if (preference === "auto" || preference === "gpu") {
      if (await tryNative("@tensorflow/tfjs-node-gpu", notes)) {
        return { name: "tensorflow", description: "@tensorflow/tfjs-node-gpu", canFineTune: true, notes };
      }
      if (preference === "gpu")
        throw new UnsupportedError(`--backend gpu is not available: ${notes.join("; ")}`);
    }
    if (preference === "auto" || preference === "node") {
      if (await tryNative("@tensorflow/tfjs-node", notes)) {
        return { name: "tensorflow", description: "@tensorflow/tfjs-node (cpu)", canFineTune: false, notes };
      }
      if (preference === "node")
        throw new UnsupportedError(`--backend node is not available: ${notes.join("; ")}`);
    }
    if (preference === "auto" || preference === "wasm") {
      try {
        return { name: "wasm", description: await useWasm(threads), canFineTune: false, notes };
      } catch (error) {
        notes.push(`wasm: ${(error as Error).message}`);
        if (preference === "wasm")
          throw new UnsupportedError(`--backend wasm is not available: ${notes.join("; ")}`);
      }
    }
    await tf.setBackend("cpu");
    await tf.ready();
    return { name: "cpu", description: "@tensorflow/tfjs cpu (pure JavaScript)", canFineTune: false, notes };
  };
  active = await pick();
  return active;
}

export function activeBackend(): ActiveBackend | undefined {
  return active;
}

export { tf };
