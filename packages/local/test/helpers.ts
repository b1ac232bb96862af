import path from "node:path";
import { makeSandbox, RawApi, type Sandbox } from "../../testkit/src/index.js";
import { type LocalPlatform, type LocalPlatformOptions, startLocalPlatform } from "../src/index.js";

export interface TestPlatform {
  platform: LocalPlatform;
  api: RawApi;
  sandbox: Sandbox;
  dataDir: string;
  close(): Promise<void>;
}

/** A real platform on 127.0.0.1:0 with HOME and XDG_* sandboxed for this test file. */
export async function startTestPlatform(options: LocalPlatformOptions = {}): Promise<TestPlatform> {
  const sandbox = await makeSandbox("local-platform-");
  const savedEnv = { ...process.env };
  Object.assign(process.env, sandbox.env);
  const dataDir = path.join(sandbox.dataDir, "platform");
  const platform = await startLocalPlatform({ dataDir, killGraceMs: 500, ...options });
  return {
    platform,
    api: new RawApi(platform.url, platform.apiKey),
    sandbox,
    dataDir,
    close: async () => {
      await platform.close();
      process.env = savedEnv;
      await sandbox.cleanup();
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
