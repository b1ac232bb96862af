import path from "node:path";
import { makeSandbox, RawApi, type Sandbox } from "@rescale-run/testkit";
import { afterAll, beforeAll } from "vitest";
import {
  type LocalPlatform,
  type LocalPlatformOptions,
  startLocalPlatform,
  stopDaemon,
} from "../src/index.js";

/** Points HOME and XDG_* at a fresh temp tree; `leave()` restores the environment and removes the tree. */
export async function enterSandbox(prefix: string): Promise<{ sandbox: Sandbox; leave(): Promise<void> }> {
  const sandbox = await makeSandbox(prefix);
  const savedEnv = { ...process.env };
  Object.assign(process.env, sandbox.env);
  return {
    sandbox,
    leave: async () => {
      process.env = savedEnv;
      await sandbox.cleanup();
    },
  };
}

/** For tests of the daemon: a sandbox for the whole file and a data dir whose daemon is stopped at the end. */
export function useDaemonSandbox(prefix: string): { sandbox: Sandbox; dataDir: string } {
  const state = {} as { sandbox: Sandbox; dataDir: string };
  let leave: () => Promise<void> = async () => {};
  beforeAll(async () => {
    const entered = await enterSandbox(prefix);
    leave = entered.leave;
    state.sandbox = entered.sandbox;
    state.dataDir = path.join(entered.sandbox.dataDir, "platform");
  });
  afterAll(async () => {
    await stopDaemon({ dataDir: state.dataDir });
    await leave();
  });
  return state;
}

export interface TestPlatform {
  platform: LocalPlatform;
  api: RawApi;
  sandbox: Sandbox;
  dataDir: string;
  close(): Promise<void>;
}

/** A real platform on 127.0.0.1:0 with HOME and XDG_* sandboxed for this test file. */
export async function startTestPlatform(options: LocalPlatformOptions = {}): Promise<TestPlatform> {
  const { sandbox, leave } = await enterSandbox("local-platform-");
  const dataDir = path.join(sandbox.dataDir, "platform");
  const platform = await startLocalPlatform({ dataDir, killGraceMs: 500, ...options });
  return {
    platform,
    api: new RawApi(platform.url, platform.apiKey),
    sandbox,
    dataDir,
    close: async () => {
      await platform.close();
      await leave();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` returns a value (not undefined), or fails after timeoutMs. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(50);
  }
}
