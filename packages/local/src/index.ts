export type { LocalProject } from "./api/context.js";
export type { Analysis, AnalysisVersion, CoreType } from "./catalog.js";
export { allowedCoreCounts, LOCAL_CORE_TYPE, NODE_ANALYSIS } from "./catalog.js";
export {
  ensureLocalApiKey,
  type LocalPlatformConfig,
  localPlatformConfigPath,
  readLocalPlatformConfig,
  writeLocalPlatformConfig,
} from "./credentials.js";
export {
  type DaemonInfo,
  type DaemonStatus,
  daemonStatus,
  shareableDaemon,
  startDaemon,
  stopDaemon,
} from "./daemon.js";
export { LocalConfigError, LocalPlatformError } from "./errors.js";
export { REASONS } from "./executor/executor.js";
export { defaultDataDir } from "./paths.js";
export {
  DEFAULT_LOCAL_PROJECTS,
  type LocalPlatform,
  type LocalPlatformOptions,
  startLocalPlatform,
} from "./platform.js";
