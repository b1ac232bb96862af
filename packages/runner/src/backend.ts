import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { UnsupportedError } from "./errors.js";

/**
 * The TF.js backend: `webgpu` (Dawn over Vulkan; what `--device gpu` uses, the only one that trains convolutions at
 * a useful speed), or the CPU ones: `auto` = tfjs-node when installed, else wasm, else pure-JS cpu.
 */
export type BackendPreference = "auto" | "webgpu" | "node" | "wasm" | "cpu";
export const BACKEND_CHOICES: readonly BackendPreference[] = ["auto", "webgpu", "node", "wasm", "cpu"];

export interface ActiveBackend {
  /** The TF.js backend name in use: "webgpu", "tensorflow" (tfjs-node), "wasm" or "cpu". */
  name: string;
  /** Which package provided it, e.g. "@tensorflow/tfjs-backend-webgpu (Dawn: ...)" or "@tensorflow/tfjs-backend-wasm (simd, 2 threads)". */
  description: string;
  /** True when convolutions can be trained at a useful speed (the WebGPU backend): fine-tuning is allowed. */
  canFineTune: boolean;
  /** Why preferred backends were not used (e.g. "tfjs-node: not installed"). */
  notes: string[];
}

let active: ActiveBackend | undefined;

/**
 * `@tensorflow/tfjs-node` is optional (not a dependency of this package: it downloads libtensorflow at install
 * time). It is loaded by dynamic import, so a missing or broken native build is caught here and the next choice is
 * tried. Untested here (not installed).
 */
async function tryNative(pkg: "@tensorflow/tfjs-node", notes: string[]) {
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
 * TF.js's WebGPU backend on Dawn. Two traps: the backend module registers itself only if `navigator.gpu` exists
 * when it is evaluated (so it is imported dynamically, after `navigator.gpu` is set: a static import would be
 * hoisted above the assignment), and synchronous reads (`dataSync`) fail in Node (`OffscreenCanvas is not
 * defined`): code that may run on this backend reads tensors with `await data()`.
 */
async function useWebGpu(): Promise<string> {
  const { dawnGpu } = await import("./device.js");
  const gpu = await dawnGpu();
  // Node 21+ has a global navigator without `gpu`; Node 20 has none.
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav) Object.defineProperty(nav, "gpu", { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu")))
    throw new Error("the webgpu backend did not initialise (no adapter?)");
  await tf.ready();
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  const info = adapter?.info;
  return `@tensorflow/tfjs-backend-webgpu ${tf.version.tfjs} (Dawn: ${info ? `${info.vendor} ${info.device || info.architecture}, ${info.description}` : "unknown adapter"})`;
}

/**
 * Selects and initialises the TF.js backend once per process. `auto` tries tfjs-node, then wasm, then cpu (the CPU
 * backends); `webgpu` is what `--device gpu` asks for. An explicit choice that cannot load is an error.
 */
export async function initBackend(
  preference: BackendPreference = "auto",
  threads = 1,
): Promise<ActiveBackend> {
  if (active) return active;
  const notes: string[] = [];
  const pick = async (): Promise<ActiveBackend> => {
    if (preference === "webgpu") {
      try {
        return { name: "webgpu", description: await useWebGpu(), canFineTune: true, notes };
      } catch (error) {
        throw new UnsupportedError(
          `the TF.js WebGPU backend is not available: ${(error as Error).message.split("\n")[0]}`,
        );
      }
    }
    if (preference === "auto" || preference === "node") {
      if (await tryNative("@tensorflow/tfjs-node", notes)) {
        return { name: "tensorflow", description: "@tensorflow/tfjs-node (cpu)", canFineTune: false, notes };
      }
      if (preference === "node")
        throw new UnsupportedError(`the tfjs-node backend is not available: ${notes.join("; ")}`);
    }
    if (preference === "auto" || preference === "wasm") {
      try {
        return { name: "wasm", description: await useWasm(threads), canFineTune: false, notes };
      } catch (error) {
        notes.push(`wasm: ${(error as Error).message}`);
        if (preference === "wasm")
          throw new UnsupportedError(`the wasm backend is not available: ${notes.join("; ")}`);
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
