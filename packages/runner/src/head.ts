import {
  callbackList,
  EarlyStopping,
  type StopReason,
  type TrainingCallback,
  type TrainingLoop,
} from "./callbacks.js";
import { FEATURE_LAYERS, type FeatureLayer } from "./features/engine.js";
import { argmax, meanLogLoss } from "./metrics.js";
import { Rng } from "./rng.js";
import type { NamedArray } from "./tensors.js";

/**
 * The classification head trained on cached pooled features.
 * - "dense" (default): standardised concatenation of the chosen pooled layers -> dropout -> Dense(classes),
 *   softmax; L2 on the kernel. A multinomial logistic regression: the right size for ~400 training images.
 * - "flatten": the notebook's Flatten -> Dense(256, relu) -> Dropout -> Dense(classes) head. The notebook
 *   flattened the 4x4x2048 conv5 map of a 128 px input; here the backbone is frozen and its features cached, so
 *   the head flattens the (standardised) pooled features instead of the spatial map.
 */
export type HeadKind = "dense" | "flatten";
/**
 * How the head is fitted: "exact" (the dense head only, default): the optimum of its convex objective by L-BFGS
 * (logreg.ts); "adam": mini-batch Adam epochs with early stopping (the flatten head's only solver).
 */
export type HeadSolver = "exact" | "adam";
export const HEAD_SOLVERS: readonly HeadSolver[] = ["exact", "adam"];
export const HEAD_KINDS: readonly HeadKind[] = ["dense", "flatten"];
const FLATTEN_HIDDEN = 256;
export const DEFAULT_HEAD_EPOCHS = 40;
/**
 * Default peak learning rates. The dense head's was measured on BUSI (bench/head.ts; figures in docs/benchmarks.md,
 * "Head training settings"): 40 cosine-decayed epochs from 1e-2 did as well as 60 from 5e-3, within noise, in two
 * thirds of the time, and came near the exact optimum of its convex objective (docs/runner.md). The flatten head
 * keeps Adam's usual 1e-3.
 */
export const DEFAULT_LEARNING_RATES: Record<HeadKind, number> = { dense: 1e-2, flatten: 1e-3 };

export interface HeadConfig {
  kind: HeadKind;
  /** Absent in heads saved before the exact solver: "adam". */
  solver?: HeadSolver;
  layers: FeatureLayer[];
  l2: number;
  dropout: number;
  /** Adam's learning rate at the first epoch; it decays along a cosine to 0 at maxEpochs (`learningRateAt`). */
  learningRate: number;
  batchSize: number;
  maxEpochs: number;
  /** Early stopping: epochs without a lower validation loss before stopping. */
  patience: number;
  /**
   * Early stopping watches the validation loss only after this epoch (Keras' start_from_epoch): while the learning
   * rate is high the validation loss jumps about, and stopping there left the head well short of its optimum (BUSI,
   * bench/head.ts: docs/benchmarks.md, "Head training settings", watched from epoch 1 against epoch 20).
   */
  startFromEpoch: number;
}

export interface Matrix {
  /** Row-major n x d. */
  x: Float32Array;
  n: number;
  d: number;
}

export interface LabelledMatrix extends Matrix {
  y: Int32Array;
}

export interface EpochRecord {
  epoch: number;
  /** Training objective, mean over the epoch's batches: class-weighted cross-entropy (dropout on) + L2 penalty. */
  loss: number;
  /**
   * `loss` without the L2 penalty: the data term alone, comparable with `valLoss` (which has no penalty). Absent
   * in fine-tuning histories and in checkpoints written before it existed.
   */
  dataLoss?: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
}

/** A trained head: everything predict needs (saved as head.json + head.weights.*). */
export interface HeadModel {
  config: HeadConfig;
  numClasses: number;
  mean: Float32Array;
  std: Float32Array;
  weights: NamedArray[];
}

/** Resumable training state, written after every epoch. */
export interface HeadTrainingState {
  epoch: number;
  history: EpochRecord[];
  bestEpoch: number;
  bestValLoss: number;
  wait: number;
  rngState: number;
  weights: NamedArray[];
  bestWeights: NamedArray[];
  optimizer: NamedArray[];
  mean: Float32Array;
  std: Float32Array;
}

export interface TrainHeadOptions {
  numClasses: number;
  seed: number;
  /** Per-class loss weights (index = class); default balanced from the training labels. */
  classWeights?: number[];
  resume?: HeadTrainingState;
  /**
   * Called around the epochs after the head's own early stopping (built from the config when there is validation):
   * checkpointing, history files, progress lines (callbacks.ts).
   */
  callbacks?: readonly TrainingCallback<NamedArray[], HeadTrainingState>[];
  /** Checked after every epoch: once aborted, training ends with stopReason "interrupted". */
  signal?: AbortSignal;
  /**
   * Without validation rows (a refit on every labelled image): train this many epochs of the `maxEpochs` cosine
   * schedule and keep the last weights (default maxEpochs). Ignored when there is validation.
   */
  epochs?: number;
}

export interface TrainHeadResult {
  model: HeadModel;
  history: EpochRecord[];
  bestEpoch: number;
  stopReason: StopReason;
}

export function featureDim(layers: readonly FeatureLayer[]): number {
  return layers.reduce((sum, layer) => sum + FEATURE_LAYERS[layer].dim, 0);
}

/** Balanced class weights n / (k * n_c), as scikit-learn's "balanced" and the usual Keras recipe. */
export function balancedClassWeights(y: Int32Array, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const label of y) counts[label]!++;
  return counts.map((c) => (c === 0 ? 0 : y.length / (numClasses * c)));
}

export function standardisation(m: Matrix): { mean: Float32Array; std: Float32Array } {
  const mean = new Float32Array(m.d);
  const std = new Float32Array(m.d);
  for (let i = 0; i < m.n; i++) for (let j = 0; j < m.d; j++) mean[j]! += m.x[i * m.d + j]! / m.n;
  for (let i = 0; i < m.n; i++) {
    for (let j = 0; j < m.d; j++) std[j]! += (m.x[i * m.d + j]! - mean[j]!) ** 2 / m.n;
  }
  for (let j = 0; j < m.d; j++) std[j] = Math.sqrt(std[j]!) + 1e-6;
  return { mean, std };
}

/** Parameters of a head, in a fixed order (kernels are L2-regularised). */
interface Param {
  name: string;
  shape: number[];
  value: Float32Array;
  grad: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

function makeParams(config: HeadConfig, d: number, numClasses: number, rng: Rng): Param[] {
  const shapes: [string, number[]][] =
    config.kind === "flatten"
      ? [
          ["hidden/kernel", [d, FLATTEN_HIDDEN]],
          ["hidden/bias", [FLATTEN_HIDDEN]],
          ["output/kernel", [FLATTEN_HIDDEN, numClasses]],
          ["output/bias", [numClasses]],
        ]
      : [
          ["output/kernel", [d, numClasses]],
          ["output/bias", [numClasses]],
        ];
  return shapes.map(([name, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const value = new Float32Array(size);
    if (shape.length === 2) {
      const limit = Math.sqrt(6 / (shape[0]! + shape[1]!));
      for (let i = 0; i < size; i++) value[i] = (rng.next() * 2 - 1) * limit;
    }
    return {
      name,
      shape,
      value,
      grad: new Float32Array(size),
      m: new Float32Array(size),
      v: new Float32Array(size),
    };
  });
}

/**
 * Forward (and, when `backward` is given, backward) pass over rows of a standardised matrix. Plain typed-array
 * loops: for heads this small they beat TF.js op dispatch by an order of magnitude, and they make the head
 * independent of any TF.js backend (predict with the onnx engine loads no TF.js at all).
 */
function run(
  config: HeadConfig,
  params: Param[],
  x: Float32Array,
  d: number,
  rows: readonly number[],
  numClasses: number,
  training?: { rng: Rng; labels: Int32Array; weights: Float32Array },
): { probs: Float32Array; loss: number; dataLoss: number } {
  const C = numClasses;
  const B = rows.length;
  const probs = new Float32Array(B * C);
  const flatten = config.kind === "flatten";
  const [k1, b1, k2, b2] = flatten ? params : [undefined, undefined, params[0]!, params[1]!];
  const H = flatten ? FLATTEN_HIDDEN : d;
  const dropout = training ? config.dropout : 0;
  const keep = 1 - dropout;
  const dropping = dropout > 0;
  const scale = 1 / keep;
  // The dense head without dropout reads its input rows in place; otherwise each row's hidden units are written here.
  const inPlace = !flatten && !dropping;
  const hidden = inPlace ? undefined : new Float32Array(B * H);
  const hiddenRows: Float32Array[] = [];
  for (let r = 0; r < B; r++) {
    const xo = rows[r]! * d;
    const h = hidden ? hidden.subarray(r * H, (r + 1) * H) : x.subarray(xo, xo + d);
    hiddenRows.push(h);
    if (flatten) {
      h.set(b1!.value);
      const w = k1!.value;
      for (let j = 0; j < d; j++) {
        const xj = x[xo + j]!;
        if (xj === 0) continue;
        const wo = j * H;
        for (let k = 0; k < H; k++) h[k]! += xj * w[wo + k]!;
      }
      for (let k = 0; k < H; k++) if (h[k]! < 0) h[k] = 0;
    } else if (!inPlace) {
      h.set(x.subarray(xo, xo + d));
    }
    if (dropping) {
      // Inline xorshift32 seeded from the run's PRNG: dropout draws one number per unit, far too many for
      // method calls (docs/benchmarks.md, "Head hot loops").
      let state = training!.rng.nextSeed() | 1;
      const threshold = keep * 4294967296;
      for (let k = 0; k < H; k++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        const kept = state >>> 0 < threshold;
        h[k] = kept ? h[k]! * scale : 0;
      }
    }
    probs.set(b2!.value, r * C);
  }
  addProducts(hiddenRows, k2!.value, C, probs);
  for (let r = 0; r < B; r++) {
    const z = probs.subarray(r * C, (r + 1) * C);
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < C; c++) max = Math.max(max, z[c]!);
    let sum = 0;
    for (let c = 0; c < C; c++) {
      z[c] = Math.exp(z[c]! - max);
      sum += z[c]!;
    }
    for (let c = 0; c < C; c++) z[c]! /= sum;
  }
  if (!training) return { probs, loss: Number.NaN, dataLoss: Number.NaN };

  // Class-weighted mean cross-entropy (sum of weighted losses / batch size, as Keras) + L2 on kernels.
  let loss = 0;
  const gz = new Float32Array(B * C);
  for (let r = 0; r < B; r++) {
    const label = training.labels[rows[r]!]!;
    const w = training.weights[rows[r]!]!;
    loss -= (w * Math.log(Math.max(probs[r * C + label]!, 1e-12))) / B;
    for (let c = 0; c < C; c++) gz[r * C + c] = (w * (probs[r * C + c]! - (c === label ? 1 : 0))) / B;
  }
  for (const p of params) p.grad.fill(0);
  for (let r = 0; r < B; r++) for (let c = 0; c < C; c++) b2!.grad[c]! += gz[r * C + c]!;
  addOuterProducts(hiddenRows, gz, C, k2!.grad);
  if (!flatten) return { probs, loss: loss + addL2(config, params), dataLoss: loss };
  const gh = new Float32Array(H);
  for (let r = 0; r < B; r++) {
    const h = hiddenRows[r]!;
    const g = gz.subarray(r * C, (r + 1) * C);
    for (let k = 0; k < H; k++) {
      if (h[k] === 0) {
        gh[k] = 0; // relu inactive or dropped
        continue;
      }
      let sum = 0;
      for (let c = 0; c < C; c++) sum += g[c]! * k2!.value[k * C + c]!;
      gh[k] = dropping ? sum * scale : sum;
    }
    for (let k = 0; k < H; k++) b1!.grad[k]! += gh[k]!;
    const xo = rows[r]! * d;
    for (let j = 0; j < d; j++) {
      const xj = x[xo + j]!;
      if (xj === 0) continue;
      const wo = j * H;
      for (let k = 0; k < H; k++) k1!.grad[wo + k]! += xj * gh[k]!;
    }
  }
  return { probs, loss: loss + addL2(config, params), dataLoss: loss };
}

/** Adds the L2 penalty's gradient to the kernels' gradients; returns the penalty. */
function addL2(config: HeadConfig, params: Param[]): number {
  let penalty = 0;
  for (const p of params) {
    if (!p.name.endsWith("kernel") || config.l2 === 0) continue;
    for (let i = 0; i < p.value.length; i++) {
      penalty += config.l2 * p.value[i]! ** 2;
      p.grad[i]! += 2 * config.l2 * p.value[i]!;
    }
  }
  return penalty;
}

/*
 * The head's hot loops: a row of H inputs against an H x C kernel (row-major, Keras order), C small. Three classes
 * per pass over the row, in registers: V8 runs that faster than one pass per class or an inner loop over classes
 * (docs/benchmarks.md, "Head hot loops").
 */

/**
 * out[r * C + c] += sum_k hs[r][k] * w[k * C + c] for every row r. With three classes, four rows share each pass
 * over the kernel (12 sums in registers: fewer loads of the kernel). Each row's sums run over k in the same order as
 * `addProduct`, so the results are identical to it.
 */
export function addProducts(
  hs: readonly Float32Array[],
  w: Float32Array,
  C: number,
  out: Float32Array,
): void {
  inBlocksOfFour(
    hs,
    C,
    (r, h0, h1, h2, h3) => {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let c0 = 0;
      let c1 = 0;
      let c2 = 0;
      let d0 = 0;
      let d1 = 0;
      let d2 = 0;
      for (let k = 0, o = 0; k < h0.length; k++, o += 3) {
        const w0 = w[o]!;
        const w1 = w[o + 1]!;
        const w2 = w[o + 2]!;
        const p = h0[k]!;
        const q = h1[k]!;
        const s = h2[k]!;
        const t = h3[k]!;
        a0 += p * w0;
        a1 += p * w1;
        a2 += p * w2;
        b0 += q * w0;
        b1 += q * w1;
        b2 += q * w2;
        c0 += s * w0;
        c1 += s * w1;
        c2 += s * w2;
        d0 += t * w0;
        d1 += t * w1;
        d2 += t * w2;
      }
      const o = r * 3;
      out[o]! += a0;
      out[o + 1]! += a1;
      out[o + 2]! += a2;
      out[o + 3]! += b0;
      out[o + 4]! += b1;
      out[o + 5]! += b2;
      out[o + 6]! += c0;
      out[o + 7]! += c1;
      out[o + 8]! += c2;
      out[o + 9]! += d0;
      out[o + 10]! += d1;
      out[o + 11]! += d2;
    },
    (r) => addProduct(hs[r]!, w, C, out.subarray(r * C, (r + 1) * C)),
  );
}

/**
 * grad[k * C + c] += sum_r hs[r][k] * gs[r * C + c]. With three classes, four rows share each pass over the
 * gradient (fewer loads and stores of it); every element still adds the rows one by one in order, rounded to float32 after
 * each add as a store would, so the results are identical to one `addOuterProduct` per row.
 */
export function addOuterProducts(
  hs: readonly Float32Array[],
  gs: Float32Array,
  C: number,
  grad: Float32Array,
): void {
  const f = Math.fround;
  inBlocksOfFour(
    hs,
    C,
    (r, h0, h1, h2, h3) => {
      const g = r * 3;
      const a0 = gs[g]!;
      const a1 = gs[g + 1]!;
      const a2 = gs[g + 2]!;
      const b0 = gs[g + 3]!;
      const b1 = gs[g + 4]!;
      const b2 = gs[g + 5]!;
      const c0 = gs[g + 6]!;
      const c1 = gs[g + 7]!;
      const c2 = gs[g + 8]!;
      const d0 = gs[g + 9]!;
      const d1 = gs[g + 10]!;
      const d2 = gs[g + 11]!;
      for (let k = 0, o = 0; k < h0.length; k++, o += 3) {
        const p = h0[k]!;
        const q = h1[k]!;
        const s = h2[k]!;
        const t = h3[k]!;
        grad[o] = f(f(f(f(grad[o]! + p * a0) + q * b0) + s * c0) + t * d0);
        grad[o + 1] = f(f(f(f(grad[o + 1]! + p * a1) + q * b1) + s * c1) + t * d1);
        grad[o + 2] = f(f(f(f(grad[o + 2]! + p * a2) + q * b2) + s * c2) + t * d2);
      }
    },
    (r) => addOuterProduct(hs[r]!, gs.subarray(r * C, (r + 1) * C), grad),
  );
}

/** Calls `block` for each run of four rows when there are three classes (the unrolled kernels), `single` for the rest. */
function inBlocksOfFour(
  hs: readonly Float32Array[],
  C: number,
  block: (r: number, h0: Float32Array, h1: Float32Array, h2: Float32Array, h3: Float32Array) => void,
  single: (r: number) => void,
): void {
  let r = 0;
  if (C === 3) for (; r + 4 <= hs.length; r += 4) block(r, hs[r]!, hs[r + 1]!, hs[r + 2]!, hs[r + 3]!);
  for (; r < hs.length; r++) single(r);
}

/** z[c] += sum_k h[k] * w[k * C + c]. */
export function addProduct(h: Float32Array, w: Float32Array, C: number, z: Float32Array): void {
  const H = h.length;
  let c = 0;
  for (; c + 3 <= C; c += 3) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    for (let k = 0, o = c; k < H; k++, o += C) {
      const hk = h[k]!;
      s0 += hk * w[o]!;
      s1 += hk * w[o + 1]!;
      s2 += hk * w[o + 2]!;
    }
    z[c]! += s0;
    z[c + 1]! += s1;
    z[c + 2]! += s2;
  }
  for (; c < C; c++) {
    let s = 0;
    for (let k = 0, o = c; k < H; k++, o += C) s += h[k]! * w[o]!;
    z[c]! += s;
  }
}

/** grad[k * C + c] += h[k] * g[c] (C = g.length). */
export function addOuterProduct(h: Float32Array, g: Float32Array, grad: Float32Array): void {
  const H = h.length;
  const C = g.length;
  let c = 0;
  for (; c + 3 <= C; c += 3) {
    const g0 = g[c]!;
    const g1 = g[c + 1]!;
    const g2 = g[c + 2]!;
    for (let k = 0, o = c; k < H; k++, o += C) {
      const hk = h[k]!;
      grad[o]! += hk * g0;
      grad[o + 1]! += hk * g1;
      grad[o + 2]! += hk * g2;
    }
  }
  for (; c < C; c++) {
    const gc = g[c]!;
    for (let k = 0, o = c; k < H; k++, o += C) grad[o]! += h[k]! * gc;
  }
}

const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/**
 * The learning rate of an epoch (1-based): cosine decay from `learningRate` towards 0 over `maxEpochs`, as Keras'
 * CosineDecay stepped per epoch. A constant rate kept the weights of this convex head jittering around its
 * optimum (one BUSI fold's validation loss: docs/runner.md).
 */
export function learningRateAt(
  config: Pick<HeadConfig, "learningRate" | "maxEpochs">,
  epoch: number,
): number {
  return config.learningRate * 0.5 * (1 + Math.cos((Math.PI * (epoch - 1)) / config.maxEpochs));
}

function adamStep(params: Param[], learningRate: number, step: number): void {
  const correction1 = 1 - ADAM.beta1 ** step;
  const correction2 = 1 - ADAM.beta2 ** step;
  for (const p of params) {
    for (let i = 0; i < p.value.length; i++) {
      const g = p.grad[i]!;
      p.m[i] = ADAM.beta1 * p.m[i]! + (1 - ADAM.beta1) * g;
      p.v[i] = ADAM.beta2 * p.v[i]! + (1 - ADAM.beta2) * g * g;
      p.value[i]! -=
        (learningRate * (p.m[i]! / correction1)) / (Math.sqrt(p.v[i]! / correction2) + ADAM.epsilon);
    }
  }
}

export function standardised(m: Matrix, mean: Float32Array, std: Float32Array): Float32Array {
  const out = new Float32Array(m.n * m.d);
  for (let i = 0; i < m.n; i++) {
    for (let j = 0; j < m.d; j++) out[i * m.d + j] = (m.x[i * m.d + j]! - mean[j]!) / std[j]!;
  }
  return out;
}

const weightsOf = (params: Param[]): NamedArray[] =>
  params.map((p) => ({ name: p.name, shape: p.shape, data: Float32Array.from(p.value) }));

function evaluate(
  config: HeadConfig,
  params: Param[],
  x: Float32Array,
  m: LabelledMatrix,
  numClasses: number,
) {
  const rows = Array.from({ length: m.n }, (_, i) => i);
  const { probs } = run(config, params, x, m.d, rows, numClasses);
  let correct = 0;
  for (let i = 0; i < m.n; i++) {
    if (argmax(probs.subarray(i * numClasses, (i + 1) * numClasses)) === m.y[i]) correct++;
  }
  return { loss: meanLogLoss(probs, m.y, numClasses), accuracy: m.n > 0 ? correct / m.n : 0 };
}

/**
 * Trains the head with Adam on mini-batches (cosine-decayed learning rate), class-weighted cross-entropy + L2.
 * With validation rows, Keras-style early stopping (callbacks.ts `EarlyStopping`) watches the validation loss after
 * `startFromEpoch` and restores the best weights. Deterministic for a seed (shuffles, initialisation, dropout masks).
 */
export async function trainHead(
  config: HeadConfig,
  train: LabelledMatrix,
  val: LabelledMatrix | undefined,
  options: TrainHeadOptions,
): Promise<TrainHeadResult> {
  const { numClasses } = options;
  const resume = options.resume;
  const initRng = new Rng(options.seed);
  const params = makeParams(config, train.d, numClasses, initRng);
  const rng = resume ? Rng.fromState(resume.rngState) : initRng;
  const { mean, std } = resume ?? standardisation(train);
  const classWeights = options.classWeights ?? balancedClassWeights(train.y, numClasses);
  const xTrain = standardised(train, mean, std);
  const xVal = val && standardised(val, mean, std);
  // Without validation there is nothing to stop early on: a fixed number of epochs (from cross-validation).
  const lastEpoch = val ? config.maxEpochs : Math.min(options.epochs ?? config.maxEpochs, config.maxEpochs);
  const sampleWeights = Float32Array.from(train.y, (label) => classWeights[label]!);

  const history: EpochRecord[] = resume ? [...resume.history] : [];
  // Only validation rows give early stopping something to watch; a refit trains its fixed epochs.
  const earlyStopping =
    val &&
    new EarlyStopping<NamedArray[]>({
      monitor: "valLoss",
      patience: config.patience,
      minDelta: 1e-6,
      startFromEpoch: config.startFromEpoch,
      initial: resume && {
        best: resume.bestValLoss,
        bestEpoch: resume.bestEpoch,
        wait: resume.wait,
        bestWeights: resume.bestWeights.length > 0 ? resume.bestWeights : undefined,
      },
    });
  let step = 0;
  if (resume) {
    restore(params, resume.weights, "value");
    restore(
      params,
      resume.optimizer.filter((a) => a.name.endsWith("/m")),
      "m",
    );
    restore(
      params,
      resume.optimizer.filter((a) => a.name.endsWith("/v")),
      "v",
    );
    step = resume.optimizer.find((a) => a.name === "step")?.data[0] ?? 0;
  }
  let epoch = resume?.epoch ?? 0;
  let stopRequest: StopReason | undefined;
  const loop: TrainingLoop<NamedArray[], HeadTrainingState> = {
    history,
    lastEpoch: { seconds: 0, samples: 0 },
    getWeights: () => weightsOf(params),
    setWeights: (weights) => restore(params, weights, "value"),
    bestEpoch: () => earlyStopping?.state.bestEpoch ?? resume?.bestEpoch ?? 0,
    stop: (reason) => {
      stopRequest = reason;
    },
    state: async () => {
      const stopping = earlyStopping?.state;
      return {
        epoch,
        history: [...history],
        bestEpoch: loop.bestEpoch(),
        bestValLoss: stopping?.best ?? resume?.bestValLoss ?? Number.POSITIVE_INFINITY,
        wait: stopping?.wait ?? resume?.wait ?? 0,
        rngState: rng.getState(),
        weights: weightsOf(params),
        bestWeights: stopping?.bestWeights ?? (stopping ? [] : (resume?.bestWeights ?? [])),
        optimizer: [
          { name: "step", shape: [1], data: Float32Array.of(step) },
          ...params.map((p) => ({ name: `${p.name}/m`, shape: p.shape, data: Float32Array.from(p.m) })),
          ...params.map((p) => ({ name: `${p.name}/v`, shape: p.shape, data: Float32Array.from(p.v) })),
        ],
        mean,
        std,
      };
    },
  };
  const callbacks = callbackList<NamedArray[], HeadTrainingState>([
    ...(earlyStopping ? [earlyStopping] : []),
    ...(options.callbacks ?? []),
  ]);
  await callbacks.trainBegin(loop);
  let stopReason: StopReason = stopRequest ?? "max-epochs";
  while (stopRequest === undefined && epoch < lastEpoch) {
    epoch++;
    const epochStart = performance.now();
    const learningRate = learningRateAt(config, epoch);
    const order = rng.shuffle(Array.from({ length: train.n }, (_, i) => i));
    let lossSum = 0;
    let dataLossSum = 0;
    let correct = 0;
    for (let start = 0; start < train.n; start += config.batchSize) {
      const rows = order.slice(start, start + config.batchSize);
      const { probs, loss, dataLoss } = run(config, params, xTrain, train.d, rows, numClasses, {
        rng,
        labels: train.y,
        weights: sampleWeights,
      });
      adamStep(params, learningRate, ++step);
      lossSum += loss * rows.length;
      dataLossSum += dataLoss * rows.length;
      for (let r = 0; r < rows.length; r++) {
        if (argmax(probs.subarray(r * numClasses, (r + 1) * numClasses)) === train.y[rows[r]!]) correct++;
      }
    }
    const valResult =
      val && xVal
        ? evaluate(config, params, xVal, val, numClasses)
        : { loss: Number.NaN, accuracy: Number.NaN };
    const record: EpochRecord = {
      epoch,
      loss: lossSum / train.n,
      dataLoss: dataLossSum / train.n,
      accuracy: correct / train.n,
      valLoss: valResult.loss,
      valAccuracy: valResult.accuracy,
    };
    history.push(record);
    loop.lastEpoch.seconds = (performance.now() - epochStart) / 1000;
    loop.lastEpoch.samples = train.n;
    await callbacks.epochEnd(record, loop);
    // An epoch takes milliseconds: the signal is honoured between epochs, after the callbacks saved this one.
    if (stopRequest === undefined && options.signal?.aborted && epoch < lastEpoch)
      stopRequest = "interrupted";
    stopReason = stopRequest ?? "max-epochs";
  }
  const bestEpoch = loop.bestEpoch();
  await callbacks.trainEnd(loop, stopReason);
  return {
    model: { config, numClasses, mean, std, weights: weightsOf(params) },
    history,
    bestEpoch,
    stopReason,
  };
}

function restore(params: Param[], arrays: readonly NamedArray[], field: "value" | "m" | "v"): void {
  for (const p of params) {
    const a = arrays.find((w) => w.name === p.name || w.name === `${p.name}/${field}`);
    if (!a || a.data.length !== p.value.length)
      throw new Error(`saved head state lacks ${p.name} (${field})`);
    p[field].set(a.data);
  }
}

/** Class probabilities (n x numClasses, row-major) for raw (unstandardised) feature rows. */
export function predictHead(model: HeadModel, m: Matrix): Float32Array {
  const params = makeParams(model.config, m.d, model.numClasses, new Rng(0));
  restore(params, model.weights, "value");
  const rows = Array.from({ length: m.n }, (_, i) => i);
  return run(model.config, params, standardised(m, model.mean, model.std), m.d, rows, model.numClasses).probs;
}
