/** `train`, `predict` and `export`: the runner on this machine, no platform. Their flags belong to the runner. */
import type { CommandSpec } from "../factory.js";
import { loadRunner } from "../runner-module.js";

export const RUNNER_COMMANDS = ["train", "predict", "export"];

/** Hands argv to the runner's own CLI (same flags as `rescale-runner`). */
export async function runRunnerCommand(argv: string[]): Promise<number> {
  const { runRunnerCli } = await loadRunner();
  const code = await runRunnerCli(argv);
  return typeof code === "number" ? code : 0;
}

const passThrough = (command: string, describe: string, example: [string, string]): CommandSpec => ({
  command: `${command} [options..]`,
  describe,
  builder: (y) =>
    y
      .strict(false)
      .positional("args", {
        type: "string",
        array: true,
        describe: `Options of \`rescale-runner ${command}\` (rescale-run ${command} --help shows them)`,
      })
      .example(...example),
});

export const runnerCommands: CommandSpec[] = [
  passThrough("train", "Train on this machine (no platform): rescale-runner train", [
    "$0 train --data ./Dataset_BUSI_with_GT --out ./outputs",
    "Train and write the artifacts to ./outputs",
  ]),
  passThrough("predict", "Classify images with a trained model: rescale-runner predict", [
    "$0 predict --model ./outputs image1.png image2.png",
    "Class and probabilities per image",
  ]),
  passThrough("export", "Write a trained model as one ONNX file: rescale-runner export", [
    "$0 export --model ./outputs",
    "Writes ./outputs/model/model.onnx (backbone + head) for onnxruntime",
  ]),
];
