/** `ui`: the local dashboard (Workstations, New workstation, Coretype Explorer) on 127.0.0.1. */

import { UsageError } from "../errors.js";
import { defineCommand } from "../factory.js";
import { startUiServer } from "../ui/server.js";

export const uiCommand = defineCommand({
  command: "ui",
  describe: "A dashboard in the browser on 127.0.0.1: workstations, a new-workstation form, the core types",
  builder: (y) =>
    y
      .option("port", { type: "number", default: 0, describe: "Port on 127.0.0.1 (default: a free one)" })
      .example("$0 ui", "Prints the address to open (it carries this session's token)")
      .example("$0 ui --port 8750 --profile default", "Against Rescale; the API key stays in this process"),
  async run({ port }, factory) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new UsageError(`--port must be 0..65535, not ${port}.`);
    }
    const target = await factory.target();
    const server = await startUiServer({ target, factory, port }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE")
        throw new UsageError(
          `--port ${port}: that port on 127.0.0.1 is in use.`,
          "Pick another, or 0 for any free one.",
        );
      throw err;
    });
    factory.out.result({ url: server.url, loginUrl: server.loginUrl, platform: target.label }, () => {
      factory.out.line(`Dashboard on ${target.label}:`);
      factory.out.line(`  ${server.loginUrl}`);
    });
    factory.out.note(
      "The address carries this session's token: do not share it. Ctrl-C stops the dashboard.",
    );
    if (target.inProcess)
      factory.out.warn(
        "the local platform runs inside this command: its jobs stop with the dashboard (use `rescale-run local start` to keep them).",
      );
    await new Promise<void>((done) => {
      if (factory.signal.aborted) return done();
      factory.signal.addEventListener("abort", () => done(), { once: true });
    });
    await server.close();
  },
});
