export { firstViews, ORIGINAL_VIEW, VIEWS, type ViewSpec } from "./augment.js";
export type { BackendPreference } from "./backend.js";
export {
  Checkpointing,
  callbackList,
  EarlyStopping,
  type EarlyStoppingOptions,
  type EarlyStoppingState,
  EpochProgress,
  HistoryRecorder,
  type StopReason,
  type TrainingCallback,
  type TrainingLoop,
} from "./callbacks.js";
export { type CliIo, checkTrainArgs, runRunnerCli } from "./cli.js";
export {
  buildMatrix,
  type CvCandidate,
  type CvImage,
  type CvResult,
  type CvScore,
  candidateName,
  crossValidate,
  DEFAULT_CANDIDATES,
  EXACT_CANDIDATES,
  EXACT_DEFAULT,
  exactFoldTask,
  predictOverViews,
  type Sample,
  STAGE_SETS,
  stratifiedFolds,
} from "./cv.js";
export { type Dataset, type DatasetImage, type Split, scanDataset, splitDataset } from "./dataset.js";
export {
  DatasetError,
  EXIT_CODES,
  RunInterruptedError,
  UnsupportedError,
  UserInputError,
  type UserInputErrorKind,
} from "./errors.js";
export { FeatureCache, type LayerFeatures } from "./features/cache.js";
export { FEATURE_LAYER_NAMES, type FeatureEngine, type FeatureLayer, INPUT_SIZE } from "./features/engine.js";
export { type ExtractStats, extractFeatures, type FeatureJob } from "./features/extract.js";
export { createOnnxEngine, type OnnxEngineOptions, type OnnxFeatureEngine } from "./features/onnx/index.js";
export { type EnginePreference, selectEngine } from "./features/select.js";
export { createTfjsEngine, type TfjsEngineOptions, type TfjsFeatureEngine } from "./features/tfjs.js";
export {
  DEFAULT_HEAD_EPOCHS,
  DEFAULT_LEARNING_RATES,
  type EpochRecord,
  type HeadConfig,
  type HeadKind,
  type HeadModel,
  type HeadSolver,
  type LabelledMatrix,
  type Matrix,
  predictHead,
  type TrainHeadOptions,
  type TrainHeadResult,
  trainHead,
} from "./head.js";
export { fitExactHead, runExactFold } from "./logreg.js";
export { computeMetrics, type Metrics, meanLogLoss } from "./metrics.js";
export { type KerasTopology, parseKerasTopology } from "./model/keras-topology.js";
export { type ResNetModelFiles, readResNetModelFiles, resnetModelDir } from "./model/resnet-weights.js";
export { type Prediction, type PredictOptions, type PredictResult, predict } from "./predict.js";
export { createProgress, type Progress, silentProgress } from "./progress.js";
export { REPORT_FILE, writeRunReport } from "./report.js";
export { type ClassCount, checkClassCounts, isTrainingImageName, MIN_IMAGES_PER_CLASS } from "./rules.js";
export * from "./stages/index.js";
export { generateSyntheticDataset, type SyntheticDatasetOptions } from "./synthetic.js";
export { type RunReport, type TrainOptions, type TrainResult, train } from "./train.js";
