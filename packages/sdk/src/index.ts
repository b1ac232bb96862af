export { type FromEnvironmentOptions, RescaleClient, type RescaleClientOptions } from "./client.js";
export {
  BILLING_PRIORITY_VALUE,
  type CompareOptions,
  type CompareSortKey,
  type CoreTypeComparison,
  type CoreTypeComparisonRow,
  chooseNodeShape,
  compareCoreType,
  compareCoreTypes,
  gpusPerNode,
  type PriorityTier,
  type TierPrice,
} from "./compare.js";
export {
  apiConfigPath,
  DEFAULT_BASE_URL,
  normalizeBaseUrl,
  type Profile,
  REGIONAL_BASE_URLS,
  type ResolveConfigOptions,
  type ResolvedConfig,
  readProfiles,
  resolveConfig,
  writeProfile,
} from "./config.js";
export {
  AuthenticationError,
  ConfigurationError,
  ConflictError,
  ConnectionError,
  errorFromResponse,
  type FieldError,
  flattenFieldErrors,
  JobFailedError,
  NotFoundError,
  PermissionError,
  parseRetryAfter,
  RateLimitError,
  RescaleError,
  type RescaleErrorDetails,
  ResponseShapeError,
  ServerError,
  TimeoutError,
  ValidationError,
  WalltimeError,
} from "./errors.js";
export { contentDisposition, multipartBody, type ProgressEvent } from "./multipart.js";
export {
  collect,
  fetchPage,
  ListResource,
  type Page,
  type PageOptions,
  paginate,
  type Query,
} from "./paginate.js";
export { REDACTED, redactText, redactValue } from "./redact.js";
export { AnalysesResource, type ResolvedVersion } from "./resources/analyses.js";
export { type CoreTypeListOptions, CoreTypesResource } from "./resources/coreTypes.js";
export {
  type DownloadedFileInfo,
  type DownloadOptions,
  type DownloadResult,
  type FileListOptions,
  FilesResource,
  partRecordPath,
  type UploadOptions,
} from "./resources/files.js";
export {
  type CreateJobOptions,
  type CreateJobRequest,
  clientTokenOf,
  type JobHardware,
  type JobInputFile,
  type JobListOptions,
  JobsResource,
  newClientToken,
  newestFirst,
  type PriorityTierName,
  type SoftwareSpec,
  stripClientToken,
  toJobBody,
  toStatusFilter,
} from "./resources/jobs.js";
export {
  type Attachment,
  toCidrRule,
  Workstation,
  type WorkstationConnection,
  type WorkstationCreateOptions,
  type WorkstationState,
  type WorkstationStatus,
  WorkstationsResource,
} from "./resources/workstations.js";
export * from "./schemas.js";
export {
  authorizationHeader,
  type HttpMethod,
  isRetryable,
  type Logger,
  type RequestOptions,
  type RetryOptions,
  type StreamBody,
  Transport,
  type TransportOptions,
  type TransportResponse,
} from "./transport.js";
export {
  type ActiveResult,
  classifyJobOutcome,
  type JobOutcome,
  type JobPhase,
  type JobStatusSource,
  type PollOptions,
  type PollProgress,
  type PollStep,
  poll,
  pollDelay,
  type StatusTarget,
  type WaitOptions,
  type WaitResult,
  waitForJobStatus,
  waitUntilActive,
  waitUntilFinished,
} from "./waiters.js";
export {
  formatMinutes,
  MAX_WALLTIME_HOURS,
  parseWalltime,
  type Walltime,
  type WalltimeOptions,
  walltimeHours,
} from "./walltime.js";
