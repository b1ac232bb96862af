import { readFileSync } from "node:fs";

/**
 * This package's version, read from its own package.json (one level above both src/ and dist/). Resolving
 * "@rescale-run/runner/package.json" fails: the exports map does not list it, and run.json said "unknown".
 */
export const RUNNER_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;
