import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LocalPlatformError } from "./errors.js";
import { isAlive, readServerRecord, type ServerRecord } from "./lockfile.js";
import { defaultDataDir } from "./paths.js";

export interface DaemonOptions {
  dataDir?: string;
  /** Interface to bind; default 127.0.0.1 (anything else is the caller's explicit choice, warned about there). */
  host?: string;
  port?: number;
  maxCores?: number;
  catalogFile?: string;
  /** How long to wait for the daemon to answer. Default 20 s. */
  timeoutMs?: number;
}

export interface DaemonInfo extends ServerRecord {
  dataDir: string;
  /** false when a daemon was already running and was reused. */
  started: boolean;
  logFile: string;
}

export type DaemonStatus =
  | ({ running: true; dataDir: string } & ServerRecord)
  | { running: false; dataDir: string; stalePid?: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The server entry and how to run it: dist/bin.js with node, or src/bin.ts through tsx when running from source. */
function serverEntry(): { args: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".ts")) return { args: ["--import", "tsx", path.join(path.dirname(here), "bin.ts")] };
  return { args: [path.join(path.dirname(here), "bin.js")] };
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/api/v2/coretypes/`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 401 || res.ok; // 401 without a key: it is our server, alive
  } catch {
    return false;
  }
}

export async function daemonStatus(options: { dataDir?: string } = {}): Promise<DaemonStatus> {
  const dataDir = path.resolve(options.dataDir ?? defaultDataDir());
  const record = readServerRecord(dataDir);
  if (!record) return { running: false, dataDir };
  if (!isAlive(record.pid) || !(await answers(record.url)))
    return { running: false, dataDir, stalePid: record.pid };
  return { running: true, dataDir, ...record };
}

/**
 * A platform that lives inside another command (`standalone: false`) must not be shared: its jobs end when
 * that command exits, so a second command's job would be killed by the first one's exit. Refused up front.
 */
function refuseInProcess(status: DaemonStatus, what: string): void {
  if (status.running && !status.standalone)
    throw new LocalPlatformError(
      `${what}: another rescale-run command (pid ${status.pid}) is running the local platform inside itself, and its jobs end when it exits. ` +
        "Wait for it to finish, then run `rescale-run local start` so that commands share one platform that outlives them.",
    );
}

/** The running daemon commands may share, or undefined when none runs; refuses another command's in-process platform. */
export async function shareableDaemon(
  options: { dataDir?: string; what?: string } = {},
): Promise<(ServerRecord & { dataDir: string }) | undefined> {
  const status = await daemonStatus(options);
  refuseInProcess(status, options.what ?? "cannot use the local platform");
  return status.running ? status : undefined;
}

/** Starts the platform as a detached background process (or reuses the one already serving dataDir). */
export async function startDaemon(options: DaemonOptions = {}): Promise<DaemonInfo> {
  const dataDir = path.resolve(options.dataDir ?? defaultDataDir());
  const logFile = path.join(dataDir, "daemon.log");
  const current = await daemonStatus({ dataDir });
  refuseInProcess(current, "cannot start the local platform daemon");
  if (current.running) return { ...current, started: false, logFile };

  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const args = [...serverEntry().args, "--data-dir", dataDir, "--port", String(options.port ?? 0)];
  if (options.host) args.push("--host", options.host);
  if (options.maxCores) args.push("--max-cores", String(options.maxCores));
  if (options.catalogFile) args.push("--catalog", path.resolve(options.catalogFile));
  const log = fs.openSync(logFile, "a", 0o600);
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ["ignore", log, log],
    env: process.env,
  });
  fs.closeSync(log);
  child.unref();

  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null || (child.pid && !isAlive(child.pid))) break;
    const record = readServerRecord(dataDir);
    if (record && record.pid === child.pid && (await answers(record.url)))
      return { ...record, dataDir, started: true, logFile };
    await sleep(100);
  }
  if (child.pid && isAlive(child.pid)) process.kill(child.pid, "SIGTERM");
  const tail = fs.readFileSync(logFile, "utf8").split("\n").slice(-10).join("\n");
  throw new LocalPlatformError(`the local platform did not start (see ${logFile}):\n${tail}`);
}

/** Stops the daemon serving dataDir: SIGTERM (running jobs are ended and recorded), SIGKILL after the timeout. */
export async function stopDaemon(
  options: { dataDir?: string; timeoutMs?: number } = {},
): Promise<{ stopped: boolean; pid?: number }> {
  const dataDir = path.resolve(options.dataDir ?? defaultDataDir());
  const record = readServerRecord(dataDir);
  if (!record || !isAlive(record.pid)) return { stopped: false };
  if (!record.standalone)
    throw new LocalPlatformError(
      `the local platform at ${record.url} runs inside another rescale-run command (pid ${record.pid}), not as a daemon; it stops when that command ends (Ctrl-C there, or \`rescale-run stop <job>\` for one job).`,
    );
  process.kill(record.pid, "SIGTERM");
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (isAlive(record.pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(record.pid)) process.kill(record.pid, "SIGKILL");
  return { stopped: true, pid: record.pid };
}
