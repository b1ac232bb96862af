/** `local start|stop|status`: the local Rescale-compatible platform as a background daemon. */
import { daemonStatus, startDaemon, stopDaemon } from "@rescale-run/local";
import { exposedHostWarning } from "../exposure.js";
import { type CommandSpec, defineCommand } from "../factory.js";
import { defaultLocalCapacity, LOCAL_OVERSUBSCRIPTION } from "../target.js";

const startSpec = defineCommand({
  command: "start",
  describe: "Start the local platform in the background (jobs keep running after commands exit)",
  builder: (y) =>
    y
      .option("host", {
        type: "string",
        default: "127.0.0.1",
        describe: "Interface to listen on (anything but loopback lets other machines in: warned)",
      })
      .option("port", { type: "number", default: 0, describe: "Port (0: a free one)" })
      .option("max-cores", {
        type: "number",
        describe: `Cores handed out at once (default ${LOCAL_OVERSUBSCRIPTION} x this machine's cores: oversubscribed, labelled so)`,
      })
      .option("catalog", { type: "string", describe: "JSON file of extra (emulated) core types" })
      .example("$0 local start", "Start it; later commands without a Rescale key use it")
      .example("$0 local start --max-cores 2", "Never oversubscribe"),
  async run(options, factory) {
    const { host } = options;
    const exposed = exposedHostWarning(host);
    if (exposed) factory.out.warn(exposed);
    const info = await startDaemon({
      host,
      port: options.port,
      maxCores: options.maxCores ?? defaultLocalCapacity(),
      catalogFile: options.catalog,
    });
    factory.out.result(info, () =>
      factory.out.line(
        `${info.started ? "started" : "already running"}: local platform at ${info.url} (pid ${info.pid}, data ${info.dataDir}, log ${info.logFile})`,
      ),
    );
  },
});

const stopSpec = defineCommand({
  command: "stop",
  describe: "Stop the local platform daemon (running jobs are ended and recorded as such)",
  builder: (y) => y.example("$0 local stop", "Stop it"),
  async run(_options, factory) {
    const result = await stopDaemon();
    factory.out.result(result, () =>
      factory.out.line(
        result.stopped
          ? `stopped the local platform (pid ${result.pid})`
          : "the local platform was not running",
      ),
    );
  },
});

const statusSpec = defineCommand({
  command: "status",
  describe: "Is the local platform daemon running, and where",
  builder: (y) => y.example("$0 local status --json", "pid, url, data directory"),
  async run(_options, factory) {
    const status = await daemonStatus();
    factory.out.result(status, () =>
      factory.out.line(
        status.running
          ? `running: ${status.url} (pid ${status.pid}, since ${status.startedAt}, data ${status.dataDir})`
          : `not running${status.stalePid ? ` (stale record of pid ${status.stalePid})` : ""}; commands start one in-process when needed (data ${status.dataDir})`,
      ),
    );
  },
});

export const localCommand: CommandSpec = {
  command: "local",
  describe: "The local Rescale-compatible platform on this machine",
  subcommands: [startSpec, stopSpec, statusSpec],
};
