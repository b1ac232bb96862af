import { afterEach, describe, expect, it } from "vitest";
import { initBackend, tf } from "../src/backend.js";
import {
  conv1x1GradientStats,
  installConv1x1Gradients,
  isPointwise,
  uninstallConv1x1Gradients,
} from "../src/conv1x1-grad.js";
import { relativeL2 } from "../src/features/agreement.js";

/**
 * conv1x1-grad.ts routes 1x1 stride-1 convolution gradients through matrix products. On the cpu backend, the
 * gradients with and without it must agree (plain conv2d, Keras's fused conv + bias + relu, batch > 1), and
 * other convolutions must still take the original kernels.
 */
function gradients(kernel: [number, number, number, number], strides: number, fused: boolean) {
  return tf.tidy(() => {
    const x = tf.randomNormal([3, 5, 7, kernel[2]], 0, 1, "float32", 11);
    const w = tf.randomNormal(kernel, 0, 0.3, "float32", 12);
    const bias = tf.randomNormal([kernel[3]], 0, 0.1, "float32", 13);
    const target = tf.randomNormal([kernel[3]], 0, 1, "float32", 14);
    const loss = (xx: tf.Tensor, ww: tf.Tensor) => {
      const y = fused
        ? tf.fused.conv2d({
            x: xx as tf.Tensor4D,
            filter: ww as tf.Tensor4D,
            strides,
            pad: "same",
            bias,
            activation: "relu",
          })
        : tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, strides, "same");
      return y.mul(target).sum() as tf.Scalar;
    };
    const [dx, dw] = tf.grads(loss)([x, w]);
    return [dx!.dataSync() as Float32Array, dw!.dataSync() as Float32Array];
  });
}

describe("1x1 convolution gradients as matrix products (cpu backend)", () => {
  afterEach(() => uninstallConv1x1Gradients());

  it("agree with TF.js's own gradients for plain and fused 1x1 convolutions", async () => {
    await initBackend("cpu");
    for (const fused of [false, true]) {
      const reference = gradients([1, 1, 6, 4], 1, fused);
      installConv1x1Gradients();
      const before = conv1x1GradientStats.routed;
      const routed = gradients([1, 1, 6, 4], 1, fused);
      uninstallConv1x1Gradients();
      // Both gradients (input and filter) took the matrix-product path.
      expect(conv1x1GradientStats.routed - before).toBe(2);
      expect(relativeL2(reference[0]!, routed[0]!)).toBeLessThan(1e-6);
      expect(relativeL2(reference[1]!, routed[1]!)).toBeLessThan(1e-6);
    }
  });

  it("leaves 3x3 and strided 1x1 convolutions to the original kernels (same results)", async () => {
    await initBackend("cpu");
    for (const [kernel, strides] of [
      [[3, 3, 6, 4], 1],
      [[1, 1, 6, 4], 2],
    ] as const) {
      const reference = gradients([...kernel], strides, false);
      installConv1x1Gradients();
      const before = conv1x1GradientStats.routed;
      const routed = gradients([...kernel], strides, false);
      uninstallConv1x1Gradients();
      expect(conv1x1GradientStats.routed).toBe(before);
      expect(routed).toEqual(reference);
    }
    expect(isPointwise([3, 3, 6, 4], { strides: 1, pad: "same" })).toBe(false);
    expect(isPointwise([1, 1, 6, 4], { strides: [2, 2], pad: "valid" })).toBe(false);
    expect(isPointwise([1, 1, 6, 4], { strides: [1, 1], pad: "same", dataFormat: "NHWC" })).toBe(true);
  });

  it("is the path taken once installed (a changed kernel function is visible in the registry)", async () => {
    await initBackend("cpu");
    const before = tf.getKernel("Conv2DBackpropFilter", "cpu")!.kernelFunc;
    installConv1x1Gradients();
    installConv1x1Gradients(); // idempotent
    expect(tf.getKernel("Conv2DBackpropFilter", "cpu")!.kernelFunc).not.toBe(before);
    uninstallConv1x1Gradients();
    expect(tf.getKernel("Conv2DBackpropFilter", "cpu")!.kernelFunc).toBe(before);
  });
});
