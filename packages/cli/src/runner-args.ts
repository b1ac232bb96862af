import { UsageError } from "./errors.js";
import { loadRunner } from "./runner-module.js";

/**
 * `submit`'s extra runner flags (--epochs, --seed, --runner-arg) checked by the runner's own parser and rules
 * before anything is uploaded: a flag the runner would refuse fails here, in seconds, not in the job.
 */
export async function checkRunnerArgs(args: readonly string[]): Promise<void> {
  try {
    (await loadRunner()).checkTrainArgs(args);
  } catch (err) {
    if (!(err instanceof Error) || !/UserInputError|DatasetError/.test(err.name)) throw err;
    throw new UsageError(
      err.message,
      "These are `rescale-runner train` options (rescale-run train --help lists them). Nothing was uploaded.",
    );
  }
}
