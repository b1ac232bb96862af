#!/usr/bin/env node
import { parseArgs } from "node:util";
import { startLocalPlatform } from "./platform.js";

const USAGE = `rescale-local: run the local Rescale-compatible platform in the foreground

  --data-dir DIR   state directory (default $XDG_DATA_HOME/rescale-run/local)
  --host HOST      interface to bind (default 127.0.0.1)
  --port N         port (default 0: any free port)
  --max-cores N    cores handed out at once (default: this machine's)
  --catalog FILE   JSON file of extra core types, listed as emulated
  --archive-max-bytes N    bytes one input archive may expand to (default 16 GiB)
  --archive-max-entries N  entries one input archive may hold (default 200000)
  --help`;

async function main(): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        "data-dir": { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        "max-cores": { type: "string" },
        catalog: { type: "string" },
        "archive-max-bytes": { type: "string" },
        "archive-max-entries": { type: "string" },
        help: { type: "boolean" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const int = (name: string): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !/^\d+$/.test(v))
      throw new Error(`--${name} must be a whole number, got "${v}"`);
    return Number(v);
  };
  const platform = await startLocalPlatform({
    dataDir: values["data-dir"] as string | undefined,
    host: values.host as string | undefined,
    port: int("port"),
    maxCores: int("max-cores"),
    catalogFile: values.catalog as string | undefined,
    archiveLimits: {
      ...(values["archive-max-bytes"] ? { maxBytes: int("archive-max-bytes") } : {}),
      ...(values["archive-max-entries"] ? { maxEntries: int("archive-max-entries") } : {}),
    },
    standalone: true,
    logger: true,
  });
  process.stdout.write(
    `local platform listening on ${platform.url} (data: ${platform.dataDir}, pid ${process.pid})\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    // a closed terminal: stop jobs and clean up as on SIGTERM, instead of dying with their processes left running
    process.once("SIGHUP", stop);
  });
  await platform.close();
  process.stdout.write("local platform stopped\n");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`rescale-local: ${err.message}\n`);
    process.exit(1);
  },
);
