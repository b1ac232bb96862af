import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BOOTSTRAP_FILE_NAME, renderBootstrapScript } from "../src/bootstrap.js";
import { UsageError } from "../src/errors.js";
import { planDevice } from "../src/plan.js";

describe("planDevice (submit --device against the core type's GPUs)", () => {
  it("auto on a GPU core type tells the runner --device gpu, and the plan says GPU", () => {
    const d = planDevice("auto", 1, "h100");
    expect(d.runnerDevice).toBe("gpu");
    expect(d.summary).toMatch(/^GPU \(1 per node; WebGPU over Vulkan/);
  });

  it("auto without GPUs is the CPU; with an unknown count the runner decides", () => {
    // Nothing is passed: the runner's own auto picks the CPU there.
    expect(planDevice("auto", 0, "emerald")).toMatchObject({
      runnerDevice: null,
      summary: expect.stringMatching(/^CPU/),
    });
    expect(planDevice("auto", null, "x")).toMatchObject({ runnerDevice: null });
  });

  it("gpu on a core type without GPUs is a usage error naming the core type; cpu is always the CPU", () => {
    expect(() => planDevice("gpu", 0, "emerald")).toThrow(UsageError);
    expect(() => planDevice("gpu", 0, "emerald")).toThrow(/--device gpu: core type emerald has no GPUs/);
    expect(planDevice("gpu", null, "x").runnerDevice).toBe("gpu");
    expect(planDevice("cpu", 8, "h100")).toMatchObject({
      runnerDevice: "cpu",
      summary: "CPU (--device cpu)",
    });
  });
});

describe("bootstrap GPU check", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reports the Vulkan loader and GPU devices, runs `rescale-runner device` before training, and never fails on it", () => {
    dir = mkdtempSync(join(tmpdir(), "rr-gpu-bootstrap-"));
    const src = join(dir, "bundle-src");
    mkdirSync(join(src, "dist"), { recursive: true });
    mkdirSync(join(dir, "job"));
    writeFileSync(
      join(src, "package.json"),
      JSON.stringify({ name: "@rescale-run/runner", bin: { "rescale-runner": "dist/bin.js" } }),
    );
    // A runner whose `device` fails (status 4) and whose `train` prints its argv.
    writeFileSync(
      join(src, "dist", "bin.js"),
      `const a = process.argv.slice(2); console.log("RUN " + JSON.stringify(a)); process.exit(a[0] === "device" ? 4 : 0);\n`,
    );
    expect(spawnSync("tar", ["-czf", join(dir, "job", "runner.tgz"), "-C", src, "."]).status).toBe(0);
    const bin = join(dir, "bin");
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "node"));
    const script = renderBootstrapScript({
      runnerArchive: "runner.tgz",
      dataDir: "dataset",
      outDir: "outputs",
      threads: 2,
      runnerArgs: ["--device", "gpu"],
    });
    writeFileSync(join(dir, "job", BOOTSTRAP_FILE_NAME), script);
    const r = spawnSync("sh", [BOOTSTRAP_FILE_NAME], {
      cwd: join(dir, "job"),
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: dir, TMPDIR: dir },
      encoding: "utf8",
    });
    expect(r.stdout).toMatch(
      /\[rescale-run\] GPU check: (Vulkan loader \/\S+libvulkan\.so\.1|no Vulkan loader)/,
    );
    expect(r.stdout).toMatch(/GPU devices:/);
    const device = r.stdout.indexOf('RUN ["device"]');
    const train = r.stdout.indexOf('RUN ["train"');
    expect(device).toBeGreaterThan(-1);
    expect(train).toBeGreaterThan(device);
    expect(r.stdout).toContain("rescale-runner device exited with status 4");
    expect(r.stdout).toContain('"--device","gpu"');
    expect(r.status).toBe(0);
  });
});
