import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { NODE_ANALYSIS } from "../catalog.js";
import type { JobSpec } from "../jobspec.js";

/**
 * The script bash runs. A job with several software tiles has one command on Rescale, and clients repeat it
 * on every tile: identical commands run once; different ones run in order, stopping at the first failure.
 * An interactive job without a command is an idle workstation: it waits until stopped or out of walltime.
 */
export function jobScript(spec: JobSpec, walltimeMs: number): string {
  const commands = [...new Set(spec.jobanalyses.map((ja) => ja.command).filter((c) => c.trim() !== ""))];
  if (commands.length === 0) return `sleep ${Math.ceil(walltimeMs / 1000) + 60}`;
  if (commands.length === 1) return commands[0]!;
  return commands.map((c) => `(\n${c}\n) || exit $?`).join("\n");
}

/** Pins the job to its cores with taskset when available (Linux); the thread variables apply anyway. */
export function commandLine(script: string, cpus: string): [string, string[]] {
  if (process.platform === "linux" && fs.existsSync("/usr/bin/taskset")) {
    return ["/usr/bin/taskset", ["-c", cpus, "bash", "-c", script]];
  }
  return ["bash", ["-c", script]];
}

export function cpuList(slots: number[]): string {
  const physical = Math.max(1, os.cpus().length);
  return [...new Set(slots.map((s) => s % physical))].sort((a, b) => a - b).join(",");
}

const THREAD_VARIABLES = [
  "OMP_NUM_THREADS",
  "MKL_NUM_THREADS",
  "OPENBLAS_NUM_THREADS",
  "NUMEXPR_NUM_THREADS",
  "VECLIB_MAXIMUM_THREADS",
  "TF_NUM_INTRAOP_THREADS",
  "UV_THREADPOOL_SIZE",
];

/** The host environment minus any Rescale credentials, plus the job's variables and job-scoped key. */
export function jobEnvironment(
  spec: JobSpec,
  job: { jobId: string; jobKey: string; apiUrl: string; cores: number; tmpDir?: string },
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("RESCALE_")) env[k] = v;
  for (const ja of spec.jobanalyses) Object.assign(env, ja.envVars);
  for (const name of THREAD_VARIABLES) env[name] = String(job.cores);
  env.TF_NUM_INTEROP_THREADS = "1";
  if (spec.jobanalyses.some((ja) => ja.analysis.code === NODE_ANALYSIS)) {
    env.PATH = `${path.dirname(process.execPath)}${path.delimiter}${env.PATH ?? ""}`;
  }
  if (job.tmpDir) env.TMPDIR = job.tmpDir;
  env.RESCALE_API_KEY = job.jobKey;
  // Rescale's name inside a job (Embedded Job API Keys); RESCALE_API_URL kept for older runners.
  env.RESCALE_API_BASE_URL = job.apiUrl;
  env.RESCALE_API_URL = job.apiUrl;
  env.RESCALE_JOB_ID = job.jobId;
  env.RESCALE_CORES_PER_SLOT = String(job.cores);
  return env;
}
