import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The monorepo's root folder. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/**
 * Node arguments that run a TypeScript entry point from source, no build needed: workspace packages resolve to
 * their sources (the "source" export condition) and tsx's loader is named by absolute URL, so the process may
 * run in any working directory (a job's sandbox, say).
 */
export function tsSourceArgs(script: string): string[] {
  const tsxLoader = pathToFileURL(path.join(REPO_ROOT, "node_modules/tsx/dist/loader.mjs")).href;
  return ["--conditions=source", "--import", tsxLoader, script];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill (SIGKILL) after this long; the result then has signal SIGKILL. Default 120 s. */
  timeoutMs?: number;
  input?: string;
}

/** Runs a command to completion, capturing its output; never throws for a non-zero exit. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const started = Date.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env } as NodeJS.ProcessEnv,
    stdio: ["pipe", "pipe", "pipe"],
  });
  return collect(child, started, options);
}

function collect(child: ChildProcess, started: number, options: RunOptions): Promise<RunResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  if (options.input !== undefined) child.stdin?.end(options.input);
  else child.stdin?.end();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
  return new Promise((resolve, reject) => {
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, durationMs: Date.now() - started });
    });
  });
}

/** Signs a stack trace leaves in output: a user mistake must never show one. */
export function looksLikeStackTrace(text: string): boolean {
  return /^\s+at .+(\(|:\d+:\d+)/m.test(text) || /node:internal\//.test(text);
}

export interface StartedProcess {
  child: ChildProcess;
  /** What it has printed so far. */
  output(): { stdout: string; stderr: string };
  result: Promise<RunResult>;
}

/** Starts a command and returns at once, for tests that signal it mid-run (SIGINT, SIGHUP, kill -9). */
export function startProcess(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): StartedProcess {
  const started = Date.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env } as NodeJS.ProcessEnv,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const seen = { stdout: "", stderr: "" };
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    seen.stdout += d;
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    seen.stderr += d;
  });
  return { child, output: () => ({ ...seen }), result: collect(child, started, options) };
}

/** Alive and not a zombie (an orphan re-parented to a non-reaping init may linger as one). Linux /proc. */
export function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Polls `ok` every 50 ms for up to `ms`, then returns its last answer. */
export async function waitUntil(ms: number, ok: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return ok();
}
