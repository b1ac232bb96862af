/**
 * Translates a Keras convolutional network (the topology of a TF.js layers-model model.json plus its weights) into
 * a small, serialisation-independent ONNX graph description: NHWC input transposed once to NCHW inside the graph,
 * BatchNormalization folded into the preceding convolution, Keras "same"/ZeroPadding2D padding made explicit, and
 * one globally average-pooled, flattened output per requested layer. Only layers the outputs depend on are built.
 */
import type { KerasLayer, KerasTopology } from "../../model/keras-topology.js";
import type { WeightTensor } from "../../model/resnet-weights.js";

export class OnnxGraphBuildError extends Error {
  override readonly name = "OnnxGraphBuildError";
}

export type AttributeValue = number | number[];

export interface GraphNode {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

export type InitializerData = Float32Array | BigInt64Array;

export interface GraphInitializer {
  name: string;
  dims: number[];
  data: InitializerData;
}

/** A graph input or output: float32, first dimension the dynamic batch. */
export interface GraphValue {
  name: string;
  /** Dimensions after the batch dimension. */
  dims: number[];
}

export interface GraphDescription {
  nodes: GraphNode[];
  initializers: GraphInitializer[];
  input: GraphValue;
  outputs: GraphValue[];
}

export interface BuildGraphOptions {
  /** Name of the graph input (NHWC float32, batch dimension dynamic). */
  inputName: string;
  /** Graph output name -> Keras layer whose globally average-pooled activation it is. */
  pooledOutputs: Record<string, string>;
}

/** A Keras tensor as seen from ONNX: its value name, NCHW shape without batch, and zero padding not yet applied. */
interface Tensor {
  value: string;
  shape: [c: number, h: number, w: number];
  /** From a ZeroPadding2D layer: [top, left, bottom, right], applied by the consumer (a Conv's pads or a Pad node). */
  pendingPads?: Pads;
  /** The Keras layer that produced `value` without padding applied (for materialising pendingPads). */
  unpadded?: string;
}

type Pads = [top: number, left: number, bottom: number, right: number];

const NO_PADS: Pads = [0, 0, 0, 0];

const ACTIVATION_OPS: Record<string, string> = { relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh" };

function pair(value: unknown, what: string): [number, number] {
  if (typeof value === "number") return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "number")) {
    return value as [number, number];
  }
  throw new OnnxGraphBuildError(
    `${what} must be a number or a pair of numbers, got ${JSON.stringify(value)}`,
  );
}

function zeroPaddingOf(layer: KerasLayer): Pads {
  const padding = layer.config.padding;
  if (Array.isArray(padding) && padding.length === 2 && padding.every(Array.isArray)) {
    const [top, bottom] = pair(padding[0], `${layer.name}.padding[0]`);
    const [left, right] = pair(padding[1], `${layer.name}.padding[1]`);
    return [top, left, bottom, right];
  }
  const [vertical, horizontal] = pair(padding, `${layer.name}.padding`);
  return [vertical, horizontal, vertical, horizontal];
}

/** Explicit pads for Keras padding "valid"/"same" (TensorFlow's SAME puts the odd pixel at the end). */
function windowPads(
  padding: unknown,
  input: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  layerName: string,
): Pads {
  if (padding === "valid") return [...NO_PADS];
  if (padding !== "same")
    throw new OnnxGraphBuildError(`Layer ${layerName}: unsupported padding ${String(padding)}`);
  const total = [0, 1].map((axis) => {
    const size = input[axis]!;
    const stride = strides[axis]!;
    const span = (kernel[axis]! - 1) * dilations[axis]! + 1;
    const out = Math.ceil(size / stride);
    return Math.max((out - 1) * stride + span - size, 0);
  });
  const begin = total.map((t) => Math.floor(t / 2));
  return [begin[0]!, begin[1]!, total[0]! - begin[0]!, total[1]! - begin[1]!];
}

function addPads(a: Pads, b: Pads): Pads {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]];
}

function outputSize(
  size: number,
  pads: [number, number],
  kernel: number,
  stride: number,
  dilation: number,
): number {
  return Math.floor((size + pads[0] + pads[1] - ((kernel - 1) * dilation + 1)) / stride) + 1;
}

function requireChannelsLast(layer: KerasLayer): void {
  const format = layer.config.data_format;
  if (format !== undefined && format !== "channels_last") {
    throw new OnnxGraphBuildError(
      `Layer ${layer.name}: only channels_last is supported, got ${String(format)}`,
    );
  }
}

class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly initializers: GraphInitializer[] = [];
  private readonly tensors = new Map<string, Tensor>();
  private readonly consumers = new Map<string, KerasLayer[]>();
  /** BatchNormalization layers already folded into their convolution. */
  private readonly folded = new Set<string>();
  private readonly materialisedPads = new Set<string>();
  private input: GraphValue | undefined;

  constructor(
    private readonly topology: KerasTopology,
    private readonly weights: Map<string, WeightTensor>,
    private readonly options: BuildGraphOptions,
  ) {
    for (const layer of topology.layers) {
      for (const input of layer.inputs) {
        const list = this.consumers.get(input) ?? [];
        list.push(layer);
        this.consumers.set(input, list);
      }
    }
  }

  build(): GraphDescription {
    const needed = this.layersNeeded();
    for (const layer of this.topology.layers) {
      if (needed.has(layer.name) && !this.folded.has(layer.name)) this.translate(layer);
    }
    if (!this.input)
      throw new OnnxGraphBuildError("The model topology has no InputLayer feeding the requested outputs");
    const outputs = Object.entries(this.options.pooledOutputs).map(([name, source]) =>
      this.pooledOutput(name, source),
    );
    return { nodes: this.nodes, initializers: this.initializers, input: this.input, outputs };
  }

  private layersNeeded(): Set<string> {
    const byName = new Map(this.topology.layers.map((layer) => [layer.name, layer]));
    const needed = new Set<string>();
    const pending = Object.values(this.options.pooledOutputs);
    for (const name of pending) {
      if (!byName.has(name)) throw new OnnxGraphBuildError(`The model has no layer named ${name}`);
    }
    while (pending.length > 0) {
      const name = pending.pop()!;
      if (needed.has(name)) continue;
      needed.add(name);
      pending.push(...byName.get(name)!.inputs);
    }
    return needed;
  }

  private readonly translators: Record<string, (layer: KerasLayer) => void> = {
    InputLayer: (layer) => this.inputLayer(layer),
    ZeroPadding2D: (layer) => this.zeroPadding(layer),
    Conv2D: (layer) => this.conv(layer),
    BatchNormalization: (layer) => this.batchNorm(layer),
    Activation: (layer) => this.activation(layer, layer.config.activation, layer.inputs[0]!),
    ReLU: (layer) => this.activation(layer, "relu", layer.inputs[0]!),
    MaxPooling2D: (layer) => this.maxPool(layer),
    Add: (layer) => this.add(layer),
  };

  private translate(layer: KerasLayer): void {
    const translator = this.translators[layer.className];
    if (!translator) {
      throw new OnnxGraphBuildError(
        `Layer ${layer.name} (${layer.className}) is not supported by the ONNX graph builder`,
      );
    }
    translator(layer);
  }

  private weight(name: string): WeightTensor {
    const tensor = this.weights.get(name);
    if (!tensor) throw new OnnxGraphBuildError(`Weight ${name} is missing from the weights manifest`);
    return tensor;
  }

  private tensor(layerName: string): Tensor {
    const tensor = this.tensors.get(layerName);
    if (!tensor) throw new OnnxGraphBuildError(`Layer ${layerName} was not translated before its consumers`);
    return tensor;
  }

  /** The tensor's value name with any pending zero padding applied by a Pad node (emitted once per tensor). */
  private materialise(layerName: string): Tensor {
    const tensor = this.tensor(layerName);
    if (!tensor.pendingPads) return tensor;
    const [top, left, bottom, right] = tensor.pendingPads;
    if (!this.materialisedPads.has(layerName)) {
      const padsName = `${layerName}/pads`;
      this.initializers.push({
        name: padsName,
        dims: [8],
        data: BigInt64Array.from([0, 0, top, left, 0, 0, bottom, right].map(BigInt)),
      });
      // Pad's default mode is "constant" with value 0: Keras ZeroPadding2D.
      this.emit("Pad", layerName, [tensor.unpadded!, padsName], [tensor.value]);
      this.materialisedPads.add(layerName);
    }
    return { value: tensor.value, shape: tensor.shape };
  }

  private emit(
    opType: string,
    name: string,
    inputs: string[],
    outputs: string[],
    attributes: Record<string, AttributeValue> = {},
  ): void {
    this.nodes.push({ opType, name, inputs, outputs, attributes });
  }

  private set(layerName: string, tensor: Tensor): void {
    this.tensors.set(layerName, tensor);
  }

  private inputLayer(layer: KerasLayer): void {
    const shape = layer.config.batch_input_shape;
    if (!Array.isArray(shape) || shape.length !== 4 || !shape.slice(1).every((d) => typeof d === "number")) {
      throw new OnnxGraphBuildError(
        `Input ${layer.name} must have a static [batch, height, width, channels] shape, got ${JSON.stringify(shape)}`,
      );
    }
    const [, h, w, c] = shape as [unknown, number, number, number];
    this.input = { name: this.options.inputName, dims: [h, w, c] };
    this.emit("Transpose", `${layer.name}/nhwc_to_nchw`, [this.options.inputName], [layer.name], {
      perm: [0, 3, 1, 2],
    });
    this.set(layer.name, { value: layer.name, shape: [c, h, w] });
  }

  private zeroPadding(layer: KerasLayer): void {
    requireChannelsLast(layer);
    const source = this.tensor(layer.inputs[0]!);
    const pads = zeroPaddingOf(layer);
    const base = source.pendingPads ? addPads(source.pendingPads, pads) : pads;
    const [c, h, w] = source.shape;
    this.set(layer.name, {
      value: layer.name,
      shape: [c, h + pads[0] + pads[2], w + pads[1] + pads[3]],
      pendingPads: base,
      unpadded: source.unpadded ?? source.value,
    });
  }

  /** The BatchNormalization layer to fold into this convolution, if it is the convolution's only consumer. */
  private foldableBatchNorm(layer: KerasLayer): KerasLayer | undefined {
    const consumers = this.consumers.get(layer.name) ?? [];
    const only = consumers.length === 1 ? consumers[0] : undefined;
    // A convolution whose own output is requested keeps it: folding would replace it by the normalised one.
    const isOutput = Object.values(this.options.pooledOutputs).includes(layer.name);
    if (only?.className !== "BatchNormalization" || isOutput) return undefined;
    if (layer.config.activation !== "linear" && layer.config.activation !== undefined) return undefined;
    return batchNormAxisIsChannels(only) ? only : undefined;
  }

  private conv(layer: KerasLayer): void {
    requireChannelsLast(layer);
    const groups = layer.config.groups;
    if (groups !== undefined && groups !== 1)
      throw new OnnxGraphBuildError(`Layer ${layer.name}: grouped convolution`);
    const input = this.tensor(layer.inputs[0]!);
    const [cin, h, w] = input.shape;
    const kernel = this.weight(`${layer.name}/kernel`);
    const [kh, kw, kcin, cout] = kernel.shape as [number, number, number, number];
    if (kernel.shape.length !== 4 || kcin !== cin) {
      throw new OnnxGraphBuildError(
        `Layer ${layer.name}: kernel shape ${kernel.shape} does not fit ${cin} channels`,
      );
    }
    const strides = pair(layer.config.strides ?? 1, `${layer.name}.strides`);
    const dilations = pair(layer.config.dilation_rate ?? 1, `${layer.name}.dilation_rate`);
    const own = windowPads(layer.config.padding, [h, w], [kh, kw], strides, dilations, layer.name);
    const pads = input.pendingPads ? addPads(input.pendingPads, own) : own;
    const source = input.pendingPads ? input.unpadded! : input.value;
    const sourceHeight = h - (input.pendingPads ? input.pendingPads[0] + input.pendingPads[2] : 0);
    const sourceWidth = w - (input.pendingPads ? input.pendingPads[1] + input.pendingPads[3] : 0);

    const weights = kernelToOihw(kernel.data, kh, kw, cin, cout);
    const bias =
      layer.config.use_bias === false ? new Float32Array(cout) : this.weight(`${layer.name}/bias`).data;
    const foldedBias = Float32Array.from(bias);
    const batchNorm = this.foldableBatchNorm(layer);
    if (batchNorm) {
      const { scale, shift } = this.batchNormAffine(batchNorm, cout);
      const perOutput = cin * kh * kw;
      for (let o = 0; o < cout; o++) {
        for (let i = o * perOutput; i < (o + 1) * perOutput; i++) weights[i] = weights[i]! * scale[o]!;
        foldedBias[o] = bias[o]! * scale[o]! + shift[o]!;
      }
      this.folded.add(batchNorm.name);
    }
    const activation = layer.config.activation ?? "linear";
    // The value the Conv node writes: the folded BatchNormalization's name, the layer's own, or a pre-activation.
    const convValue = batchNorm
      ? batchNorm.name
      : activation === "linear"
        ? layer.name
        : `${layer.name}/linear`;
    this.initializers.push({ name: `${layer.name}/W`, dims: [cout, cin, kh, kw], data: weights });
    this.initializers.push({ name: `${layer.name}/B`, dims: [cout], data: foldedBias });
    this.emit("Conv", layer.name, [source, `${layer.name}/W`, `${layer.name}/B`], [convValue], {
      kernel_shape: [kh, kw],
      strides,
      dilations,
      pads,
      group: 1,
    });
    const shape: Tensor["shape"] = [
      cout,
      outputSize(sourceHeight, [pads[0], pads[2]], kh, strides[0], dilations[0]),
      outputSize(sourceWidth, [pads[1], pads[3]], kw, strides[1], dilations[1]),
    ];
    if (batchNorm) {
      this.set(batchNorm.name, { value: convValue, shape });
    } else {
      this.set(layer.name, { value: convValue, shape });
      if (activation !== "linear") this.activation(layer, activation, layer.name);
    }
  }

  /** Per-channel y = x * scale + shift of an inference-mode BatchNormalization, computed in float64. */
  private batchNormAffine(layer: KerasLayer, channels: number): { scale: Float64Array; shift: Float64Array } {
    const epsilon = typeof layer.config.epsilon === "number" ? layer.config.epsilon : 1e-3;
    const mean = this.weight(`${layer.name}/moving_mean`).data;
    const variance = this.weight(`${layer.name}/moving_variance`).data;
    const gamma = layer.config.scale === false ? undefined : this.weight(`${layer.name}/gamma`).data;
    const beta = layer.config.center === false ? undefined : this.weight(`${layer.name}/beta`).data;
    if (mean.length !== channels || variance.length !== channels) {
      throw new OnnxGraphBuildError(
        `Layer ${layer.name}: statistics have ${mean.length} channels, need ${channels}`,
      );
    }
    const scale = new Float64Array(channels);
    const shift = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      scale[c] = (gamma ? gamma[c]! : 1) / Math.sqrt(variance[c]! + epsilon);
      shift[c] = (beta ? beta[c]! : 0) - mean[c]! * scale[c]!;
    }
    return { scale, shift };
  }

  /** A BatchNormalization that could not be folded: emitted as Mul + Add with precomputed per-channel constants. */
  private batchNorm(layer: KerasLayer): void {
    if (!batchNormAxisIsChannels(layer)) {
      throw new OnnxGraphBuildError(`Layer ${layer.name}: BatchNormalization over a non-channel axis`);
    }
    const input = this.materialise(layer.inputs[0]!);
    const channels = input.shape[0];
    const { scale, shift } = this.batchNormAffine(layer, channels);
    this.initializers.push({
      name: `${layer.name}/scale`,
      dims: [channels, 1, 1],
      data: Float32Array.from(scale),
    });
    this.initializers.push({
      name: `${layer.name}/shift`,
      dims: [channels, 1, 1],
      data: Float32Array.from(shift),
    });
    this.emit("Mul", `${layer.name}/mul`, [input.value, `${layer.name}/scale`], [`${layer.name}/scaled`]);
    this.emit("Add", `${layer.name}/add`, [`${layer.name}/scaled`, `${layer.name}/shift`], [layer.name]);
    this.set(layer.name, { value: layer.name, shape: input.shape });
  }

  /** Applies `activation` to the output of layer `inputName` and records the result as `layer`'s output. */
  private activation(layer: KerasLayer, activation: unknown, inputName: string): void {
    if (activation === "linear") {
      this.set(layer.name, this.tensor(inputName));
      return;
    }
    const opType = typeof activation === "string" ? ACTIVATION_OPS[activation] : undefined;
    if (!opType)
      throw new OnnxGraphBuildError(`Layer ${layer.name}: unsupported activation ${String(activation)}`);
    const source = this.materialise(inputName);
    this.emit(opType, `${layer.name}/${opType.toLowerCase()}`, [source.value], [layer.name]);
    this.set(layer.name, { value: layer.name, shape: source.shape });
  }

  private maxPool(layer: KerasLayer): void {
    requireChannelsLast(layer);
    // Keras' zero padding is real data for a max pool (unlike MaxPool's own pads), so apply it with a Pad node.
    const input = this.materialise(layer.inputs[0]!);
    const [c, h, w] = input.shape;
    const kernel = pair(layer.config.pool_size ?? 2, `${layer.name}.pool_size`);
    const strides = pair(layer.config.strides ?? kernel, `${layer.name}.strides`);
    const pads = windowPads(layer.config.padding ?? "valid", [h, w], kernel, strides, [1, 1], layer.name);
    this.emit("MaxPool", layer.name, [input.value], [layer.name], { kernel_shape: kernel, strides, pads });
    this.set(layer.name, {
      value: layer.name,
      shape: [
        c,
        outputSize(h, [pads[0], pads[2]], kernel[0], strides[0], 1),
        outputSize(w, [pads[1], pads[3]], kernel[1], strides[1], 1),
      ],
    });
  }

  private add(layer: KerasLayer): void {
    const inputs = layer.inputs.map((name) => this.materialise(name));
    const shape = inputs[0]!.shape;
    if (inputs.some((t) => t.shape.join() !== shape.join())) {
      throw new OnnxGraphBuildError(`Layer ${layer.name}: inputs of different shapes`);
    }
    const values = inputs.map((t) => t.value);
    this.emit(values.length === 2 ? "Add" : "Sum", layer.name, values, [layer.name]);
    this.set(layer.name, { value: layer.name, shape });
  }

  private pooledOutput(name: string, source: string): GraphValue {
    const input = this.materialise(source);
    this.emit("GlobalAveragePool", `${name}/pool`, [input.value], [`${name}/pooled`]);
    this.emit("Flatten", `${name}/flatten`, [`${name}/pooled`], [name], { axis: 1 });
    return { name, dims: [input.shape[0]] };
  }
}

function batchNormAxisIsChannels(layer: KerasLayer): boolean {
  const axis = layer.config.axis;
  const value = Array.isArray(axis) && axis.length === 1 ? axis[0] : axis;
  return value === 3 || value === -1 || value === undefined;
}

/** Keras kernel [kh, kw, in, out] -> ONNX [out, in, kh, kw]. */
function kernelToOihw(data: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const from = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = data[from + o]!;
      }
    }
  }
  return out;
}

/** Builds the graph description of the layers the pooled outputs depend on. */
export function buildGraph(
  topology: KerasTopology,
  weights: Map<string, WeightTensor>,
  options: BuildGraphOptions,
): GraphDescription {
  const reserved = [options.inputName, ...Object.keys(options.pooledOutputs)];
  for (const layer of topology.layers) {
    if (reserved.includes(layer.name)) {
      throw new OnnxGraphBuildError(`Layer name ${layer.name} collides with a graph input/output name`);
    }
  }
  return new GraphBuilder(topology, weights, options).build();
}

// ---------------------------------------------------------------------------------------------------------------
// The exported classifier: preprocessing + backbone + head in one graph (export-onnx.ts).

/** One weight array of a trained head (head.ts NamedArray): "output/kernel" [d, classes], "output/bias", ... */
export interface HeadWeight {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface ClassifierHead {
  /** "dense": standardise -> Dense(classes); "flatten": standardise -> Dense(hidden, relu) -> Dense(classes). */
  kind: "dense" | "flatten";
  /** The head's input: these pooled backbone outputs (graph output name -> Keras layer), concatenated in order. */
  features: { name: string; source: string }[];
  /** Standardisation of the concatenated features: (x - mean) / std. */
  mean: Float32Array;
  std: Float32Array;
  weights: HeadWeight[];
  numClasses: number;
}

export interface ClassifierGraphOptions {
  /** Graph input: n x H x W x 3 float32, RGB in 0..255 (H, W of the Keras input layer). */
  inputName: string;
  /** Graph output: n x classes float32 softmax probabilities. */
  outputName: string;
  /** Keras "caffe" preprocessing inside the graph: RGB -> BGR, then subtract these BGR means. */
  caffeMeanBgr: readonly [number, number, number];
  /** Average the probabilities of each image and its left-right mirror (test-time augmentation "orig" + "flip"). */
  averageMirror: boolean;
}

const int64 = (values: number[]) => BigInt64Array.from(values.map(BigInt));

/**
 * The whole classifier as one graph: in-graph caffe preprocessing (channel reversal with Gather, mean subtraction),
 * optionally each image and its mirror stacked on the batch axis, the backbone of {@link buildGraph} up to the head's
 * pooled layers, the head (standardisation, dense layer(s), softmax) and, with the mirror, the mean of the two
 * softmax rows of each image.
 */
export function buildClassifierGraph(
  topology: KerasTopology,
  weights: Map<string, WeightTensor>,
  head: ClassifierHead,
  options: ClassifierGraphOptions,
): GraphDescription {
  const backboneInput = "classifier/backbone_input";
  const backbone = buildGraph(topology, weights, {
    inputName: backboneInput,
    pooledOutputs: Object.fromEntries(head.features.map((f) => [f.name, f.source])),
  });
  const [height, width, channels] = backbone.input.dims as [number, number, number];
  if (channels !== 3) throw new OnnxGraphBuildError(`the backbone takes ${channels} channels, not 3 (RGB)`);
  const d = backbone.outputs.reduce((sum, o) => sum + o.dims[0]!, 0);
  if (head.mean.length !== d || head.std.length !== d) {
    throw new OnnxGraphBuildError(
      `the head standardises ${head.mean.length} features; the backbone's layers give ${d}`,
    );
  }
  const nodes: GraphNode[] = [];
  const initializers: GraphInitializer[] = [];
  const node = (
    opType: string,
    name: string,
    inputs: string[],
    outputs: string[],
    attributes: Record<string, AttributeValue> = {},
  ) => nodes.push({ opType, name, inputs, outputs, attributes });
  const constant = (name: string, dims: number[], data: InitializerData) => {
    initializers.push({ name, dims, data });
    return name;
  };
  const weight = (name: string, shape: number[]) => {
    const w = head.weights.find((x) => x.name === name);
    if (!w || w.shape.join() !== shape.join()) {
      throw new OnnxGraphBuildError(`the head has no weight ${name} of shape [${shape.join(", ")}]`);
    }
    return constant(`classifier/${name}`, shape, w.data);
  };

  // Preprocessing: NHWC RGB 0..255 -> BGR minus the ImageNet means (the runner's toCaffeInput).
  const bgrIndices = constant("classifier/bgr_indices", [3], int64([2, 1, 0]));
  node("Gather", "classifier/rgb_to_bgr", [options.inputName, bgrIndices], ["classifier/bgr"], { axis: 3 });
  const meanBgr = constant("classifier/caffe_mean_bgr", [3], Float32Array.from(options.caffeMeanBgr));
  const caffe = options.averageMirror ? "classifier/caffe" : backboneInput;
  node("Sub", "classifier/subtract_mean", ["classifier/bgr", meanBgr], [caffe]);
  if (options.averageMirror) {
    const reversed = Array.from({ length: width }, (_, i) => width - 1 - i);
    const mirrorIndices = constant("classifier/mirror_indices", [width], int64(reversed));
    node("Gather", "classifier/mirror", [caffe, mirrorIndices], ["classifier/mirrored"], { axis: 2 });
    // Originals first, then mirrors: rows i and n + i are one image's two views.
    node("Concat", "classifier/stack_views", [caffe, "classifier/mirrored"], [backboneInput], { axis: 0 });
  }

  // Head.
  const featureNames = backbone.outputs.map((o) => o.name);
  const features = featureNames.length === 1 ? featureNames[0]! : "classifier/features";
  if (featureNames.length > 1)
    node("Concat", "classifier/concat_features", featureNames, [features], { axis: 1 });
  node(
    "Sub",
    "classifier/center",
    [features, constant("classifier/mean", [d], head.mean)],
    ["classifier/centered"],
  );
  node(
    "Div",
    "classifier/scale",
    ["classifier/centered", constant("classifier/std", [d], head.std)],
    ["classifier/standardised"],
  );
  const C = head.numClasses;
  let hidden = "classifier/standardised";
  let hiddenDim = d;
  if (head.kind === "flatten") {
    const kernel = head.weights.find((w) => w.name === "hidden/kernel");
    const units = kernel?.shape[1] ?? 0;
    node(
      "MatMul",
      "classifier/hidden/matmul",
      [hidden, weight("hidden/kernel", [d, units])],
      ["classifier/hidden/linear"],
    );
    node(
      "Add",
      "classifier/hidden/bias",
      ["classifier/hidden/linear", weight("hidden/bias", [units])],
      ["classifier/hidden/preact"],
    );
    node("Relu", "classifier/hidden/relu", ["classifier/hidden/preact"], ["classifier/hidden"]);
    hidden = "classifier/hidden";
    hiddenDim = units;
  }
  node(
    "MatMul",
    "classifier/output/matmul",
    [hidden, weight("output/kernel", [hiddenDim, C])],
    ["classifier/output/linear"],
  );
  node(
    "Add",
    "classifier/output/bias",
    ["classifier/output/linear", weight("output/bias", [C])],
    ["classifier/logits"],
  );
  const probs = options.averageMirror ? "classifier/view_probabilities" : options.outputName;
  node("Softmax", "classifier/softmax", ["classifier/logits"], [probs], { axis: 1 });
  if (options.averageMirror) {
    const shape = constant("classifier/views_shape", [3], int64([2, -1, C]));
    node("Reshape", "classifier/split_views", [probs, shape], ["classifier/views"]);
    node("ReduceMean", "classifier/average_views", ["classifier/views"], [options.outputName], {
      axes: [0],
      keepdims: 0,
    });
  }

  // Preprocessing nodes first, then the backbone, then the head: ONNX wants nodes in topological order.
  const head0 = nodes.findIndex(
    (n) => n.name === "classifier/concat_features" || n.name === "classifier/center",
  );
  return {
    nodes: [...nodes.slice(0, head0), ...backbone.nodes, ...nodes.slice(head0)],
    initializers: [...initializers, ...backbone.initializers],
    input: { name: options.inputName, dims: [height, width, 3] },
    outputs: [{ name: options.outputName, dims: [C] }],
  };
}
