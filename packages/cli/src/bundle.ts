/**
 * The runner bundle: `@rescale-run/runner` with its production dependencies resolved at pack time
 * (`pnpm deploy --prod`), pruned to Linux x64, as one .tar.gz cached by content hash in
 * `$XDG_CACHE_HOME/rescale-run/bundles`. A workstation unpacks it and needs no registry.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { writeDirectoryTgz } from "./archive.js";
import { CliError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";

/** Bumped when the packing steps change, so old cached bundles are not reused. */
const BUNDLE_FORMAT = 1;
/** The platform the bundle's native modules (sharp, onnxruntime-node) are kept for. */
const BUNDLE_PLATFORM = "linux-x64";

export interface RunnerBundle {
  /** The .tar.gz on disk. */
  path: string;
  /** Its file name (what the job sees in its working directory). */
  fileName: string;
  bytes: number;
  /** True when it came from the cache; `packSeconds` is then undefined. */
  cached: boolean;
  packSeconds?: number;
  hash: string;
}

export interface RunnerPackage {
  dir: string;
  workspaceRoot: string;
}

/** Finds the runner's package directory and the pnpm workspace it lives in. */
async function locateRunner(): Promise<RunnerPackage> {
  // Walk up to the node_modules that holds the runner (its exports map hides package.json from require.resolve).
  let dir = "";
  for (let from = dirname(fileURLToPath(import.meta.url)); ; from = dirname(from)) {
    const candidate = join(from, "node_modules", "@rescale-run", "runner");
    if (existsSync(join(candidate, "package.json"))) {
      dir = realpathSync(candidate);
      break;
    }
    if (dirname(from) === from)
      throw new CliError("cannot find the @rescale-run/runner package", ExitCode.Internal);
  }
  let root = dirname(dir);
  while (!existsSync(join(root, "pnpm-workspace.yaml"))) {
    const up = dirname(root);
    if (up === root)
      throw new CliError(
        "packing the runner bundle needs the rescale-run source checkout (a pnpm workspace)",
        ExitCode.Usage,
        "Run rescale-run from the repository (see README.md).",
      );
    root = up;
  }
  return { dir, workspaceRoot: root };
}

/** Content hash of what goes into the bundle: the runner's built files, manifest and the lockfile. */
async function runnerHash(runner: RunnerPackage): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`format:${BUNDLE_FORMAT}:${BUNDLE_PLATFORM}\n`);
  const distDir = join(runner.dir, "dist");
  if (!existsSync(join(distDir, "bin.js")))
    throw new CliError(
      `the runner is not built (${join(distDir, "bin.js")} is missing)`,
      ExitCode.Usage,
      "Build it first: npx -y pnpm@9 -r build",
    );
  for (const file of [join(runner.dir, "package.json"), join(runner.workspaceRoot, "pnpm-lock.yaml")]) {
    hash.update(`${relative(runner.workspaceRoot, file)}\n`);
    hash.update(await readFile(file));
  }
  // The runner's own build and those of the workspace packages it bundles (e.g. @rescale-run/sdk).
  for (const dir of [runner.dir, ...(await workspaceDependencies(runner.dir))]) {
    for (const file of await listFiles(join(dir, "dist"))) {
      hash.update(`${relative(runner.workspaceRoot, file)}\n`);
      hash.update(await readFile(file));
    }
  }
  return hash.digest("hex").slice(0, 16);
}

/** A bundle packed elsewhere (--runner-bundle), e.g. on a Linux x64 machine for a laptop of another platform. */
export async function givenRunnerBundle(path: string): Promise<RunnerBundle> {
  const info = await stat(path).catch(() => {
    throw new CliError(`--runner-bundle ${path}: no such file`, ExitCode.Usage);
  });
  return { path, fileName: basename(path), bytes: info.size, cached: true, hash: "given" };
}

export async function ensureRunnerBundle(
  cacheRoot: string,
  onStage?: (text: string) => void,
): Promise<RunnerBundle> {
  const runner = await locateRunner();
  const hash = await runnerHash(runner);
  const fileName = `rescale-run-runner-${hash}.tgz`;
  const dir = join(cacheRoot, "bundles");
  const path = join(dir, fileName);
  if (existsSync(path)) {
    return { path, fileName, bytes: (await stat(path)).size, cached: true, hash };
  }
  await mkdir(dir, { recursive: true });
  const started = Date.now();
  const work = await mkdtemp(join(dir, "deploy-"));
  try {
    const deployDir = join(work, "runner");
    onStage?.("copying the workspace manifests and the runner's build into the cache");
    const staged = await stageWorkspace(runner, join(work, "workspace"));
    onStage?.(
      "resolving the runner's production dependencies (pnpm deploy --prod, about a minute the first time)",
    );
    // pnpm is quiet while it resolves; a line every 15 s says the command is not stuck.
    const deployStarted = Date.now();
    const ticker = onStage
      ? setInterval(
          () => onStage(`still resolving (${Math.round((Date.now() - deployStarted) / 1000)} s)`),
          15_000,
        )
      : undefined;
    try {
      await run("npx", ["-y", "pnpm@9", "deploy", "--filter", "@rescale-run/runner", "--prod", deployDir], {
        cwd: staged,
      });
    } finally {
      clearInterval(ticker);
    }
    onStage?.("pruning the bundle to Linux x64");
    await pruneForLinuxX64(deployDir);
    onStage?.("packing the runner bundle");
    await writeDirectoryTgz(path, deployDir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await pruneOldBundles(dir, fileName);
  const packSeconds = (Date.now() - started) / 1000;
  return {
    path,
    fileName,
    bytes: (await stat(path)).size,
    cached: false,
    packSeconds,
    hash,
  };
}

/**
 * pnpm 9's deploy takes the target's node_modules relative to the workspace root and joins that onto the folder of
 * every workspace project it installs (pnpm/pnpm#10981, #8875): with a target in the cache, folders named after the
 * cache's absolute path appeared inside or beside the repository. Deploying from a copy of the workspace inside the
 * temporary folder keeps every path it makes in there: the root manifests and lockfile, each package's
 * package.json, and the runner and the workspace packages it depends on without their node_modules (a few MiB).
 * Returns the copy's root.
 */
async function stageWorkspace(runner: RunnerPackage, into: string): Promise<string> {
  const root = runner.workspaceRoot;
  await mkdir(into, { recursive: true });
  for (const file of ["package.json", "pnpm-workspace.yaml", "pnpm-lock.yaml", ".npmrc"]) {
    if (existsSync(join(root, file))) await cp(join(root, file), join(into, file));
  }
  const bundled = new Set([runner.dir, ...(await workspaceDependencies(runner.dir))]);
  const packages = join(root, "packages");
  for (const name of await readdir(packages)) {
    const dir = join(packages, name);
    if (!existsSync(join(dir, "package.json"))) continue;
    const target = join(into, relative(root, dir));
    if (bundled.has(realpathSync(dir))) {
      await cp(dir, target, { recursive: true, filter: (src) => basename(src) !== "node_modules" });
    } else {
      await mkdir(target, { recursive: true });
      await cp(join(dir, "package.json"), join(target, "package.json"));
    }
  }
  return into;
}

/** Keeps the new bundle and the one before it (another command may still be uploading it); ~150 MiB each. */
async function pruneOldBundles(dir: string, keep: string): Promise<void> {
  const bundles = (await readdir(dir)).filter(
    (f) => /^rescale-run-runner-[0-9a-f]+\.tgz$/.test(f) && f !== keep,
  );
  const dated = await Promise.all(
    bundles.map(async (f) => ({ f, mtime: (await stat(join(dir, f))).mtimeMs })),
  );
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const { f } of dated.slice(1)) await rm(join(dir, f), { force: true });
}

async function workspaceDependencies(packageDir: string): Promise<string[]> {
  const pkg = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  return Object.entries(pkg.dependencies ?? {})
    .filter(([, version]) => version.startsWith("workspace:"))
    .map(([name]) => realpathSync(join(packageDir, "node_modules", name)));
}

/**
 * Drops what a Linux x64 workstation never loads: source maps and other platforms' onnxruntime binaries and Dawn
 * builds (the `webgpu` package ships dist/<platform>/dawn.node for five platforms, about 130 MB besides Linux x64).
 */
async function pruneForLinuxX64(root: string): Promise<void> {
  for (const file of await listFiles(root)) {
    if (file.endsWith(".map")) await rm(file);
  }
  const store = join(root, "node_modules", ".pnpm");
  if (!existsSync(store)) return;
  for (const entry of await readdir(store)) {
    if (entry.startsWith("webgpu@")) {
      const dist = join(store, entry, "node_modules", "webgpu", "dist");
      if (!existsSync(dist)) continue;
      for (const platform of await readdir(dist))
        if (platform !== BUNDLE_PLATFORM && !platform.includes("."))
          await rm(join(dist, platform), { recursive: true, force: true });
      continue;
    }
    if (!entry.startsWith("onnxruntime-node@")) continue;
    const napi = join(store, entry, "node_modules", "onnxruntime-node", "bin");
    if (!existsSync(napi)) continue;
    for (const version of await readdir(napi)) {
      for (const os of await readdir(join(napi, version))) {
        if (os !== "linux") await rm(join(napi, version, os), { recursive: true, force: true });
        else
          for (const arch of await readdir(join(napi, version, os)))
            if (arch !== "x64") await rm(join(napi, version, os, arch), { recursive: true, force: true });
      }
    }
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  for (const e of entries) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out.sort();
}

function run(command: string, args: string[], options: { cwd: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else
        reject(
          new CliError(
            `${command} ${args.join(" ")} failed (exit ${code}):\n${output.slice(-2000)}`,
            ExitCode.Internal,
          ),
        );
    });
  });
}
