import os from "node:os";
import {
  type CvImage,
  type CvResult,
  candidateName,
  crossValidate,
  EXACT_DEFAULT,
  refitEpochs,
} from "../cv.js";
import type { HeadConfig } from "../head.js";
import type { RunContext } from "./context.js";
import type { RunData } from "./dataset.js";
import type { RunFeatures } from "./features.js";

/** The model-choice stage's result: the head settings the saved model is fitted with. */
export interface ModelChoice {
  /** Cross-validation's scores and choice (from the checkpoint on --resume); undefined when it did not run. */
  cv: CvResult | undefined;
  config: HeadConfig;
  /** Adam's refit (no validation split): as many epochs as early stopping kept in the chosen candidate's folds. */
  adamEpochs: number;
}

/**
 * Stage 3: k-fold cross-validation on the train + validation pool chooses the head's layers and regularisation
 * (checkpointed; --resume reuses it). Without cross-validation: the exact solver's measured default
 * (EXACT_DEFAULT's L2 on the layers asked for), or the first candidate.
 */
export async function modelChoiceStage(
  ctx: RunContext & { data: RunData; features: RunFeatures },
): Promise<ModelChoice> {
  const { options, plan, data, progress, checkpoint } = ctx;
  let cv: CvResult | undefined = options.resume ? await checkpoint.loadCv() : undefined;
  if (!cv && plan.crossValidating) {
    const cvImages: CvImage[] = data.cvPool.map((img) => ({ ...img, viewIds: plan.views.map((v) => v.id) }));
    try {
      cv = await crossValidate({
        images: cvImages,
        features: ctx.features.features,
        classNames: data.classNames,
        base: plan.base,
        candidates: plan.candidates,
        solver: plan.solver,
        evalViewIds: plan.ttaViews.map((v) => v.id),
        workers: options.threads ?? os.availableParallelism(),
        k: plan.folds,
        repeats: options.cvRepeats ?? 1,
        seed: ctx.seed,
        signal: ctx.signal,
        onCandidate: (s) =>
          progress.log(
            `cv ${s.name}: log loss ${s.valLoss.toFixed(4)}, accuracy ${s.accuracy.toFixed(3)}, ` +
              `macro F1 ${s.macroF1.toFixed(3)}, macro AUC ${s.macroAuc?.toFixed(3) ?? "n/a"}`,
          ),
      });
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.interrupted();
      throw error;
    }
    await checkpoint.saveCv(cv);
  }
  const { candidates } = plan;
  const uncrossed =
    plan.solver === "exact"
      ? (candidates.find(
          (c) =>
            c.l2 === EXACT_DEFAULT.l2 &&
            (options.layers !== undefined || c.layers.join("+") === EXACT_DEFAULT.layers.join("+")),
        ) ?? candidates[0]!)
      : candidates[0]!;
  const chosen = cv?.best ?? uncrossed;
  const chosenScore = cv?.scores.find((sc) => sc.name === candidateName(chosen));
  const adamEpochs = (chosenScore && refitEpochs(chosenScore)) ?? plan.base.maxEpochs;
  ctx.lap("crossValidation");
  return { cv, config: { ...plan.base, ...chosen }, adamEpochs };
}
