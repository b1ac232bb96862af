/**
 * Whether the runner itself says it finished: it writes `run.json` with a `finishedAt` time as its last act
 * before packaging (packages/runner/src/train.ts). A platform's "Completed successfully" only means the job's
 * command exited 0, which any replaced or truncated script can do; `submit` needs the runner's own word.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export type RunnerCompletion = { finished: true } | { finished: false; why: string };

export async function runnerCompletion(outDir: string, runnerOut: string): Promise<RunnerCompletion> {
  const file = join(outDir, runnerOut, "run.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return {
      finished: false,
      why: `the runner's completion record ${runnerOut}/run.json is not among the outputs`,
    };
  }
  try {
    const run = JSON.parse(text) as { finishedAt?: unknown };
    if (typeof run.finishedAt === "string" && !Number.isNaN(Date.parse(run.finishedAt)))
      return { finished: true };
  } catch {
    // fall through: unreadable is not finished
  }
  return { finished: false, why: `${runnerOut}/run.json does not record a finished run` };
}
