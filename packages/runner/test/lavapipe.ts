import { existsSync } from "node:fs";
import { findVulkanLoader } from "../src/device.js";

/**
 * The GPU tests run WebGPU on Mesa's lavapipe (a Vulkan driver on the CPU): Mesa >= 25 (Debian bookworm-backports),
 * installed by `sudo bash scripts/setup-system.sh`. Without it they skip, saying why.
 */
export const LAVAPIPE_ICD = "/usr/share/vulkan/icd.d/lvp_icd.json";

export function lavapipeMissing(): string | undefined {
  if (findVulkanLoader() === undefined)
    return "libvulkan.so.1 is not installed (sudo bash scripts/setup-system.sh)";
  if (!existsSync(LAVAPIPE_ICD)) return `${LAVAPIPE_ICD} is missing (sudo bash scripts/setup-system.sh)`;
  return undefined;
}

/** Environment that points Dawn (TF.js's and ONNX Runtime's) at lavapipe only. */
export const LAVAPIPE_ENV = { VK_DRIVER_FILES: LAVAPIPE_ICD, XDG_RUNTIME_DIR: "/tmp" };
