import { errorKind, UsageError } from "./errors.js";
import type { RunnerModule } from "./runner-module.js";

/**
 * `submit`'s extra runner flags (--epochs, --seed, --runner-arg) checked by the runner's own parser and rules
 * before anything is uploaded: a flag the runner would refuse fails here, in seconds, not in the job.
 */
export function checkRunnerArgs(runner: Pick<RunnerModule, "checkTrainArgs">, args: readonly string[]): void {
  try {
    runner.checkTrainArgs(args);
  } catch (err) {
    const kind = errorKind(err);
    if (kind !== "user-input" && kind !== "dataset") throw err;
    throw new UsageError(
      (err as Error).message,
      "These are `rescale-runner train` options (rescale-run train --help lists them). Nothing was uploaded.",
    );
  }
}
