export { type BootstrapOptions, MIN_NODE_MAJOR, renderBootstrapScript, shellQuote } from "./bootstrap.js";
export { ensureRunnerBundle, type RunnerBundle } from "./bundle.js";
export { buildParser, main } from "./cli.js";
export { CliError, describeError, UsageError } from "./errors.js";
export { ExitCode, type ExitCodeValue } from "./exit-codes.js";
export { type FollowResult, followJob } from "./follow.js";
export type { CliIo } from "./io.js";
export { buildPlan, chooseCoreType, findCoreType, type Plan } from "./plan.js";
