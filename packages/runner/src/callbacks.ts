/**
 * Training callbacks, as Keras and fastai have them: a training loop (the Adam head in head.ts, fine-tuning in
 * finetune.ts) runs its epochs and hands each epoch's record to a list of callbacks; what happens around an epoch
 * (early stopping, checkpointing, history files, progress lines) lives here, once, instead of inside each loop.
 *
 * A loop calls, in the order the callbacks were given: `onTrainBegin` once, `onEpochEnd` after every epoch, and
 * `onTrainEnd` once when training ends for any reason (the last epoch, early stopping, or its AbortSignal).
 * A callback ends training after the current epoch with `loop.stop(...)` (Keras' `model.stop_training = True`).
 */
import type { EpochRecord } from "./head.js";
import type { Progress } from "./progress.js";

/** Why a training loop ended. */
export type StopReason = "early-stopping" | "max-epochs" | "interrupted";

/** What a training loop shows its callbacks. `W` is its weights (copies), `S` its resumable state. */
export interface TrainingLoop<W, S = unknown> {
  /** Every epoch so far (a resumed loop includes the epochs of the run it continues). */
  readonly history: readonly EpochRecord[];
  /** Wall seconds and samples of the epoch that just ended (throughput for progress lines). */
  readonly lastEpoch: { seconds: number; samples: number };
  /** A copy of the current weights. */
  getWeights(): W;
  /** Replaces the current weights (the copy is the loop's afterwards). */
  setWeights(weights: W): void;
  /** The epoch whose weights will be kept: early stopping's best so far, 0 when none is watched. */
  bestEpoch(): number;
  /** Ends training once the current epoch's callbacks have run. */
  stop(reason: StopReason): void;
  /** The state a checkpoint saves after the epoch that just ended (enough to resume exactly). */
  state(): Promise<S>;
}

export interface TrainingCallback<W = unknown, S = unknown> {
  onTrainBegin?(loop: TrainingLoop<W, S>): void | Promise<void>;
  onEpochEnd?(record: EpochRecord, loop: TrainingLoop<W, S>): void | Promise<void>;
  onTrainEnd?(loop: TrainingLoop<W, S>, reason: StopReason): void | Promise<void>;
}

/** Runs each hook of `callbacks` in order (what a training loop calls). */
export const callbackList = <W, S>(callbacks: readonly TrainingCallback<W, S>[]) => ({
  async trainBegin(loop: TrainingLoop<W, S>): Promise<void> {
    for (const c of callbacks) await c.onTrainBegin?.(loop);
  },
  async epochEnd(record: EpochRecord, loop: TrainingLoop<W, S>): Promise<void> {
    for (const c of callbacks) await c.onEpochEnd?.(record, loop);
  },
  async trainEnd(loop: TrainingLoop<W, S>, reason: StopReason): Promise<void> {
    for (const c of callbacks) await c.onTrainEnd?.(loop, reason);
  },
});

/** Early stopping's progress: what a checkpoint saves of it and a resumed run restores. */
export interface EarlyStoppingState<W> {
  /** Best monitored value so far (Infinity before any). */
  best: number;
  /** Epoch of `best` (0 before any: the weights training started from). */
  bestEpoch: number;
  /** Watched epochs since the last improvement. */
  wait: number;
  /** The weights of `bestEpoch` (undefined before any improvement: the current weights are kept). */
  bestWeights: W | undefined;
}

export interface EarlyStoppingOptions<W> {
  /** The EpochRecord field watched; lower is better. Default "valLoss". */
  monitor?: "valLoss" | "loss" | "dataLoss";
  /** Watched epochs without an improvement before training stops. */
  patience: number;
  /** An improvement must lower the best value by more than this. Default 0. */
  minDelta?: number;
  /** Epochs up to this one are not watched (Keras' start_from_epoch). Default 0. */
  startFromEpoch?: number;
  /** At the end of training, set the weights of the best epoch (when there was one). Default true. */
  restoreBestWeights?: boolean;
  /**
   * Where to start from: a resumed run's saved state, or a baseline measured before training (fine-tuning starts
   * with the head-trained weights as epoch 0's best).
   */
  initial?: Partial<EarlyStoppingState<W>>;
  /** Frees a set of weights the callback no longer holds (tensors); default nothing. */
  release?: (weights: W) => void;
}

/**
 * Keras' EarlyStopping: watches `monitor` after `startFromEpoch`, keeps a copy of the best epoch's weights, stops
 * training once `patience` watched epochs in a row have not improved on it by more than `minDelta`, and restores
 * the best weights when training ends.
 */
export class EarlyStopping<W> implements TrainingCallback<W> {
  readonly monitor: "valLoss" | "loss" | "dataLoss";
  readonly patience: number;
  readonly minDelta: number;
  readonly startFromEpoch: number;
  readonly restoreBestWeights: boolean;
  private current: EarlyStoppingState<W>;
  private readonly release: (weights: W) => void;

  constructor(options: EarlyStoppingOptions<W>) {
    this.monitor = options.monitor ?? "valLoss";
    this.patience = options.patience;
    this.minDelta = options.minDelta ?? 0;
    this.startFromEpoch = options.startFromEpoch ?? 0;
    this.restoreBestWeights = options.restoreBestWeights ?? true;
    this.release = options.release ?? (() => {});
    this.current = {
      best: options.initial?.best ?? Number.POSITIVE_INFINITY,
      bestEpoch: options.initial?.bestEpoch ?? 0,
      wait: options.initial?.wait ?? 0,
      bestWeights: options.initial?.bestWeights,
    };
  }

  /** The state to checkpoint (its `bestWeights` stays the callback's). */
  get state(): Readonly<EarlyStoppingState<W>> {
    return this.current;
  }

  /** True once `patience` watched epochs have gone by without an improvement. */
  get exhausted(): boolean {
    return this.current.wait >= this.patience;
  }

  onTrainBegin(loop: TrainingLoop<W>): void {
    // A resumed run whose patience had already run out trains no further epoch.
    if (this.exhausted) loop.stop("early-stopping");
  }

  onEpochEnd(record: EpochRecord, loop: TrainingLoop<W>): void {
    if (record.epoch <= this.startFromEpoch) return;
    const value = record[this.monitor] ?? Number.NaN;
    if (value < this.current.best - this.minDelta) {
      if (this.current.bestWeights !== undefined) this.release(this.current.bestWeights);
      this.current = { best: value, bestEpoch: record.epoch, wait: 0, bestWeights: loop.getWeights() };
    } else {
      this.current = { ...this.current, wait: this.current.wait + 1 };
    }
    if (this.exhausted) loop.stop("early-stopping");
  }

  onTrainEnd(loop: TrainingLoop<W>): void {
    const { bestWeights } = this.current;
    if (!this.restoreBestWeights || bestWeights === undefined) return;
    loop.setWeights(bestWeights);
    this.current = { ...this.current, bestWeights: undefined };
  }
}

/** After every epoch, saves the loop's resumable state (Keras' BackupAndRestore): `--resume` continues from it. */
export class Checkpointing<S> implements TrainingCallback<unknown, S> {
  constructor(private readonly save: (state: S) => Promise<void>) {}

  async onEpochEnd(_record: EpochRecord, loop: TrainingLoop<unknown, S>): Promise<void> {
    await this.save(await loop.state());
  }
}

/**
 * After every epoch, hands the history so far and the best epoch to `write` (history.json / history.csv), so a
 * run cut off by walltime, SIGTERM or SIGKILL still leaves its history (Keras' CSVLogger).
 */
export class HistoryRecorder implements TrainingCallback {
  constructor(
    private readonly write: (history: readonly EpochRecord[], bestEpoch: number) => Promise<void>,
  ) {}

  async onEpochEnd(_record: EpochRecord, loop: TrainingLoop<unknown>): Promise<void> {
    await this.write([...loop.history], loop.bestEpoch());
  }
}

/** A permanent progress line per epoch, as `format` words it. */
export class EpochProgress implements TrainingCallback {
  constructor(
    private readonly progress: Progress,
    private readonly format: (record: EpochRecord, loop: TrainingLoop<unknown>) => string,
  ) {}

  onEpochEnd(record: EpochRecord, loop: TrainingLoop<unknown>): void {
    this.progress.log(this.format(record, loop));
  }
}
