import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { rescaleRunDir } from "@rescale-run/sdk/user-dirs";
import { LocalConfigError } from "./errors.js";

/** What `local-platform.json` holds. The key is a secret: the file is written mode 0600. */
export interface LocalPlatformConfig {
  apiKey: string;
}

export function localPlatformConfigPath(): string {
  return path.join(rescaleRunDir("config"), "local-platform.json");
}

/** Reads the stored local key, or undefined when none was created yet. */
export function readLocalPlatformConfig(file = localPlatformConfigPath()): LocalPlatformConfig | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let parsed: Partial<LocalPlatformConfig>;
  try {
    parsed = JSON.parse(text) as Partial<LocalPlatformConfig>;
  } catch {
    throw new LocalConfigError(`${file} is not valid JSON; delete the file to have a new key created`);
  }
  if (typeof parsed?.apiKey !== "string" || parsed.apiKey.length < 20) {
    throw new LocalConfigError(`${file} has no valid "apiKey"; delete the file to have a new key created`);
  }
  // The file holds a secret: never leave it readable by others, whoever loosened it.
  if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  return { apiKey: parsed.apiKey };
}

export function writeLocalPlatformConfig(
  config: LocalPlatformConfig,
  file = localPlatformConfigPath(),
): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

export function newApiKey(): string {
  return randomBytes(24).toString("hex");
}

/** The stored key, created (and stored 0600) on first use. */
export function ensureLocalApiKey(file = localPlatformConfigPath()): string {
  const existing = readLocalPlatformConfig(file);
  if (existing) return existing.apiKey;
  const apiKey = newApiKey();
  writeLocalPlatformConfig({ apiKey }, file);
  return apiKey;
}
