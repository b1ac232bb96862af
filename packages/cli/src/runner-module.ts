/**
 * The runner is loaded only by the commands that need it (train, predict, the demo dataset): it pulls in
 * TensorFlow.js and sharp, which the other commands should not pay for at start-up. The interface below is the
 * part of @rescale-run/runner's API the CLI calls, so the CLI builds on its own.
 */
export interface RunnerModule {
  /** `rescale-runner` argv (e.g. ["train", "--data", ...]); resolves to the exit code. */
  runRunnerCli(argv: string[]): Promise<unknown>;
  generateSyntheticDataset(
    dir: string,
    options?: { perClass?: number; size?: number; seed?: number },
  ): Promise<unknown>;
}

const RUNNER = "@rescale-run/runner";

export function loadRunner(): Promise<RunnerModule> {
  // A non-literal specifier keeps vite's import analysis from resolving it eagerly.
  return import(RUNNER) as Promise<RunnerModule>;
}
