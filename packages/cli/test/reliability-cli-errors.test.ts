import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { startLocalPlatform } from "@rescale-run/local";
import {
  type BadInputs,
  buildZip,
  looksLikeStackTrace,
  makeSandbox,
  REPO_ROOT,
  type RunResult,
  runProcess,
  type Sandbox,
  scanForSecrets,
  tsSourceArgs,
  writeBadInputs,
  ZIP_SYMLINK,
} from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli.js";

// Issue 4, CLI user mistakes and platform trouble: each gets one clear line, a documented exit code
// (2 usage, 3 authentication, 5 unreachable; see EPILOGUE in src/cli.ts) and never a stack trace or the key.
// The CLI runs as a real process from source (node --conditions=source --import tsx), so no build is needed.

const bin = path.join(REPO_ROOT, "packages/cli/src/bin.ts");
const EXIT = { usage: 2, auth: 3, unavailable: 5 } as const;

let sandbox: Sandbox;
let bad: BadInputs;

function rescaleRun(args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  return runProcess(process.execPath, [...tsSourceArgs(bin), ...args], {
    cwd: REPO_ROOT,
    env: {
      ...sandbox.env,
      NO_COLOR: "1",
      RESCALE_API_KEY: undefined,
      RESCALE_API_URL: undefined,
      RESCALE_BASE_URL: undefined,
      RESCALE_PROFILE: undefined,
      ...env,
    },
    timeoutMs: 90_000,
  });
}

/** The same CLI in this process (fast), for mistakes caught before any platform is contacted. */
async function rescaleRunInProcess(args: string[]): Promise<RunResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: "", err: "" };
  stdout.on("data", (d) => {
    chunks.out += d;
  });
  stderr.on("data", (d) => {
    chunks.err += d;
  });
  const started = Date.now();
  const code = await main(args, {
    stdout,
    stderr,
    stdin: Readable.from([]),
    env: { ...sandbox.env, NO_COLOR: "1", PATH: process.env.PATH },
    cwd: sandbox.root,
  });
  return { code, signal: null, stdout: chunks.out, stderr: chunks.err, durationMs: Date.now() - started };
}

function expectCleanFailure(result: RunResult, exitCode: number, message: RegExp): void {
  const output = result.stdout + result.stderr;
  expect(result.code, output).toBe(exitCode);
  expect(result.stderr).toMatch(message);
  expect(looksLikeStackTrace(output), output).toBe(false);
  expect(output).not.toMatch(/looks like a bug/i);
}

beforeAll(async () => {
  sandbox = await makeSandbox("cli-errors-");
  bad = await writeBadInputs(path.join(sandbox.root, "inputs"), 6);
});
afterAll(() => sandbox.cleanup());

describe("rescale-run: bad walltime strings", () => {
  it.each(["banana", "0h", "1000h", "8x", "", "1.5.h", "-5h", "8h30"])(
    "--walltime=%j is a usage error",
    async (value) => {
      const result = await rescaleRunInProcess([
        "submit",
        "--cores",
        "1",
        `--walltime=${value}`,
        "--dry-run",
      ]);
      expectCleanFailure(result, EXIT.usage, /--walltime/);
    },
  );

  it("as a real process too: one line, exit 2", async () => {
    const result = await rescaleRun(["submit", "--cores", "1", "--walltime", "banana", "--dry-run"]);
    expectCleanFailure(result, EXIT.usage, /^error: --walltime: Cannot read walltime "banana"/m);
  });

  it("a negative walltime after a space is refused as a walltime, not read as the short flags -5 -h", async () => {
    const result = await rescaleRun(["submit", "--cores", "1", "--walltime", "-5h", "--dry-run"]);
    expectCleanFailure(result, EXIT.usage, /^error: --walltime: .*"-5h"/m);
  });
});

// Against the local platform the CLI starts in its own process (no key set): refused before any upload.
describe.concurrent("rescale-run submit: refused plans and data", () => {
  // Each run gets its own data directory: concurrent commands would contend for one local platform's state.
  let runs = 0;
  const submit = (...args: string[]) =>
    rescaleRun(["submit", "--walltime", "1h", "--dry-run", ...args], {
      XDG_DATA_HOME: path.join(sandbox.dataDir, `submit-${runs++}`),
    });

  it("cores the core type does not offer: exit 2, lists the counts offered", async () => {
    const result = await submit("--cores", "3", "--data", bad.dataset);
    expectCleanFailure(result, EXIT.usage, /offers 3 cores[\s\S]*Core counts offered: 1, 2/);
  });

  it("an unknown (misspelt) core type: exit 2, names it", async () => {
    const result = await submit("--cores", "1", "--core-type", "emeral", "--data", bad.dataset);
    expectCleanFailure(result, EXIT.usage, /No core type "emeral"/);
  });

  it("a one-class dataset: exit 2, says two classes are needed", async () => {
    const result = await submit("--cores", "1", "--data", bad.oneClassDataset);
    expectCleanFailure(result, EXIT.usage, /at least two classes/);
  });

  it("a dataset zip with ../ entries: exit 2, names the entry", async () => {
    const result = await submit("--cores", "1", "--data", bad.zipSlip);
    expectCleanFailure(result, EXIT.usage, /zip-slip-escaped\.txt/);
  });

  it("the bad-input dataset itself (mixed unreadable files) is accepted for planning", async () => {
    const result = await submit("--cores", "1", "--data", bad.dataset);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/dataset .*benign \d+, malignant 6, normal 6/);
  });
});

describe("rescale-run: platform trouble", () => {
  it("an unreachable platform: exit 5 with a clear message, after retrying", async () => {
    const result = await rescaleRun(["list"], {
      RESCALE_API_KEY: "unreachable-test-key-0123456789",
      RESCALE_API_URL: "http://127.0.0.1:1",
    });
    expectCleanFailure(result, EXIT.unavailable, /Could not reach .*127\.0\.0\.1:1/);
    expect(result.stderr).not.toContain("unreachable-test-key-0123456789");
  });

  it("a wrong key (401): exit 3, says so, never echoes the key", async () => {
    const platform = await startLocalPlatform({
      dataDir: path.join(sandbox.dataDir, "wrong-key-platform"),
      apiKey: "the-right-key-0123456789abcdef",
    });
    try {
      const wrong = "the-wrong-key-9876543210fedcba";
      const result = await rescaleRun(["list"], { RESCALE_API_KEY: wrong, RESCALE_API_URL: platform.url });
      expectCleanFailure(result, EXIT.auth, /401|[Ii]nvalid token|[Aa]uthenticat/);
      expect(result.stdout + result.stderr).not.toContain(wrong);
    } finally {
      await platform.close();
    }
  });

  // Was exit 70 ("looks like a bug") until the CLI mapped the SDK's ConfigurationError; kept as a regression test.
  it("a missing key (profile without apikey): exit 3, says how to configure one", async () => {
    const configDir = path.join(sandbox.configDir, "rescale");
    mkdirSync(configDir, { recursive: true });
    writeFileSync(path.join(configDir, "apiconfig"), "[nokey]\napibaseurl = http://127.0.0.1:1\n", {
      mode: 0o600,
    });
    const result = await rescaleRun(["list"], { RESCALE_PROFILE: "nokey" });
    expectCleanFailure(result, EXIT.auth, /No Rescale API key configured/);
  });

  // Was always "Arguments profile and local are mutually exclusive" while --local defaulted to false.
  it("--profile NAME selects a configured profile", async () => {
    const platform = await startLocalPlatform({
      dataDir: path.join(sandbox.dataDir, "profile-platform"),
      apiKey: "profile-key-0123456789abcdef",
    });
    try {
      const configDir = path.join(sandbox.configDir, "rescale");
      mkdirSync(configDir, { recursive: true });
      writeFileSync(
        path.join(configDir, "apiconfig"),
        `[viaflag]\napibaseurl = ${platform.url}\napikey = profile-key-0123456789abcdef\n`,
        { mode: 0o600 },
      );
      const result = await rescaleRun(["list", "--profile", "viaflag"]);
      expect(result.code, result.stderr).toBe(0);
    } finally {
      await platform.close();
    }
  });
});

describe("rescale-run config: the key file", () => {
  it("config set stores the key 0600 (directory 0700) and never echoes it; config list hides it", async () => {
    const key = "config-secret-key-0123456789abcdef";
    const env = { XDG_CONFIG_HOME: path.join(sandbox.root, "config-test") };
    const set = await runProcess(
      process.execPath,
      [...tsSourceArgs(bin), "config", "set", "--name", "work", "--base-url", "http://127.0.0.1:1"],
      { cwd: REPO_ROOT, env: { ...sandbox.env, ...env, NO_COLOR: "1" }, input: key, timeoutMs: 90_000 },
    );
    expect(set.code, set.stderr).toBe(0);
    const file = path.join(env.XDG_CONFIG_HOME, "rescale", "apiconfig");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, "utf8")).toContain(key);
    const list = await rescaleRun(["config", "list"], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain("work");
    const report = await scanForSecrets(
      { key },
      { texts: { setOut: set.stdout, setErr: set.stderr, listOut: list.stdout, listErr: list.stderr } },
    );
    expect(report.findings).toEqual([]);
  });
});

// Issue 14, items 2, 8 and 10: odd input refused with one line and exit 2, before anything is packed or uploaded.
describe("rescale-run submit: odd input (issue 14)", () => {
  const dryRun = (...args: string[]) =>
    rescaleRunInProcess(["submit", "--walltime", "1h", "--dry-run", ...args]);
  const file = (name: string, data: Buffer | string) => {
    const p = path.join(sandbox.root, "odd", name);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, data);
    return p;
  };

  it.each([[""], ["   "]])(
    "--data %j is refused, not silently replaced by the synthetic set",
    async (value) => {
      const result = await dryRun("--cores", "1", `--data=${value}`);
      expectCleanFailure(result, EXIT.usage, /^error: --data is empty/m);
      expect(result.stdout).not.toMatch(/SYNTHETIC/);
    },
  );

  it.each(["0x2", "1e1", "2.5", "0", "-1", "two", ""])(
    "--cores=%j is refused (not read as a number)",
    async (value) => {
      const result = await dryRun(`--cores=${value}`, "--data", bad.dataset);
      expectCleanFailure(result, EXIT.usage, /^error: --cores .*positive whole number/m);
    },
  );

  it.each(["1000h", "337h", "15d"])(
    "--walltime %s over the maximum names the maximum and no flag that does not exist",
    async (value) => {
      const result = await rescaleRunInProcess([
        "submit",
        "--dry-run",
        "--cores",
        "1",
        "--walltime",
        value,
        "--data",
        bad.dataset,
      ]);
      expectCleanFailure(result, EXIT.usage, /^error: --walltime .*over the maximum of 336 h/m);
      expect(result.stderr).not.toMatch(/force/);
    },
  );

  it("--out under a regular file is refused before upload", async () => {
    const plain = file("plain.txt", "x");
    const result = await dryRun("--cores", "1", "--data", bad.dataset, "--out", path.join(plain, "out"));
    expectCleanFailure(result, EXIT.usage, /^error: --out .*is a file, not a folder/m);
  });

  it("--out on a read-only mount is refused before upload", async () => {
    const result = await dryRun("--cores", "1", "--data", bad.dataset, "--out", "/sys/rescale-run-out");
    expectCleanFailure(result, EXIT.usage, /^error: --out \/sys\/rescale-run-out: cannot write in \/sys/m);
  });

  it("--attach a file named like the job's bootstrap script is refused before upload", async () => {
    const script = file("rescale-run-bootstrap.sh", "echo pwned");
    const result = await dryRun("--cores", "1", "--data", bad.dataset, "--attach", script);
    expectCleanFailure(result, EXIT.usage, /^error: --attach .*its name is one of the job's own files/m);
  });

  it.each([
    ["the bootstrap script", "rescale-run-bootstrap.sh"],
    ["the runner's completion record", "outputs/run.json"],
    ["a file in the dataset folder", "dataset/benign/x.png"],
  ])("--attach a zip that would unpack %s is refused before upload", async (_label, entry) => {
    const zip = file(`extras-${entry.replace(/\W/g, "-")}.zip`, buildZip([{ name: entry, data: "x" }]));
    const result = await dryRun("--cores", "1", "--data", bad.dataset, "--attach", zip);
    expectCleanFailure(result, EXIT.usage, new RegExp(`^error: --attach .*its entry "${entry}"`, "m"));
  });

  it("--data a zip holding a symlink is refused before upload", async () => {
    const zip = file(
      "linked.zip",
      buildZip([
        { name: "ds/a/1.png", data: "x" },
        { name: "ds/b/2.png", data: "y" },
        { name: "ds/b/3.png", data: "../../../../etc/passwd", mode: ZIP_SYMLINK },
      ]),
    );
    const result = await dryRun("--cores", "1", "--data", zip);
    expectCleanFailure(result, EXIT.usage, /^error: --data .*"ds\/b\/3.png" is a symlink/m);
  });
});

// Issue 14, item 10: settings that expose something are allowed, but only with an explicit warning on stderr.
describe("rescale-run: exposing settings are warned about", () => {
  it("local start --host beyond loopback warns before starting (an unassigned TEST-NET address: nothing is exposed here)", async () => {
    const result = await rescaleRun(["local", "start", "--host", "192.0.2.1"], {
      XDG_DATA_HOME: path.join(sandbox.dataDir, "host-warning"),
    });
    expect(result.stderr).toMatch(
      /^warning: --host 192\.0\.2\.1: the local platform will accept connections from other machines/m,
    );
    expect(looksLikeStackTrace(result.stderr)).toBe(false);
  });

  it("local start on loopback does not warn", async () => {
    const { exposedHostWarning } = await import("../src/exposure.js");
    for (const host of ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
      expect(exposedHostWarning(host)).toBeUndefined();
    for (const host of ["0.0.0.0", "::", "192.168.1.5"])
      expect(exposedHostWarning(host)).toMatch(/other machines/);
  });

  it("a Rescale URL over plain http warns that the key crosses the network unencrypted", async () => {
    const result = await rescaleRun(["coretypes", "list"], {
      RESCALE_API_KEY: "k-0123456789",
      RESCALE_API_URL: "http://rescale.invalid",
    });
    expect(result.stderr).toMatch(/^warning: the Rescale API URL http:\/\/rescale\.invalid is plain http/m);
    expect(result.stderr).not.toContain("k-0123456789");
    expect(result.code).toBe(EXIT.unavailable);
  });
});
