import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * A clone outside CI has no shared folder beside it (the one CI's checkout has one level up): tests and examples read only fixtures vendored in the
 * repository (packages/testkit/fixtures, packages/<pkg>/test/fixtures). Benchmarks (bench/) may read the shared
 * BUSI data and say so; they are not checked here.
 */
const REPO = path.resolve(import.meta.dirname, "../../..");
// Spelled in parts so that this file, which must name the path to look for it, does not itself match a text search.
const SHARED_DIR = ["..", "shared"].join("/");
const FORBIDDEN = new RegExp(`${SHARED_DIR.replace(/\./g, "\\.")}|/work/shared`);

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "dist") continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(full)));
    else if (/\.(ts|js|mjs|cjs|sh|json)$/.test(entry.name)) out.push(full);
  }
  return out;
}

describe(`tests and examples never read ${SHARED_DIR}`, () => {
  it(`no file under packages/*/test or examples/ names ${SHARED_DIR}`, async () => {
    const roots = [path.join(REPO, "examples")];
    for (const pkg of await readdir(path.join(REPO, "packages"))) {
      roots.push(path.join(REPO, "packages", pkg, "test"));
    }
    const offenders: string[] = [];
    let scanned = 0;
    for (const root of roots) {
      const files = await sourceFiles(root).catch(() => []);
      for (const file of files) {
        if (file === import.meta.filename) continue;
        scanned++;
        const lines = (await readFile(file, "utf8")).split("\n");
        lines.forEach((line, i) => {
          if (FORBIDDEN.test(line)) offenders.push(`${path.relative(REPO, file)}:${i + 1}: ${line.trim()}`);
        });
      }
    }
    expect(scanned).toBeGreaterThan(20);
    expect(offenders).toEqual([]);
  });
});
