import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as runner from "../src/index.js";

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../bench");

/** The value names (not `type` imports) a file imports from `@rescale-run/runner`. */
function importedNames(source: string): string[] {
  const names: string[] = [];
  for (const m of source.matchAll(/import\s*\{([^}]*)\}\s*from\s*"@rescale-run\/runner"/g)) {
    for (const part of m[1]!.split(",")) {
      const name = part.trim();
      if (name && !name.startsWith("type ")) names.push(name.split(/\s+as\s+/)[0]!);
    }
  }
  return names;
}

describe("the runner's public API", () => {
  // bench/gpu/ is left out: it is bundled into one file for the device machine, which has no node_modules, and
  // importing only the modules it measures keeps that bundle free of the runner's native dependencies.
  it("exports every name the benchmarks import from @rescale-run/runner, and they import no internals by path", () => {
    const files = readdirSync(BENCH).filter((f) => f.endsWith(".ts"));
    let imported = 0;
    for (const file of files) {
      const source = readFileSync(path.join(BENCH, file), "utf8");
      expect(source, file).not.toMatch(/packages\/runner\/(dist|src)\//);
      for (const name of importedNames(source)) {
        imported++;
        expect(runner, `${file} imports ${name}`).toHaveProperty(name);
      }
    }
    expect(imported).toBeGreaterThan(10); // bench/head.ts alone imports about twenty
  });

  it("exports the stages in pipeline order and the training callbacks", () => {
    for (const name of [
      "openRun",
      "datasetStage",
      "featuresStage",
      "modelChoiceStage",
      "trainingStage",
      "evaluationStage",
      "artifactsStage",
      "uploadStage",
      "EarlyStopping",
      "Checkpointing",
      "HistoryRecorder",
      "EpochProgress",
    ]) {
      expect(typeof (runner as Record<string, unknown>)[name], name).toBe("function");
    }
  });
});
