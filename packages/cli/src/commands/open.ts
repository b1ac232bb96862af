/** `open JOB_OR_FOLDER`: a run's report.html in the browser, or its path where no browser can be opened. */
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { NotFoundError } from "../errors.js";
import { defineCommand, type Factory } from "../factory.js";
import { downloadJobOutputs } from "../job-outputs.js";
import { REPORT_FILE } from "../ui/data.js";

/** Where a report sits in a folder: the folder itself, or the `outputs/` a download puts it in. */
export function reportIn(folder: string): string | null {
  for (const file of [join(folder, REPORT_FILE), join(folder, "outputs", REPORT_FILE)]) {
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  return null;
}

/** The command that opens a file in the desktop's browser, or null where there is no desktop to open it on. */
export function opener(
  platform: NodeJS.Platform,
  env: NodeJS.ProcessEnv,
): { command: string; args: string[] } | null {
  if (platform === "darwin") return { command: "open", args: [] };
  if (platform === "win32") return { command: "cmd", args: ["/c", "start", ""] };
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return null;
  return { command: "xdg-open", args: [] };
}

function launch(cmd: { command: string; args: string[] }, file: string): Promise<boolean> {
  return new Promise((done) => {
    const child = spawn(cmd.command, [...cmd.args, file], { stdio: "ignore", detached: true });
    child.once("error", () => done(false));
    child.once("spawn", () => {
      child.unref();
      done(true);
    });
  });
}

async function findReport(factory: Factory, what: string): Promise<string> {
  const path = resolve(factory.io.cwd, what);
  if (existsSync(path)) {
    if (statSync(path).isFile()) return path;
    const found = reportIn(path);
    if (found) return found;
    throw new NotFoundError(
      `No ${REPORT_FILE} in ${path} (nor in its outputs/ folder).`,
      "The runner writes it at the end of training; runs from before it existed have none.",
    );
  }
  // A job id: its downloaded outputs, else fetch just the report from the platform.
  const folder = resolve(factory.io.cwd, `rescale-run-${what}`);
  const local = reportIn(folder);
  if (local) return local;
  const { client } = await factory.target();
  const files = await downloadJobOutputs(client, what, folder, factory.out, {
    signal: factory.signal,
    filter: (f) => f.name === REPORT_FILE,
  });
  if (!files[0])
    throw new NotFoundError(
      `Job ${what} has no ${REPORT_FILE} (yet).`,
      `It is written when training ends; check with: rescale-run status ${what}`,
    );
  return files[0].path;
}

export const openCommand = defineCommand({
  command: "open <target>",
  describe: "Open a run's report.html (a job id, or an outputs folder) in the browser",
  builder: (y) =>
    y
      .positional("target", {
        type: "string",
        demandOption: true,
        describe: "Job id, or a folder / report.html",
      })
      .option("print", {
        type: "boolean",
        default: false,
        describe: "Print the report's path instead of opening it",
      })
      .example("$0 open 12", "The report of job 12 (downloaded to ./rescale-run-12 if not there yet)")
      .example("$0 open ./rescale-run-12 --print", "Just the path"),
  async run(options, factory) {
    const file = await findReport(factory, options.target);
    const cmd = options.print ? null : opener(process.platform, factory.io.env);
    const opened = cmd ? await launch(cmd, file) : false;
    factory.out.result({ path: file, opened }, () => {
      if (opened) factory.out.note(`opened ${file}`);
      else if (!options.print) factory.out.note("no browser to open it in (no DISPLAY); its path:");
      factory.out.line(file);
    });
  },
});
