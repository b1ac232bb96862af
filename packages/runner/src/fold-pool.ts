/**
 * Runs cross-validation's fold tasks on worker threads (the head is plain single-threaded TypeScript, so folds
 * are the unit of parallelism). Each task is seeded on its own, so the outcomes do not depend on the number of
 * workers. Without the compiled worker script (running from TypeScript sources, as the tests do) or with one
 * worker, tasks run in this thread.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { type FoldOutcome, type FoldTask, runFold, transferables } from "./fold.js";

const WORKER_SCRIPT = new URL("./fold-worker.js", import.meta.url);

export class FoldPoolStoppedError extends Error {
  override readonly name = "FoldPoolStoppedError";
}

export interface RunFoldTasksOptions {
  /** Worker threads (default 1: this thread). */
  workers?: number;
  /**
   * Stops the pool: no task starts after it fires, and running workers are terminated at once (a fold of the exact
   * solver takes seconds); the pool rejects with FoldPoolStoppedError.
   */
  signal?: AbortSignal;
  /** Called as each task finishes (in completion order). */
  onOutcome?: (index: number, outcome: FoldOutcome) => void;
}

export function workerThreadsAvailable(): boolean {
  return WORKER_SCRIPT.protocol === "file:" && existsSync(fileURLToPath(WORKER_SCRIPT));
}

/**
 * Runs `count` tasks, made on demand by `makeTask(i)` (a task's matrices are large: only one per worker is alive at
 * a time). Returns the outcomes in task order.
 */
export async function runFoldTasks(
  count: number,
  makeTask: (index: number) => FoldTask,
  options: RunFoldTasksOptions = {},
): Promise<FoldOutcome[]> {
  const outcomes = new Array<FoldOutcome>(count);
  const workers = Math.max(1, Math.min(options.workers ?? 1, count));
  let next = 0;
  const finish = (index: number, outcome: FoldOutcome) => {
    outcomes[index] = outcome;
    options.onOutcome?.(index, outcome);
  };
  const claim = (): number | undefined => {
    if (next >= count) return undefined;
    if (options.signal?.aborted) throw new FoldPoolStoppedError("cross-validation stopped");
    return next++;
  };
  if (workers === 1 || !workerThreadsAvailable()) {
    for (let i = claim(); i !== undefined; i = claim()) finish(i, await runFold(makeTask(i)));
    return outcomes;
  }
  const threads: Worker[] = [];
  const terminateAll = () => {
    for (const worker of threads) void worker.terminate();
  };
  options.signal?.addEventListener("abort", terminateAll, { once: true });
  try {
    await Promise.all(
      Array.from({ length: workers }, async () => {
        const worker = new Worker(WORKER_SCRIPT);
        threads.push(worker);
        for (let i = claim(); i !== undefined; i = claim()) finish(i, await runInWorker(worker, makeTask(i)));
      }),
    );
    return outcomes;
  } catch (error) {
    // A worker terminated by the signal rejects its task as an exit: report the stop, not the exit.
    if (options.signal?.aborted) throw new FoldPoolStoppedError("cross-validation stopped");
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", terminateAll);
    await Promise.all(threads.map((w) => w.terminate()));
  }
}

function runInWorker(worker: Worker, task: FoldTask): Promise<FoldOutcome> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    const onMessage = (message: { outcome?: FoldOutcome; error?: string }) => {
      cleanup();
      if (message.outcome) resolve(message.outcome);
      else reject(new Error(`cross-validation worker failed: ${message.error}`));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`cross-validation worker exited with code ${code}`));
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
    worker.postMessage(task, transferables(task));
  });
}
