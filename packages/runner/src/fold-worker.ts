/** Worker-thread entry of the fold pool (fold-pool.ts): runs one fold task per message. */
import { parentPort } from "node:worker_threads";
import { type FoldTask, runFold, transferables } from "./fold.js";

parentPort?.on("message", async (task: FoldTask) => {
  try {
    const outcome = await runFold(task);
    parentPort!.postMessage({ outcome }, transferables(outcome));
  } catch (error) {
    parentPort!.postMessage({
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  }
});
