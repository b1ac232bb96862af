/**
 * Which platform a command talks to: Rescale when a profile or RESCALE_API_KEY is given (and not --local),
 * else the local platform: a running daemon (`rescale-run local start`) or one started inside this process
 * for the command's duration.
 */
import { cpus } from "node:os";
import { ensureLocalApiKey, shareableDaemon, startLocalPlatform } from "@rescale-run/local";
import { RescaleClient, resolveConfig } from "@rescale-run/sdk";
import { plainHttpWarning } from "./exposure.js";
import type { CliIo } from "./io.js";
import type { Output } from "./output.js";

/** The local platform offers up to this many times the machine's cores (oversubscribed, and labelled so). */
export const LOCAL_OVERSUBSCRIPTION = 2;

export function defaultLocalCapacity(): number {
  return Math.max(1, cpus().length) * LOCAL_OVERSUBSCRIPTION;
}

export interface Target {
  kind: "rescale" | "local";
  /** For messages, e.g. "Rescale (https://platform.rescale.com, profile default)". Never holds the key. */
  label: string;
  baseUrl: string;
  client: RescaleClient;
  /** True when the local platform runs inside this process: jobs stop when the command exits. */
  inProcess: boolean;
  /** The profile's (or `RESCALE_PROJECT`'s) project, when set: what `submit` uses without --project. */
  project?: string;
  close(): Promise<void>;
}

/** What decides the target: the global flags --profile and --local, the environment; warnings go to `out`. */
interface TargetChoice {
  globals: { profile?: string; local: boolean };
  io: Pick<CliIo, "env">;
  out: Pick<Output, "warn">;
}

export async function openTarget({ globals, io, out }: TargetChoice): Promise<Target> {
  const env = io.env;
  if (!globals.local && (globals.profile || env.RESCALE_API_KEY || env.RESCALE_PROFILE)) {
    const config = await resolveConfig({ profile: globals.profile, env });
    const client = new RescaleClient({ apiKey: config.apiKey, baseUrl: config.apiBaseUrl });
    const source = config.source === "environment" ? "RESCALE_API_KEY" : config.source.replace(":", " ");
    const insecure = plainHttpWarning(config.apiBaseUrl);
    if (insecure) out.warn(insecure);
    return {
      kind: "rescale",
      label: `Rescale (${config.apiBaseUrl}, ${source})`,
      baseUrl: config.apiBaseUrl,
      client,
      inProcess: false,
      project: config.project,
      close: async () => {},
    };
  }
  const daemon = await shareableDaemon(); // refuses another command's in-process platform: its exit would kill our job
  if (daemon) {
    return {
      kind: "local",
      label: `local platform (daemon pid ${daemon.pid}, ${daemon.url})`,
      baseUrl: daemon.url,
      client: new RescaleClient({ apiKey: ensureLocalApiKey(), baseUrl: daemon.url }),
      inProcess: false,
      close: async () => {},
    };
  }
  // Outputs appear in full a moment after Completed, as on Rescale, so the CLI's wait for them is exercised.
  const platform = await startLocalPlatform({ maxCores: defaultLocalCapacity(), port: 0, outputSyncMs: 500 });
  return {
    kind: "local",
    label: `local platform (in this process, ${platform.url})`,
    baseUrl: platform.url,
    client: new RescaleClient({ apiKey: platform.apiKey, baseUrl: platform.url }),
    inProcess: true,
    close: () => platform.close(),
  };
}
