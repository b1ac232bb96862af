import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  apiConfigPath,
  ConfigurationError,
  RescaleClient,
  readProfiles,
  resolveConfig,
  writeProfile,
} from "../src/index.js";

let home: string;
let env: Record<string, string | undefined>;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "sdk-config-"));
  env = { HOME: home, XDG_CONFIG_HOME: join(home, "xdg") };
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe("profiles", () => {
  it("lives under $XDG_CONFIG_HOME/rescale/apiconfig, else ~/.config", () => {
    expect(apiConfigPath(env)).toBe(join(home, "xdg", "rescale", "apiconfig"));
    expect(apiConfigPath({ HOME: home })).toBe(join(home, ".config", "rescale", "apiconfig"));
  });

  it("writes profiles with mode 0600, creating the directory, and keeps other profiles", async () => {
    const file = apiConfigPath(env);
    await writeProfile("default", { apiKey: "key-one", apiBaseUrl: "https://eu.rescale.com/" }, file);
    await writeProfile("jp", { apiKey: "key-two", apiBaseUrl: "https://platform.rescale.jp" }, file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readProfiles(file)).toEqual({
      default: { apiKey: "key-one", apiBaseUrl: "https://eu.rescale.com" },
      jp: { apiKey: "key-two", apiBaseUrl: "https://platform.rescale.jp" },
    });
    expect(await readFile(file, "utf8")).toContain(
      "[default]\napibaseurl=https://eu.rescale.com\napikey=key-one",
    );
  });

  it("reads Rescale's own format (spaces around =) and an absent file as empty", async () => {
    const file = apiConfigPath(env);
    expect(await readProfiles(file)).toEqual({});
    await writeProfile("x", { apiKey: "k", apiBaseUrl: "https://kr.rescale.com" }, file);
    await writeFile(file, "[default]\napibaseurl = https://eu.rescale.com\napikey = abc123\n");
    expect((await readProfiles(file)).default).toEqual({
      apiKey: "abc123",
      apiBaseUrl: "https://eu.rescale.com",
    });
  });

  it("rejects bad profile names and URLs", async () => {
    await expect(
      writeProfile("a b", { apiKey: "k", apiBaseUrl: "https://eu.rescale.com" }, apiConfigPath(env)),
    ).rejects.toBeInstanceOf(ConfigurationError);
    await expect(
      writeProfile("a", { apiKey: "k", apiBaseUrl: "not a url" }, apiConfigPath(env)),
    ).rejects.toBeInstanceOf(ConfigurationError);
  });
});

describe("resolveConfig / fromEnvironment", () => {
  it("prefers RESCALE_API_KEY with RESCALE_API_URL or RESCALE_BASE_URL", async () => {
    expect(
      await resolveConfig({
        env: { ...env, RESCALE_API_KEY: "k", RESCALE_BASE_URL: "https://eu.rescale.com" },
      }),
    ).toEqual({
      apiKey: "k",
      apiBaseUrl: "https://eu.rescale.com",
      source: "environment",
    });
    const na = await resolveConfig({ env: { ...env, RESCALE_API_KEY: "k" } });
    expect(na.apiBaseUrl).toBe("https://platform.rescale.com");
  });

  it("falls back to the default profile, or the named one", async () => {
    const file = apiConfigPath(env);
    await writeProfile("default", { apiKey: "d", apiBaseUrl: "https://eu.rescale.com" }, file);
    await writeProfile("jp", { apiKey: "j", apiBaseUrl: "https://platform.rescale.jp" }, file);
    expect((await resolveConfig({ env })).apiKey).toBe("d");
    expect((await resolveConfig({ env: { ...env, RESCALE_PROFILE: "jp" } })).apiKey).toBe("j");
    const client = await RescaleClient.fromEnvironment({
      env: { ...env, RESCALE_API_KEY: "ignored" },
      profile: "jp",
    });
    expect(client.baseUrl).toBe("https://platform.rescale.jp");
  });

  it("throws a ConfigurationError that says what to set, without any key", async () => {
    const error = await resolveConfig({ env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/RESCALE_API_KEY/);
    expect((error as Error).message).toContain(apiConfigPath(env));
    await writeProfile(
      "default",
      { apiKey: "secret-key-123", apiBaseUrl: "https://eu.rescale.com" },
      apiConfigPath(env),
    );
    const missing = await resolveConfig({ env, profile: "nope" }).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/No Rescale profile named "nope".*Known profiles: default/);
    expect((missing as Error).message).not.toContain("secret-key-123");
  });
});
