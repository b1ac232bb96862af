/**
 * Where the API key and base URL come from: explicit options, the environment, or the INI profiles file
 * that Rescale's own tools use (`$XDG_CONFIG_HOME/rescale/apiconfig`, default `~/.config/rescale/apiconfig`).
 */
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parse as parseIni, stringify as stringifyIni } from "ini";
import { writeFileAtomic } from "./atomic-write.js";
import { ConfigurationError, InvalidBaseUrlError, ProfileNotFoundError } from "./errors.js";
import { xdgBaseDir } from "./user-dirs.js";

export const DEFAULT_BASE_URL = "https://platform.rescale.com";

export const REGIONAL_BASE_URLS = {
  na: "https://platform.rescale.com",
  eu: "https://eu.rescale.com",
  jp: "https://platform.rescale.jp",
  kr: "https://kr.rescale.com",
  itar: "https://itar.rescale.com",
  itarGov: "https://itar.rescale-gov.com",
} as const;

export interface Profile {
  apiKey: string;
  apiBaseUrl: string;
  /** Project (id or name) jobs go into when none is given (`project = ...` in the profile). */
  project?: string;
}

export interface ResolvedConfig extends Profile {
  /** Where the values came from, for messages (never the key itself). */
  source: "environment" | `profile:${string}`;
}

type Env = Record<string, string | undefined>;

/** `$XDG_CONFIG_HOME/rescale/apiconfig`, default `~/.config/rescale/apiconfig` (Rescale's folder, not rescale-run's). */
export function apiConfigPath(env: Env = process.env): string {
  return join(xdgBaseDir("config", env), "rescale", "apiconfig");
}

/** Reads every profile of the apiconfig file; an absent file gives `{}`. Incomplete sections are skipped. */
export async function readProfiles(file: string = apiConfigPath()): Promise<Record<string, Profile>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new ConfigurationError(
      `Cannot read the Rescale profiles file ${file}: ${(error as Error).message}`,
    );
  }
  const parsed = parseIni(text) as Record<string, unknown>;
  const profiles: Record<string, Profile> = {};
  for (const [name, section] of Object.entries(parsed)) {
    if (section === null || typeof section !== "object") continue;
    const values = section as Record<string, unknown>;
    const apiKey = typeof values.apikey === "string" ? values.apikey.trim() : "";
    if (!apiKey) continue;
    const apiBaseUrl = typeof values.apibaseurl === "string" && values.apibaseurl.trim();
    const project = typeof values.project === "string" ? values.project.trim() : "";
    profiles[name] = { apiKey, apiBaseUrl: apiBaseUrl || DEFAULT_BASE_URL, ...(project ? { project } : {}) };
  }
  return profiles;
}

/**
 * Adds or replaces one profile, keeping the others. The file is written with mode 0600 (it holds keys),
 * atomically (temp file + rename), and its directory is created if needed.
 */
export async function writeProfile(
  name: string,
  profile: Profile,
  file: string = apiConfigPath(),
): Promise<string> {
  if (!/^[\w.-]+$/.test(name)) {
    throw new ConfigurationError(`Profile name "${name}" must use letters, digits, "_", "-" or "." only.`);
  }
  if (!profile.apiKey) throw new ConfigurationError("Cannot save a profile without an API key.");
  const apiBaseUrl = normalizeBaseUrl(profile.apiBaseUrl);
  let existing: Record<string, unknown> = {};
  try {
    existing = parseIni(await readFile(file, "utf8")) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  existing[name] = {
    apibaseurl: apiBaseUrl,
    apikey: profile.apiKey,
    ...(profile.project ? { project: profile.project } : {}),
  };
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, stringifyIni(existing), { mode: 0o600 });
  return file;
}

/** Validates a base URL and strips trailing slashes and a trailing `/api[/vN]`. */
export function normalizeBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new InvalidBaseUrlError(
      `"${raw}" is not a valid Rescale base URL; expected something like ${DEFAULT_BASE_URL}.`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new InvalidBaseUrlError(`Rescale base URL must be http(s), got "${url.protocol}".`);
  }
  const path = url.pathname.replace(/\/+$/, "").replace(/\/api(\/v\d+)?$/, "");
  return `${url.origin}${path}`;
}

export interface ResolveConfigOptions {
  /** Profile name; when given it wins over the environment. Default: `$RESCALE_PROFILE` or `default`. */
  profile?: string;
  env?: Env;
  /** Profiles file; default `apiConfigPath(env)`. */
  file?: string;
}

/**
 * Explicit profile > `RESCALE_API_KEY` (+ `RESCALE_API_BASE_URL`, Rescale's name inside a job, | `RESCALE_API_URL`
 * | `RESCALE_BASE_URL`; `RESCALE_PROJECT` for the project) > profile
 * `$RESCALE_PROFILE` or `default`. Throws a ConfigurationError that says what to set when nothing is found.
 */
export async function resolveConfig(options: ResolveConfigOptions = {}): Promise<ResolvedConfig> {
  const env = options.env ?? process.env;
  const file = options.file ?? apiConfigPath(env);
  if (!options.profile && env.RESCALE_API_KEY) {
    const baseUrl =
      env.RESCALE_API_BASE_URL || env.RESCALE_API_URL || env.RESCALE_BASE_URL || DEFAULT_BASE_URL;
    const project = env.RESCALE_PROJECT?.trim();
    return {
      apiKey: env.RESCALE_API_KEY,
      apiBaseUrl: normalizeBaseUrl(baseUrl),
      source: "environment",
      ...(project ? { project } : {}),
    };
  }
  const name = options.profile || env.RESCALE_PROFILE || "default";
  const profiles = await readProfiles(file);
  const profile = profiles[name];
  if (profile) {
    return {
      apiKey: profile.apiKey,
      apiBaseUrl: normalizeBaseUrl(profile.apiBaseUrl),
      source: `profile:${name}`,
      ...(profile.project ? { project: profile.project } : {}),
    };
  }
  const known = Object.keys(profiles);
  const hint = known.length ? ` Known profiles: ${known.join(", ")}.` : "";
  // A profile named explicitly and absent is "not found"; nothing configured at all is a missing key.
  if (options.profile)
    throw new ProfileNotFoundError(`No Rescale profile named "${name}" in ${file}.${hint}`);
  throw new ConfigurationError(
    `No Rescale API key configured: set RESCALE_API_KEY (and RESCALE_API_BASE_URL for a region other than ${DEFAULT_BASE_URL}), or add a [${name}] profile with apikey and apibaseurl to ${file}.${hint}`,
  );
}
