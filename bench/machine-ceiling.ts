/**
 * What this machine can do at best for ResNet50: the float32 FMA peak (bench/fma-peak.c, built with the system's
 * gcc) and the convolution work of the Keras ResNet50 up to its pooled conv5 output (counted from model.json).
 * bench:features compares the engines with this ceiling, so a target set on another CPU can be judged here.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { parseKerasTopology, readResNetModelFiles, resnetModelDir } from "@rescale-run/runner";

export interface FmaPeak {
  /** GFLOP/s per thread count. */
  gflops: Record<number, number>;
}

/** Float32 FMA peak with 1..threads threads, or why it could not be measured. */
export async function measureFmaPeak(
  threadCounts: number[],
  buildDir: string,
): Promise<FmaPeak | { skipped: string }> {
  const flags =
    readFileSync("/proc/cpuinfo", "utf8")
      .match(/^flags\s*:(.*)$/m)?.[1]
      ?.split(/\s+/) ?? [];
  if (!flags.includes("avx2") || !flags.includes("fma")) return { skipped: "the CPU lacks AVX2 + FMA" };
  await mkdir(buildDir, { recursive: true });
  const binary = path.join(buildDir, "fma-peak");
  const source = path.join(path.dirname(new URL(import.meta.url).pathname), "fma-peak.c");
  const build = spawnSync("gcc", ["-O2", "-mavx2", "-mfma", "-pthread", source, "-o", binary], {
    encoding: "utf8",
  });
  if (build.status !== 0 || !existsSync(binary)) {
    return {
      skipped: `gcc could not build bench/fma-peak.c (${build.error?.message ?? build.stderr.trim()})`,
    };
  }
  const gflops: Record<number, number> = {};
  for (const threads of threadCounts) {
    const run = spawnSync(binary, [String(threads)], { encoding: "utf8" });
    const value = Number(run.stdout.split(" ")[0]);
    if (run.status !== 0 || !(value > 0)) return { skipped: `fma-peak failed: ${run.stderr.trim()}` };
    gflops[threads] = value;
  }
  return { gflops };
}

/** GFLOP (2 per multiply-add) of the model's convolutions for one 224 x 224 image. */
export async function resnetConvGflop(modelDir = resnetModelDir()): Promise<number> {
  const { modelJson } = await readResNetModelFiles(modelDir);
  const kernels = new Map(
    modelJson.weightsManifest.flatMap((group) => group.weights).map((w) => [w.name, w.shape]),
  );
  const side = new Map<string, number>();
  let macs = 0;
  for (const layer of parseKerasTopology(modelJson.modelTopology).layers) {
    const input = layer.inputs[0];
    let s = input === undefined ? 224 : side.get(input)!;
    const c = layer.config as {
      padding?: unknown;
      kernel_size?: number[];
      strides?: number[];
      pool_size?: number[];
    };
    const out = (k: number, stride: number) =>
      c.padding === "same" ? Math.ceil(s / stride) : Math.floor((s - k) / stride) + 1;
    if (layer.className === "ZeroPadding2D" && Array.isArray(c.padding)) {
      const [top = 0, bottom = 0] = c.padding[0] as number[];
      s += top + bottom;
    } else if (layer.className === "Conv2D") {
      const [kh, kw, cin, cout] = kernels.get(`${layer.name}/kernel`)!;
      s = out(c.kernel_size![0]!, c.strides![0]!);
      macs += kh! * kw! * cin! * cout! * s * s;
    } else if (layer.className === "MaxPooling2D") {
      s = out(c.pool_size![0]!, c.strides![0]!);
    }
    side.set(layer.name, s);
  }
  return (2 * macs) / 1e9;
}
