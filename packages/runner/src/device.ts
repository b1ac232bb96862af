/**
 * One device choice for the whole runner (`--device auto|gpu|cpu`): features (ONNX Runtime's WebGPU execution
 * provider) and fine-tuning (TF.js's WebGPU backend) both run on a GPU through Dawn over Vulkan, so one probe of
 * the Vulkan loader and of Dawn's adapter decides for both.
 *
 * `decideDevice` is the policy as one pure function (probe facts in, a choice or a one-line error out);
 * `probeDevice` gathers the facts, lazily and once per process. On a machine without a GPU device node, `auto`
 * decides without loading Dawn at all (no startup cost on CPU-only machines), and `cpu` never probes.
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import type { DevicePreference } from "./device-choices.js";
import { UnsupportedError } from "./errors.js";

export { DEVICE_CHOICES, type DevicePreference } from "./device-choices.js";

/** What Dawn says about an adapter (WebGPU `GPUAdapterInfo` plus `isFallbackAdapter`). */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter?: boolean;
}

export interface DeviceProbe {
  /** Path of `libvulkan.so.1`, or undefined when the Vulkan loader is not installed. */
  vulkanLoader: string | undefined;
  /** GPU device nodes (/dev/dri/renderD*, /dev/nvidia*, /dev/dxg): a hardware Vulkan driver needs one. */
  gpuDeviceNodes: string[];
  /** The ICD files named by VK_DRIVER_FILES / VK_ICD_FILENAMES, when set. */
  driverFilesEnv: string | undefined;
  /** Dawn's adapter, null when Dawn found none, undefined when Dawn was not asked (not needed for the decision). */
  adapter: AdapterInfo | null | undefined;
  /** Why Dawn could not be asked (the webgpu package failed to load or to create an instance). */
  dawnError?: string;
}

/** The device the run uses: what run.json records and the log's first line says. */
export type DeviceChoice =
  | {
      kind: "gpu";
      api: "webgpu";
      vendor: string;
      name: string;
      /** Dawn's description: on Vulkan, the driver's name and version. */
      driver: string;
      architecture: string;
    }
  | {
      kind: "cpu";
      api: "cpu";
      /** Why not the GPU (auto), or "requested (--device cpu)". */
      reason: string;
    };

/** Software Vulkan/WebGPU implementations: correct but slower than the CPU engines; never chosen by `auto`. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software/i;

export function isSoftwareAdapter(info: AdapterInfo): boolean {
  return (
    info.isFallbackAdapter === true ||
    info.architecture.toLowerCase() === "software" ||
    SOFTWARE_ADAPTER.test(`${info.vendor} ${info.device} ${info.description}`)
  );
}

export function describeAdapter(info: AdapterInfo): string {
  const name = info.device || info.architecture || "unknown device";
  return `${info.vendor || "unknown vendor"} ${name}${info.description ? ` (${info.description})` : ""}`;
}

/** Whether `auto` needs Dawn's answer: only when a hardware GPU could exist (a device node or an explicit ICD). */
export function autoNeedsAdapter(
  probe: Pick<DeviceProbe, "vulkanLoader" | "gpuDeviceNodes" | "driverFilesEnv">,
) {
  return (
    probe.vulkanLoader !== undefined &&
    (probe.gpuDeviceNodes.length > 0 || probe.driverFilesEnv !== undefined)
  );
}

const GPU_SETUP_HINT = "see docs/runner.md, GPU setup";

/**
 * The policy: `cpu` is the CPU; `auto` is a hardware adapter when one exists, else the CPU with the reason;
 * `gpu` is a hardware adapter or an UnsupportedError (exit 2) saying what is missing and what to do.
 */
export function decideDevice(preference: DevicePreference, probe: DeviceProbe): DeviceChoice {
  if (preference === "cpu") return { kind: "cpu", api: "cpu", reason: "requested (--device cpu)" };
  let reason: string;
  let hint: string;
  if (probe.vulkanLoader === undefined) {
    reason = "the Vulkan loader libvulkan.so.1 is not installed";
    hint = `install it (Debian/Ubuntu: apt-get install libvulkan1) and the GPU driver's Vulkan ICD; ${GPU_SETUP_HINT}`;
  } else if (probe.adapter === undefined && preference === "auto" && !autoNeedsAdapter(probe)) {
    reason = "no GPU device node (/dev/dri/renderD*, /dev/nvidia*)";
    hint = GPU_SETUP_HINT;
  } else if (probe.adapter === undefined || probe.adapter === null) {
    reason =
      probe.dawnError !== undefined
        ? `WebGPU (Dawn) could not start: ${probe.dawnError}`
        : "WebGPU (Dawn over Vulkan) found no GPU adapter";
    hint =
      probe.gpuDeviceNodes.length === 0
        ? `no GPU device node is visible (/dev/dri/renderD*, /dev/nvidia*); ${GPU_SETUP_HINT}`
        : `check the driver's Vulkan ICD (point VK_DRIVER_FILES at e.g. nvidia_icd.json); ${GPU_SETUP_HINT}`;
  } else if (isSoftwareAdapter(probe.adapter)) {
    reason = `the only adapter is a software renderer, ${describeAdapter(probe.adapter)}`;
    hint = `it is slower than --device cpu; install the GPU driver's Vulkan ICD; ${GPU_SETUP_HINT}`;
  } else {
    const a = probe.adapter;
    return {
      kind: "gpu",
      api: "webgpu",
      vendor: a.vendor,
      name: a.device || a.architecture,
      driver: a.description,
      architecture: a.architecture,
    };
  }
  if (preference === "gpu") throw new UnsupportedError(`--device gpu: ${reason} (${hint})`);
  return { kind: "cpu", api: "cpu", reason: `no usable GPU: ${reason}` };
}

/** One line for the log and the summary, e.g. "gpu (webgpu: nvidia hopper, driver ...)". */
export function describeDevice(choice: DeviceChoice): string {
  return choice.kind === "gpu"
    ? `gpu (webgpu on ${choice.vendor} ${choice.name}; driver ${choice.driver || "unknown"})`
    : `cpu (${choice.reason})`;
}

const LIBRARY_DIRS = [
  "/lib/x86_64-linux-gnu",
  "/usr/lib/x86_64-linux-gnu",
  "/lib/aarch64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/lib64",
  "/usr/lib",
  "/lib",
  "/usr/local/lib",
];

export function findVulkanLoader(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean), ...LIBRARY_DIRS];
  for (const dir of dirs) {
    const file = path.join(dir, "libvulkan.so.1");
    if (existsSync(file)) return file;
  }
  return undefined;
}

export function findGpuDeviceNodes(): string[] {
  const list = (dir: string, match: RegExp) => {
    try {
      return readdirSync(dir)
        .filter((name) => match.test(name))
        .map((name) => path.join(dir, name));
    } catch {
      return [];
    }
  };
  return [...list("/dev/dri", /^renderD\d+$/), ...list("/dev", /^(nvidia\d+|dxg)$/)];
}

type WebGpuModule = typeof import("webgpu");
let gpuInstance: Promise<GPU> | undefined;

/** The one Dawn instance of this process (shared by the probe and TF.js's WebGPU backend). */
export function dawnGpu(): Promise<GPU> {
  gpuInstance ??= (async () => {
    const webgpu: WebGpuModule = await import("webgpu");
    // Dawn's WebGPU classes (GPUBufferUsage, ...) as globals: TF.js's WebGPU backend reads them from globalThis.
    Object.assign(globalThis, webgpu.globals);
    return webgpu.create([]);
  })();
  gpuInstance.catch(() => {
    gpuInstance = undefined;
  });
  return gpuInstance;
}

async function askDawn(): Promise<Pick<DeviceProbe, "adapter" | "dawnError">> {
  try {
    const gpu = await dawnGpu();
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) return { adapter: null };
    const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
    return {
      adapter: {
        vendor: info.vendor,
        architecture: info.architecture,
        device: info.device,
        description: info.description,
        isFallbackAdapter:
          info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
      },
    };
  } catch (error) {
    return {
      adapter: undefined,
      dawnError: (error instanceof Error ? error.message : String(error)).split("\n")[0],
    };
  }
}

/** The probe facts; Dawn is asked only when `askAdapter` (loading it costs 0.1-0.4 s). */
export async function probeDevice(askAdapter: boolean): Promise<DeviceProbe> {
  const base = {
    vulkanLoader: findVulkanLoader(),
    gpuDeviceNodes: findGpuDeviceNodes(),
    driverFilesEnv: process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES,
  };
  return askAdapter && base.vulkanLoader !== undefined
    ? { ...base, ...(await askDawn()) }
    : { ...base, adapter: undefined };
}

const chosen = new Map<DevicePreference, Promise<DeviceChoice>>();

/**
 * Probes (only as far as the decision needs) and decides, once per preference per process. Throws
 * UnsupportedError for an unusable `--device gpu`.
 */
export function chooseDevice(preference: DevicePreference = "auto"): Promise<DeviceChoice> {
  let choice = chosen.get(preference);
  if (!choice) {
    choice = (async () => {
      if (preference === "cpu") return decideDevice("cpu", await probeDevice(false));
      const facts = await probeDevice(false);
      const probe = preference === "gpu" || autoNeedsAdapter(facts) ? await probeDevice(true) : facts;
      return decideDevice(preference, probe);
    })();
    chosen.set(preference, choice);
  }
  return choice;
}

/** `rescale-runner device`: what was found, one fact a line, and what `auto` would use. */
export function describeProbe(probe: DeviceProbe): string[] {
  const adapter =
    probe.adapter === undefined
      ? probe.dawnError
        ? `WebGPU (Dawn) could not start: ${probe.dawnError}`
        : "not asked (no Vulkan loader)"
      : probe.adapter === null
        ? "none found by WebGPU (Dawn over Vulkan)"
        : `${describeAdapter(probe.adapter)}${isSoftwareAdapter(probe.adapter) ? " [software renderer: not used]" : ""}`;
  return [
    `Vulkan loader: ${probe.vulkanLoader ?? "missing (libvulkan.so.1; Debian/Ubuntu: apt-get install libvulkan1)"}`,
    `GPU device nodes: ${probe.gpuDeviceNodes.length > 0 ? probe.gpuDeviceNodes.join(", ") : "none"}`,
    ...(probe.driverFilesEnv ? [`VK_DRIVER_FILES: ${probe.driverFilesEnv}`] : []),
    `adapter: ${adapter}`,
  ];
}
