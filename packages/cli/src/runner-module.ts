/**
 * The runner is loaded only by the commands that need it (train, predict, the demo dataset): it pulls in
 * TensorFlow.js and sharp, which the other commands should not pay for at start-up. The interface below is the
 * part of @rescale-run/runner's API the CLI calls.
 */
export interface RunnerModule {
  /** `rescale-runner` argv (e.g. ["train", "--data", ...]); resolves to the exit code. */
  runRunnerCli(argv: string[]): Promise<unknown>;
  /** Throws the runner's UserInputError for extra `train` flags it would refuse (unknown flag, bad value). */
  checkTrainArgs(extra: readonly string[]): void;
  /** Throws the runner's DatasetError for class folders it would refuse (see runner/src/rules.ts). */
  checkClassCounts(where: string, classes: readonly { name: string; images: number }[]): void;
  /** A file name the runner trains on (an image it decodes, not a mask). */
  isTrainingImageName(name: string): boolean;
  generateSyntheticDataset(
    dir: string,
    options?: { perClass?: number; size?: number; seed?: number },
  ): Promise<unknown>;
}

const RUNNER = "@rescale-run/runner";

export async function loadRunner(): Promise<RunnerModule> {
  // A non-literal specifier keeps vite's import analysis from resolving it eagerly.
  return (await import(RUNNER)) as RunnerModule;
}
