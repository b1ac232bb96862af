/**
 * Gradients of 1x1 stride-1 convolutions as matrix products. Over the N*H*W pixels such a convolution is a matrix
 * product, y = X W (X: pixels x Cin, W: Cin x Cout), so its filter gradient is X^T dY and its input gradient dY W^T.
 * TF.js's generic Conv2DBackpropFilter / Conv2DBackpropInput kernels do not use that (on WebGPU they loop over the
 * whole input per filter element), and ResNet50's bottleneck blocks are two thirds 1x1 convolutions: the issue's
 * H100 figures fall from 65 to 13 images/s as soon as res4's 1x1 convolutions train.
 *
 * The two kernels are wrapped per backend (the registry is global): 1x1, stride 1, NHWC, no padding goes to the
 * backend's own BatchMatMul; anything else to the original kernel. Both the plain conv2d gradient and the fused
 * (conv + bias + activation) one call these kernels, so every Keras Conv2D layer is covered.
 */
import { tf } from "./backend.js";

type KernelFunc = tf.KernelConfig["kernelFunc"];
type Backend = Parameters<KernelFunc>[0]["backend"];
type Info = tf.TensorInfo;

const WRAPPED_KERNELS = ["Conv2DBackpropFilter", "Conv2DBackpropInput"] as const;
const originals = new Map<string, tf.KernelConfig>();

/** How many gradients went through the matrix-product path (tests and benchmarks check the route is taken). */
export const conv1x1GradientStats = { routed: 0 };

const isOne = (v: unknown) => (Array.isArray(v) ? v.every((x) => x === 1) : v === 1);
const noPadding = (pad: unknown) =>
  pad === "valid" || pad === "same" || pad === 0 || (Array.isArray(pad) && pad.flat(2).every((x) => x === 0));

/** Whether a convolution with this filter shape and these attributes is a plain matrix product over pixels. */
export function isPointwise(filterShape: readonly number[], attrs: Record<string, unknown>): boolean {
  return (
    filterShape[0] === 1 &&
    filterShape[1] === 1 &&
    isOne(attrs.strides) &&
    (attrs.dataFormat === undefined || attrs.dataFormat === "NHWC" || attrs.dataFormat === "channelsLast") &&
    noPadding(attrs.pad)
  );
}

function kernelOf(name: string, backendName: string): KernelFunc {
  const config = tf.getKernel(name, backendName);
  if (!config) throw new Error(`the ${backendName} backend has no ${name} kernel`);
  return config.kernelFunc;
}

function dispose(backend: Backend, info: Info) {
  const b = backend as {
    disposeIntermediateTensorInfo?: (i: Info) => void;
    disposeData: (id: object) => void;
  };
  if (b.disposeIntermediateTensorInfo) b.disposeIntermediateTensorInfo(info);
  else b.disposeData(info.dataId);
}

function wrap(kernelName: (typeof WRAPPED_KERNELS)[number], original: tf.KernelConfig): KernelFunc {
  const backendName = original.backendName;
  return (args) => {
    const { inputs, backend, attrs = {} } = args;
    const reshape = (x: Info, shape: number[]) =>
      kernelOf("Reshape", backendName)({ inputs: { x }, backend, attrs: { shape } }) as Info;
    const matMul = (a: Info, b: Info, transposeA: boolean, transposeB: boolean) =>
      kernelOf(
        "BatchMatMul",
        backendName,
      )({
        inputs: { a, b },
        backend,
        attrs: { transposeA, transposeB },
      }) as Info;
    if (kernelName === "Conv2DBackpropFilter") {
      const { x, dy } = inputs as { x: Info; dy: Info };
      const filterShape = attrs.filterShape as number[];
      if (!isPointwise(filterShape, attrs)) return original.kernelFunc(args);
      conv1x1GradientStats.routed++;
      const [n, h, w, cin] = x.shape as [number, number, number, number];
      const cout = dy.shape[3]!;
      const x3 = reshape(x, [1, n * h * w, cin]);
      const dy3 = reshape(dy, [1, n * h * w, cout]);
      const product = matMul(x3, dy3, true, false); // [1, cin, cout] = X^T dY
      const result = reshape(product, [1, 1, cin, cout]);
      for (const t of [x3, dy3, product]) dispose(backend, t);
      return result;
    }
    const { dy, filter } = inputs as { dy: Info; filter: Info };
    if (!isPointwise(filter.shape, attrs)) return original.kernelFunc(args);
    conv1x1GradientStats.routed++;
    const [n, h, w, cout] = dy.shape as [number, number, number, number];
    const cin = filter.shape[2]!;
    const dy3 = reshape(dy, [1, n * h * w, cout]);
    const w3 = reshape(filter, [1, cin, cout]);
    const product = matMul(dy3, w3, false, true); // [1, pixels, cin] = dY W^T
    const result = reshape(product, [n, h, w, cin]);
    for (const t of [dy3, w3, product]) dispose(backend, t);
    return result;
  };
}

/** Wraps the kernels of every backend registered so far that has them (idempotent). */
export function installConv1x1Gradients(backendNames: readonly string[] = ["cpu", "webgpu"]): void {
  for (const backendName of backendNames) {
    for (const kernelName of WRAPPED_KERNELS) {
      const key = `${backendName}/${kernelName}`;
      const config = tf.getKernel(kernelName, backendName);
      if (!config || originals.has(key)) continue;
      originals.set(key, config);
      tf.unregisterKernel(kernelName, backendName);
      tf.registerKernel({ ...config, kernelFunc: wrap(kernelName, config) });
    }
  }
}

/** Restores the original kernels (tests compare both). */
export function uninstallConv1x1Gradients(): void {
  for (const [key, config] of originals) {
    const [backendName, kernelName] = key.split("/") as [string, string];
    tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel(config);
  }
  originals.clear();
}
