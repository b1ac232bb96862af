import { mkdir } from "node:fs/promises";
import path from "node:path";
import { firstViews, type ViewSpec } from "../augment.js";
import { Checkpoint } from "../checkpoint.js";
import { type CvCandidate, DEFAULT_CANDIDATES, EXACT_CANDIDATES } from "../cv.js";
import { chooseDevice, type DeviceChoice, describeDevice } from "../device.js";
import { RunInterruptedError, UnsupportedError } from "../errors.js";
import type { FeatureLayer } from "../features/engine.js";
import {
  DEFAULT_HEAD_EPOCHS,
  DEFAULT_LEARNING_RATES,
  type HeadConfig,
  type HeadKind,
  type HeadSolver,
} from "../head.js";
import { createProgress, type Progress } from "../progress.js";
import { checkTrainOptions, type FinalFit } from "../rules.js";
import type { TrainOptions } from "../train.js";

/** The settings of a run, resolved once from its options (defaults applied): what every stage reads. */
export interface RunPlan {
  kind: HeadKind;
  solver: HeadSolver;
  finalFit: FinalFit;
  /** The settings cross-validation chooses among (the solver's grid, or the `--layers` asked for). */
  candidates: CvCandidate[];
  folds: number;
  /** Cross-validation runs: two folds or more and more than one candidate. */
  crossValidating: boolean;
  /** Views per training image, and the test-time views whose predictions are averaged. */
  views: ViewSpec[];
  ttaViews: ViewSpec[];
  /** The head settings cross-validation does not choose. */
  base: Omit<HeadConfig, "layers" | "l2" | "dropout">;
}

/**
 * What the stages of a run share (stages/*.ts): its options and plan, output folder, device, checkpoint, progress,
 * stage timings and the one AbortSignal that stops it. Each stage reads it plus what earlier stages returned.
 */
export interface RunContext {
  readonly options: TrainOptions;
  readonly plan: RunPlan;
  /** The output folder (absolute; created). */
  readonly out: string;
  readonly seed: number;
  readonly startedAt: Date;
  readonly device: DeviceChoice;
  readonly checkpoint: Checkpoint;
  readonly progress: Progress;
  /** Aborted by the caller's signal or the walltime: every stage stops at its next check. */
  readonly signal: AbortSignal;
  /** Seconds per stage, as run.json reports them. */
  readonly timings: Record<string, number>;
  /** Records the time since the previous lap (or the run's start) as `timings[name]`. */
  lap(name: string): void;
  /** The error a stopped run ends with: the reason it was stopped and where its checkpoint is. */
  interrupted(): RunInterruptedError;
  /** Runs `close` when the run ends, however it ends (engines the run opened). */
  onClose(close: () => Promise<void>): void;
}

export function planRun(options: TrainOptions): RunPlan {
  const kind = options.head ?? "dense";
  const solver: HeadSolver = options.solver ?? (kind === "dense" ? "exact" : "adam");
  const grid = solver === "exact" ? EXACT_CANDIDATES : DEFAULT_CANDIDATES;
  const sameLayers = (c: { layers: FeatureLayer[] }) => c.layers.join("+") === options.layers!.join("+");
  const candidates = options.layers
    ? grid.filter(sameLayers).concat(grid.some(sameLayers) ? [] : [{ ...grid[0]!, layers: options.layers }])
    : grid;
  const folds = options.cvFolds ?? 5;
  const maxEpochs = options.epochs ?? DEFAULT_HEAD_EPOCHS;
  return {
    kind,
    solver,
    finalFit: options.finalFit ?? "train+val",
    candidates,
    folds,
    crossValidating: folds >= 2 && candidates.length > 1,
    views: firstViews(options.views ?? 2),
    ttaViews: firstViews(options.tta ?? 2),
    base: {
      kind,
      solver,
      learningRate: options.learningRate ?? DEFAULT_LEARNING_RATES[kind],
      batchSize: options.batchSize ?? 32,
      maxEpochs,
      patience: options.patience ?? 10,
      startFromEpoch: options.startFromEpoch ?? Math.floor(maxEpochs / 2),
    },
  };
}

/** Why a run was stopped, as its RunInterruptedError words it: the abort reason when it is a string. */
const stopReason = (signal: AbortSignal) => (typeof signal.reason === "string" ? signal.reason : "aborted");

/**
 * Checks the options, creates the output folder, chooses the device and starts the run's stopwatch and its
 * AbortSignal (the caller's signal, or the walltime of `timeLimitSeconds`). `close` ends the run.
 */
export async function openRun(options: TrainOptions): Promise<RunContext & { close(): Promise<void> }> {
  checkTrainOptions(options);
  const startedAt = new Date();
  const out = path.resolve(options.out);
  const progress = options.progress ?? createProgress({ quiet: options.quiet });
  const timings: Record<string, number> = {};
  let lapStart = performance.now();
  const stop = new AbortController();
  const onAbort = () => stop.abort(stopReason(options.signal!));
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const walltime =
    options.timeLimitSeconds !== undefined
      ? setTimeout(
          () => stop.abort(`walltime of ${options.timeLimitSeconds} s reached`),
          options.timeLimitSeconds * 1000,
        )
      : undefined;
  walltime?.unref();
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    if (walltime) clearTimeout(walltime);
    options.signal?.removeEventListener("abort", onAbort);
    for (const c of closers.splice(0)) await c();
  };
  const checkpoint = new Checkpoint(path.join(out, "checkpoint"));
  try {
    await mkdir(out, { recursive: true });
    const device = await chooseDevice(options.device ?? "auto");
    progress.log(`device: ${describeDevice(device)}`);
    if (options.fineTune && device.kind !== "gpu") {
      throw new UnsupportedError(
        `--fine-tune needs the GPU (--device gpu or auto with a GPU): ${device.reason}. On the CPU, fine-tuning ` +
          "ResNet50 takes hours; run without --fine-tune to train the head on frozen features.",
      );
    }
    return {
      options,
      plan: planRun(options),
      out,
      seed: options.seed ?? 42,
      startedAt,
      device,
      checkpoint,
      progress,
      signal: stop.signal,
      timings,
      lap(name) {
        timings[name] = Math.round((performance.now() - lapStart) / 10) / 100;
        lapStart = performance.now();
      },
      interrupted: () => new RunInterruptedError(stopReason(stop.signal), checkpoint.dir),
      onClose(closer) {
        closers.push(closer);
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
