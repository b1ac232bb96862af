import path from "node:path";
import { type UploadResult, uploadAfterTraining } from "../upload.js";
import type { RunArtifacts } from "./artifacts.js";
import type { RunContext } from "./context.js";

/**
 * Stage 7: uploads artifacts.zip, metrics.json and run.json to Rescale, only inside a job or when asked. A failed
 * upload after a good training is a warning (the artifacts are kept), not a failure.
 */
export async function uploadStage(ctx: RunContext & { artifacts: RunArtifacts }): Promise<UploadResult> {
  const { options, out, progress } = ctx;
  const upload = await uploadAfterTraining({
    mode: options.upload ?? "auto",
    profile: options.profile,
    files: [ctx.artifacts.zip, path.join(out, "metrics.json"), path.join(out, "run.json")],
    outDir: out,
    env: options.env ?? process.env,
    log: (line) => progress.log(line),
  });
  ctx.lap("upload");
  return upload;
}
