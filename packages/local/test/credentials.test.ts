import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureLocalApiKey,
  LocalConfigError,
  localPlatformConfigPath,
  readLocalPlatformConfig,
} from "../src/index.js";
import { enterSandbox } from "./helpers.js";

// The local key file under $XDG_CONFIG_HOME/rescale-run: created once, 0600, damage reported clearly.

let leave: () => Promise<void>;
beforeAll(async () => {
  ({ leave } = await enterSandbox("local-credentials-"));
});
afterAll(() => leave());

describe("local key file", () => {
  it("is created on first use with mode 0600 and then reused", () => {
    expect(readLocalPlatformConfig()).toBeUndefined();
    const key = ensureLocalApiKey();
    expect(key).toMatch(/^[0-9a-f]{48}$/);
    expect(fs.statSync(localPlatformConfigPath()).mode & 0o777).toBe(0o600);
    expect(ensureLocalApiKey()).toBe(key);
  });

  it("tightens a file someone made readable to others", () => {
    fs.chmodSync(localPlatformConfigPath(), 0o644);
    readLocalPlatformConfig();
    expect(fs.statSync(localPlatformConfigPath()).mode & 0o777).toBe(0o600);
  });

  it("reports a damaged file with a typed error naming the file, never its content", () => {
    const file = localPlatformConfigPath();
    fs.writeFileSync(file, '{"apiKey": "secret-but-broken', { mode: 0o600 });
    const error = (() => {
      try {
        readLocalPlatformConfig();
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(LocalConfigError);
    expect(error?.message).toContain(path.basename(file));
    expect(error?.message).not.toContain("secret-but-broken");
  });
});
