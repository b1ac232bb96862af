/** The dashboard over a local platform in this process, for tests and bench/ui.ts: a quiet factory and a target. */
import { PassThrough, Readable } from "node:stream";
import type { LocalPlatform } from "@rescale-run/local";
import { RescaleClient } from "@rescale-run/sdk";
import { createFactory, type Factory } from "../src/factory.js";
import { Output } from "../src/output.js";
import type { Target } from "../src/target.js";

/** A factory whose output goes nowhere; `env` and `cwd` are what the submit flow reads. */
export function quietFactory(env: NodeJS.ProcessEnv, cwd: string): Factory {
  const io = { stdout: new PassThrough(), stderr: new PassThrough(), stdin: Readable.from([]), env, cwd };
  return createFactory({
    io,
    out: new Output(io),
    globals: { json: false, local: true, debug: false },
    signal: new AbortController().signal,
  });
}

/** A target on an in-process local platform (closing it is the caller's business). */
export function localTarget(platform: LocalPlatform, label: string): Target {
  return {
    kind: "local",
    label,
    baseUrl: platform.url,
    client: new RescaleClient({ apiKey: platform.apiKey, baseUrl: platform.url }),
    inProcess: true,
    close: async () => {},
  };
}
