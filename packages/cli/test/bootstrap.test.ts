import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BOOTSTRAP_FILE_NAME, renderBootstrapScript, shellQuote } from "../src/bootstrap.js";

/** Tools the script may use; everything else (node, conda) is absent unless a test puts it on the fake PATH. */
const TOOLS = ["sh", "bash", "tar", "gzip", "xz", "mkdir", "mktemp", "rm", "uname", "cat", "sleep", "env"];

let dir: string;
let bin: string;

function which(tool: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function writeExecutable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

/** A runner bundle whose bin prints its argv and the thread env, then exits with 3. */
function makeRunnerBundle(): void {
  const src = join(dir, "bundle-src");
  mkdirSync(join(src, "dist"), { recursive: true });
  writeFileSync(
    join(src, "package.json"),
    JSON.stringify({ name: "@rescale-run/runner", bin: { "rescale-runner": "dist/bin.js" } }),
  );
  writeFileSync(
    join(src, "dist", "bin.js"),
    `console.log("ARGS " + JSON.stringify(process.argv.slice(2)) + " OMP=" + process.env.OMP_NUM_THREADS);
process.exit(3);\n`,
  );
  const r = spawnSync("tar", ["-czf", join(dir, "job", "runner.tgz"), "-C", src, "."]);
  expect(r.status).toBe(0);
}

function runScript(options: { tarball?: string; runnerArgs?: string[] } = {}) {
  const script = renderBootstrapScript({
    runnerArchive: "runner.tgz",
    dataDir: "dataset",
    outDir: "outputs",
    threads: 4,
    runnerArgs: options.runnerArgs ?? ["--epochs", "2"],
    nodeTarball: options.tarball,
  });
  writeFileSync(join(dir, "job", BOOTSTRAP_FILE_NAME), script);
  return spawnSync(join(bin, "bash"), [BOOTSTRAP_FILE_NAME], {
    cwd: join(dir, "job"),
    env: { PATH: bin, HOME: join(dir, "home"), TMPDIR: join(dir, "tmp") },
    encoding: "utf8",
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rr-bootstrap-"));
  bin = join(dir, "bin");
  mkdirSync(bin);
  mkdirSync(join(dir, "job"));
  mkdirSync(join(dir, "home"));
  mkdirSync(join(dir, "tmp"));
  for (const tool of TOOLS) {
    const path = which(tool);
    if (path) symlinkSync(path, join(bin, tool));
  }
  makeRunnerBundle();
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("bootstrap script", () => {
  it("uses node from PATH, passes the threads and runner args, and exits with the runner's status", () => {
    symlinkSync(process.execPath, join(bin, "node"));
    const r = runScript({ runnerArgs: ["--epochs", "2", "--name", "it's"] });
    expect(r.stdout).toContain("from PATH");
    expect(r.stdout).toContain(
      `ARGS ${JSON.stringify(["train", "--data", "dataset", "--out", "outputs", "--threads", "4", "--no-quiet", "--epochs", "2", "--name", "it's"])} OMP=4`,
    );
    expect(r.status).toBe(3);
    // The runtime and runner are unpacked outside the working directory (never job outputs) and removed.
    expect(readdirSync(join(dir, "job")).sort()).toEqual([BOOTSTRAP_FILE_NAME, "runner.tgz"]);
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
  });

  it("without node installs nodejs from conda-forge through conda", () => {
    const conda = join(dir, "home", "miniconda3", "bin");
    mkdirSync(conda, { recursive: true });
    // A fake conda: records its arguments and "installs" node into the -p prefix.
    writeExecutable(
      join(conda, "conda"),
      `#!/bin/sh\necho "CONDA $*"\nwhile [ "$1" != "-p" ]; do shift; done\nmkdir -p "$2/bin"\nln -s ${process.execPath} "$2/bin/node"\n`,
    );
    symlinkSync(which("ln")!, join(bin, "ln"));
    const r = runScript();
    expect(r.stdout).toMatch(
      /CONDA create -y -q -p .*\/tmp\/rescale-run\.\w+\/conda-node -c conda-forge nodejs>=20/,
    );
    expect(r.stdout).toContain("from conda-forge");
    expect(r.stdout).toContain("ARGS");
    expect(r.status).toBe(3);
  });

  it("skips a node older than 20 on PATH", () => {
    writeExecutable(join(bin, "node"), "#!/bin/sh\necho v18.19.0\n");
    const r = runScript();
    expect(r.stdout).toContain("is older than 20");
    expect(r.stderr).toContain("no Node.js >= 20 on PATH, no conda");
    expect(r.status).toBe(127);
  });

  it("uses the --offline-runtime tarball when there is no node", () => {
    const nodeDir = join(dir, "node-v20-linux-x64", "bin");
    mkdirSync(nodeDir, { recursive: true });
    writeExecutable(join(nodeDir, "node"), `#!/bin/sh\nexec ${process.execPath} "$@"\n`);
    spawnSync("tar", ["-czf", join(dir, "job", "node.tar.gz"), "-C", dir, "node-v20-linux-x64"]);
    const r = runScript({ tarball: "node.tar.gz" });
    expect(r.stdout).toContain("from node.tar.gz");
    expect(r.stdout).toContain("ARGS");
    expect(r.status).toBe(3);
  });

  it("fails with 127 and a clear message when no runtime can be found", () => {
    const r = runScript();
    expect(r.stderr).toContain("error: no Node.js >= 20 on PATH, no conda, and no --offline-runtime tarball");
    expect(r.status).toBe(127);
  });

  it("is valid POSIX sh (dash -n)", () => {
    const script = renderBootstrapScript({
      runnerArchive: "r.tgz",
      dataDir: "data set",
      outDir: "outputs",
      threads: 2,
      runnerArgs: [],
    });
    writeFileSync(join(dir, "s.sh"), script);
    const r = spawnSync("sh", ["-n", join(dir, "s.sh")], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(script).toContain("--data 'data set'");
  });
});

describe("shellQuote", () => {
  it("leaves safe words alone and quotes the rest", () => {
    expect(shellQuote("dataset/x-1.png")).toBe("dataset/x-1.png");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe(`'it'"'"'s'`);
    expect(shellQuote("$(rm -rf /)")).toBe("'$(rm -rf /)'");
  });
});
