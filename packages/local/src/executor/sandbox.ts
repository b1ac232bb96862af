import fs from "node:fs";
import path from "node:path";
import type { InputFileRef } from "../jobspec.js";
import type { BlobStore } from "../store/blobs.js";
import type { Store } from "../store/db.js";
import { type ArchiveLimits, extractZipSafely } from "./unzip.js";

/** What a staged input looked like, so unchanged inputs are not reported back as outputs. */
export type StagedManifest = Map<string, { size: number; mtimeMs: number }>;

export class StagingError extends Error {
  override name = "StagingError";
}

function safeBaseName(name: string): string {
  const base = path.basename(name);
  if (base === "" || base === "." || base === "..")
    throw new StagingError(`input file name "${name}" is not usable`);
  return base;
}

/**
 * Copies the job's input files into its working directory and extracts zips (unless decompress is false).
 * Nothing replaces what an earlier input put there: a later archive holding the job's bootstrap script, or a
 * file named like an earlier archive's entry, is refused (the job's own files win; the user renames theirs).
 */
export async function stageInputs(
  refs: InputFileRef[],
  workDir: string,
  store: Store,
  blobs: BlobStore,
  limits: Partial<ArchiveLimits> = {},
): Promise<StagedManifest> {
  const written: string[] = [];
  const names = new Set<string>();
  for (const ref of refs) {
    const file = store.file(ref.id);
    if (!file) throw new StagingError(`input file ${ref.id} was deleted before the job started`);
    const name = safeBaseName(file.name);
    if (names.has(name))
      throw new StagingError(`two input files are named "${name}"; rename one (PATCH its name)`);
    names.add(name);
    const target = path.join(workDir, name);
    if (fs.lstatSync(target, { throwIfNoEntry: false }))
      throw new StagingError(
        `input file "${name}" would replace ${name}, already unpacked from an earlier input`,
      );
    fs.copyFileSync(
      blobs.pathOf(file.sha256),
      target,
      fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL,
    );
    if (ref.decompress && name.toLowerCase().endsWith(".zip")) {
      try {
        written.push(...(await extractZipSafely(target, workDir, limits)));
      } catch (err) {
        throw new StagingError(`${name}: ${(err as Error).message}`);
      }
      fs.rmSync(target);
    } else {
      written.push(name);
    }
  }
  const manifest: StagedManifest = new Map();
  for (const rel of written) {
    const stat = fs.lstatSync(path.join(workDir, rel), { throwIfNoEntry: false });
    if (stat?.isFile()) manifest.set(rel, { size: stat.size, mtimeMs: stat.mtimeMs });
  }
  return manifest;
}

/** Regular files under dir (symlinks are not followed), as paths relative to dir. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) out.push(child);
    }
  };
  if (fs.existsSync(dir)) walk("");
  return out.sort();
}

/** Files of the working directory that the job produced or changed. */
export function outputFiles(workDir: string, staged: StagedManifest): string[] {
  return listFiles(workDir).filter((rel) => {
    const before = staged.get(rel);
    if (!before) return true;
    const now = fs.statSync(path.join(workDir, rel));
    return now.size !== before.size || now.mtimeMs !== before.mtimeMs;
  });
}

/** Resolves a client-supplied relative path inside dir, or undefined when it would leave it. */
export function resolveInside(dir: string, rel: string): string | undefined {
  const target = path.resolve(dir, rel);
  const r = path.relative(dir, target);
  return r === "" || r.startsWith("..") || path.isAbsolute(r) ? undefined : target;
}
