/**
 * The runner is loaded only by the commands that need it (train, predict, the demo dataset): it pulls in
 * TensorFlow.js and sharp, which the other commands should not pay for at start-up.
 */
type RunnerModule = typeof import("@rescale-run/runner");

const RUNNER = "@rescale-run/runner";

export function loadRunner(): Promise<RunnerModule> {
  // A non-literal specifier keeps bundlers and vite's import analysis from resolving it eagerly.
  return import(RUNNER) as Promise<RunnerModule>;
}
