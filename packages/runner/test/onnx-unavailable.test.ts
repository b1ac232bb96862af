import { describe, expect, it, vi } from "vitest";
import { createOnnxEngine, OnnxEngineUnavailableError } from "../src/features/onnx/index.js";

// A native addon that cannot load on this platform (missing shared library, wrong libc, ...).
vi.mock("onnxruntime-node", () => {
  throw new Error("libonnxruntime.so.1: cannot open shared object file");
});

describe("ONNX engine without a loadable onnxruntime-node", () => {
  it("throws a typed error naming the cause, so the runner can fall back to tfjs", async () => {
    const attempt = createOnnxEngine({ threads: 1 });
    await expect(attempt).rejects.toThrow(OnnxEngineUnavailableError);
    await expect(createOnnxEngine({ threads: 1 })).rejects.toThrow(
      /onnxruntime-node could not be loaded .*use the tfjs engine/,
    );
  });

  it("rejects a bad thread count before loading anything", async () => {
    await expect(createOnnxEngine({ threads: 0 })).rejects.toThrow(RangeError);
  });
});
