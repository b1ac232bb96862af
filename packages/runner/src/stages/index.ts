/** The runner's training run as a list of stages sharing one RunContext (train.ts runs them in order). */
export { artifactsStage, type RunArtifacts } from "./artifacts.js";
export { openRun, planRun, type RunContext, type RunPlan } from "./context.js";
export { datasetStage, type RunData } from "./dataset.js";
export { type Evaluation, evaluationStage } from "./evaluation.js";
export { featuresStage, type RunFeatures } from "./features.js";
export { type ModelChoice, modelChoiceStage } from "./model-choice.js";
export { type TrainedModel, trainingStage } from "./training.js";
export { uploadStage } from "./upload.js";
