import { describe, expect, it } from "vitest";
import { type AdapterInfo, type DeviceProbe, decideDevice, isSoftwareAdapter } from "../src/device.js";
import { UnsupportedError } from "../src/errors.js";

/** The device policy (device.ts decideDevice) on probe facts: no Vulkan, Dawn, or GPU needed. */
const lavapipe: AdapterInfo = {
  vendor: "mesa",
  architecture: "software",
  device: "llvmpipe-llvm-15-0-6-256-bits-",
  description: "llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1",
};
const swiftshader: AdapterInfo = {
  vendor: "google",
  architecture: "",
  device: "swiftshader device (subzero)",
  description: "SwiftShader driver",
};
const h100: AdapterInfo = {
  vendor: "nvidia",
  architecture: "hopper",
  device: "0x2330",
  description: "NVIDIA: 550.54.15 550.54.15.0",
};
const probe = (over: Partial<DeviceProbe>): DeviceProbe => ({
  vulkanLoader: "/usr/lib/x86_64-linux-gnu/libvulkan.so.1",
  gpuDeviceNodes: ["/dev/nvidia0"],
  driverFilesEnv: undefined,
  adapter: undefined,
  ...over,
});

describe("decideDevice", () => {
  it("uses a hardware adapter for auto and gpu, recording vendor, name and driver", () => {
    for (const preference of ["auto", "gpu"] as const) {
      expect(decideDevice(preference, probe({ adapter: h100 }))).toEqual({
        kind: "gpu",
        api: "webgpu",
        vendor: "nvidia",
        name: "0x2330",
        driver: "NVIDIA: 550.54.15 550.54.15.0",
        architecture: "hopper",
      });
    }
  });

  it("never picks a software renderer: auto falls back to the CPU, gpu fails saying so", () => {
    for (const adapter of [lavapipe, swiftshader, { ...h100, isFallbackAdapter: true }]) {
      expect(isSoftwareAdapter(adapter)).toBe(true);
      const choice = decideDevice("auto", probe({ adapter }));
      expect(choice.kind).toBe("cpu");
      expect(choice.kind === "cpu" && choice.reason).toMatch(/software renderer/);
      expect(() => decideDevice("gpu", probe({ adapter }))).toThrow(
        /--device gpu: the only adapter is a software/,
      );
    }
    expect(isSoftwareAdapter(h100)).toBe(false);
  });

  it("names the missing Vulkan loader with an install hint", () => {
    const none = probe({ vulkanLoader: undefined, gpuDeviceNodes: [] });
    expect(decideDevice("auto", none)).toMatchObject({
      kind: "cpu",
      reason: expect.stringMatching(/libvulkan\.so\.1/),
    });
    let error: unknown;
    try {
      decideDevice("gpu", none);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UnsupportedError);
    expect((error as Error).message).toMatch(
      /libvulkan\.so\.1 is not installed .*apt-get install libvulkan1/,
    );
    expect((error as Error).message).not.toContain("\n");
  });

  it("auto decides without Dawn when no GPU device node exists; gpu reports Dawn's answer", () => {
    const noNodes = probe({ gpuDeviceNodes: [] });
    expect(decideDevice("auto", noNodes)).toMatchObject({
      kind: "cpu",
      reason: expect.stringMatching(/no GPU device node/),
    });
    expect(() => decideDevice("gpu", { ...noNodes, adapter: null })).toThrow(
      /found no GPU adapter .*no GPU device node/,
    );
    expect(() => decideDevice("gpu", probe({ adapter: null }))).toThrow(
      /found no GPU adapter .*VK_DRIVER_FILES/,
    );
    expect(() => decideDevice("gpu", probe({ dawnError: "dawn.node: cannot open shared object" }))).toThrow(
      /WebGPU \(Dawn\) could not start: dawn\.node/,
    );
  });

  it("cpu is the CPU whatever the probe says", () => {
    expect(decideDevice("cpu", probe({ adapter: h100 }))).toEqual({
      kind: "cpu",
      api: "cpu",
      reason: "requested (--device cpu)",
    });
  });
});
