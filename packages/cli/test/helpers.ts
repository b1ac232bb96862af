import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { REPO_ROOT } from "@rescale-run/testkit";
import { main } from "../src/cli.js";
import type { CliIo } from "../src/io.js";

export const REPO = REPO_ROOT;
export const BIN = join(REPO, "packages/cli/dist/bin.js");

/** HOME and XDG dirs in a fresh temp dir, so no test touches the real ones. */
export function sandboxEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), "rr-cli-home-"));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
    XDG_CACHE_HOME: join(home, ".cache"),
    NO_COLOR: "1",
    ...extra,
  };
  for (const d of [env.XDG_CONFIG_HOME!, env.XDG_DATA_HOME!, env.XDG_CACHE_HOME!])
    mkdirSync(d, { recursive: true });
  return env;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `main` in this process (so nock sees its requests) with captured output. */
export async function runInProcess(
  argv: string[],
  env: NodeJS.ProcessEnv,
  cwd = REPO,
  stdin = "",
): Promise<RunResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d) => {
    out += d;
  });
  stderr.on("data", (d) => {
    err += d;
  });
  const io: CliIo = { stdout, stderr, stdin: Readable.from([stdin]), env, cwd };
  const saved = { ...process.env };
  Object.assign(process.env, {
    XDG_CONFIG_HOME: env.XDG_CONFIG_HOME,
    XDG_DATA_HOME: env.XDG_DATA_HOME,
    XDG_CACHE_HOME: env.XDG_CACHE_HOME,
    HOME: env.HOME,
  });
  try {
    const code = await main(argv, io);
    return { code, stdout: out, stderr: err };
  } finally {
    for (const k of ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "HOME"]) process.env[k] = saved[k];
  }
}

/** Runs the built CLI as a real process. */
export function runBin(
  argv: string[],
  env: NodeJS.ProcessEnv,
  options: { cwd?: string; stdin?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], {
      cwd: options.cwd ?? REPO,
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? "");
  });
}
