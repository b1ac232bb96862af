import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { configDefaults, defineConfig } from "vitest/config";

const TESTS = "packages/*/test/**/*.test.ts";

/**
 * The slow tier: files that take tens of seconds each because of what they drive (the reason is beside each one).
 * Every other test file is the fast tier. `pnpm test:fast` and `pnpm test:slow` run one tier, `pnpm test` both.
 * A list, not a file-name suffix, so that no test is renamed; a file named here that does not exist is an error.
 */
const SLOW_TESTS = [
  "packages/cli/test/bin.test.ts", // whole submits: CLI, local platform and a stand-in runner as real processes
  "packages/cli/test/bundle.test.ts", // packs the real runner bundle (pnpm deploy)
  "packages/cli/test/e2e-local.test.ts", // a whole job with the real runner bundle
  "packages/cli/test/reliability-e2e-faults.test.ts", // whole jobs with the real runner through a fault proxy
  "packages/cli/test/reliability-signals.test.ts", // whole submits interrupted by signals, real processes
  "packages/cli/test/ui-browser.test.ts", // headless Chromium
  "packages/local/test/upload-memory.test.ts", // a 2 GiB upload
  "packages/runner/test/e2e-real.test.ts", // the real ResNet50 weights, end to end
  "packages/runner/test/export-onnx.test.ts", // the real ResNet50 weights
  "packages/runner/test/gpu-lavapipe.test.ts", // the GPU path on lavapipe
  "packages/runner/test/onnx.test.ts", // the real ResNet50 weights
  "packages/runner/test/reliability-resume.test.ts", // the runner as a real process, killed and resumed
];

// A renamed or deleted slow file must not fall silently into the fast tier.
const root = fileURLToPath(new URL(".", import.meta.url));
const missing = SLOW_TESTS.filter((file) => !existsSync(`${root}${file}`));
if (missing.length > 0)
  throw new Error(`vitest.config.ts SLOW_TESTS names missing files: ${missing.join(", ")}`);

export default defineConfig({
  // Tests import sibling workspace packages from their TypeScript sources, not from a possibly stale dist/.
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    reporters: ["default", "./scripts/summary-reporter.ts"],
    projects: [
      {
        extends: true,
        test: { name: "fast", include: [TESTS], exclude: [...configDefaults.exclude, ...SLOW_TESTS] },
      },
      { extends: true, test: { name: "slow", include: SLOW_TESTS } },
    ],
  },
});
