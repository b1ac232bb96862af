/**
 * `pnpm bench:features`: images/s of ResNet50 feature extraction (224x224) for the onnx engine, the tfjs engine
 * (wasm) and, as a peer in the same run, PyTorch on the CPU (Debian's python3-torch + python3-torchvision,
 * torchvision resnet50 with random weights, eval mode, no_grad, 2 threads). Also the onnx engine end to end on
 * real BUSI images (read, decode, resize, preprocess overlapped with inference, as the runner does it).
 * The contenders run in interleaved rounds, so a change in the load of a shared machine hits all of them alike.
 * The onnx engine on one thread and this CPU's float32 FMA peak (bench/machine-ceiling.ts) show how close to the
 * machine's limit it runs. Prints a table and the ratios, and rewrites the "Feature extraction" section of
 * docs/benchmarks.md.
 *
 * Flags: --seconds S (timed seconds per contender, default 24), --rounds R (default 3), --batch N (images per call,
 * default 8), --images N (real images end to end, default 192), --no-write (do not touch docs/benchmarks.md).
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  createOnnxEngine,
  createTfjsEngine,
  extractFeatures,
  type FeatureEngine,
  INPUT_SIZE,
  ORIGINAL_VIEW,
  scanDataset,
} from "@rescale-run/runner";
import { measureFmaPeak, resnetConvGflop } from "./machine-ceiling.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BUSI_DIR = path.resolve(ROOT, "../shared/data/busi-dev/Dataset_BUSI_with_GT");
const DOC = path.join(ROOT, "docs/benchmarks.md");
const SECTION = "## Feature extraction";
const THREADS = 2;

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "24" },
    rounds: { type: "string", default: "3" },
    batch: { type: "string", default: "8" },
    images: { type: "string", default: "192" },
    "no-write": { type: "boolean", default: false },
  },
});
const ROUNDS = Number(flags.rounds);
const ROUND_SECONDS = Number(flags.seconds) / ROUNDS;
const BATCH = Number(flags.batch);
const E2E_IMAGES = Number(flags.images);

interface RoundResult {
  images: number;
  seconds: number;
}

/** Something measured in rounds; `skipped` says why it could not run here. */
interface Contender {
  name: string;
  detail: string;
  skipped?: string;
  round(index: number): Promise<RoundResult>;
  close(): Promise<void>;
}

function randomBatch(n: number): Float32Array {
  let state = 12345;
  const out = new Float32Array(n * INPUT_SIZE * INPUT_SIZE * 3);
  for (let i = 0; i < out.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32) * 255 - 120;
  }
  return out;
}

function skipped(name: string, reason: string): Contender {
  return {
    name,
    detail: "not run",
    skipped: reason,
    round: async () => ({ images: 0, seconds: 0 }),
    close: async () => {},
  };
}

/** Bare inference on a fixed batch: one warm-up call, then calls for at least the round's seconds. */
async function engineContender(name: string, engine: FeatureEngine): Promise<Contender> {
  const batch = randomBatch(BATCH);
  await engine.extract(batch, BATCH);
  return {
    name,
    detail: engine.description,
    async round() {
      let images = 0;
      const started = performance.now();
      while (images < 2 * BATCH || performance.now() - started < ROUND_SECONDS * 1000) {
        await engine.extract(batch, BATCH);
        images += BATCH;
      }
      return { images, seconds: (performance.now() - started) / 1000 };
    },
    close: () => engine.dispose(),
  };
}

/** The onnx engine fed from disk through the runner's own extraction pipeline (decode/preprocess overlapped). */
async function endToEndContender(engine: FeatureEngine): Promise<Contender> {
  const name = "onnx end to end";
  if (!existsSync(BUSI_DIR)) return skipped(name, `skipped: ${BUSI_DIR} is missing`);
  const images = (await scanDataset(BUSI_DIR)).images.slice(0, E2E_IMAGES);
  const perRound = Math.ceil(images.length / ROUNDS);
  return {
    name,
    detail: `${images.length} BUSI images read, decoded, resized and preprocessed (sharp) overlapped with inference`,
    async round(index) {
      const chunk = images.slice(index * perRound, (index + 1) * perRound);
      const jobs = chunk.map((image) => ({ image, views: [ORIGINAL_VIEW] }));
      const { stats } = await extractFeatures(jobs, { engine, batchSize: BATCH });
      return { images: stats.extracted, seconds: stats.seconds };
    },
    close: async () => {},
  };
}

/** A Python process that loads torchvision's resnet50 once, then times one round per line it reads. */
const TORCH_SCRIPT = `
import json, sys, time
import torch, torchvision
torch.set_num_threads(${THREADS})
model = torchvision.models.resnet50(weights=None).eval()
x = torch.randn(${BATCH}, 3, ${INPUT_SIZE}, ${INPUT_SIZE})
with torch.no_grad():
    model(x)
    print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__,
                      "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        images, start = 0, time.perf_counter()
        while images < ${2 * BATCH} or time.perf_counter() - start < float(line):
            model(x)
            images += ${BATCH}
        print(json.dumps({"images": images, "seconds": time.perf_counter() - start}), flush=True)
`;

/** The first python3 that imports torch and torchvision (Debian's lives in /usr/bin, a pyenv shim may shadow it). */
function pythonWithTorch(): string | undefined {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    const probe = spawnSync(candidate, ["-c", "import torch, torchvision"], { stdio: "ignore" });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

async function torchContender(): Promise<Contender> {
  const name = "pytorch (peer)";
  const python = pythonWithTorch();
  if (!python) {
    return skipped(
      name,
      "skipped: no python3 with torch + torchvision (apt-get install -y python3-torch python3-torchvision)",
    );
  }
  const child: ChildProcessWithoutNullStreams = spawn(python, ["-c", TORCH_SCRIPT]);
  child.stderr.pipe(process.stderr);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async <T>(): Promise<T> => {
    const line = await lines.next();
    if (line.done) throw new Error("the PyTorch peer exited early");
    return JSON.parse(line.value) as T;
  };
  const info = await next<{ torch: string; torchvision: string; threads: number }>();
  return {
    name,
    detail: `torch ${info.torch}, torchvision ${info.torchvision} resnet50 (random weights), eval, no_grad, ${info.threads} threads`,
    async round() {
      child.stdin.write(`${ROUND_SECONDS}\n`);
      return next<RoundResult>();
    },
    async close() {
      child.stdin.end();
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? "unknown CPU"}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

const fmt = (value: number | undefined) => (value === undefined ? "n/a" : value.toFixed(1));
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? "n/a" : `${(a / b).toFixed(2)}x`;

/** The engines against the machine's float32 FMA peak: how much faster any engine could be here. */
function ceilingLines(
  gflop: number,
  fma: Awaited<ReturnType<typeof measureFmaPeak>>,
  onnx: number | undefined,
  onnxOneThread: number | undefined,
  pytorch: number | undefined,
): string[] {
  const lines = [
    `ResNet50's convolutions up to conv5: ${gflop.toFixed(2)} GFLOP per 224x224 image (counted from model.json)`,
  ];
  if ("skipped" in fma) return [...lines, `float32 FMA peak: not measured (${fma.skipped})`];
  const peak1 = fma.gflops[1]!;
  const peakN = fma.gflops[THREADS]!;
  const share = (imagesPerSecond: number | undefined, peak: number) =>
    imagesPerSecond === undefined ? "n/a" : `${((100 * imagesPerSecond * gflop) / peak).toFixed(0)}%`;
  lines.push(
    `float32 FMA peak (AVX2, 10 chains per thread): ${peak1.toFixed(1)} GFLOP/s on 1 thread, ${peakN.toFixed(1)} on ${THREADS}`,
    `at 100% of that peak ResNet50 would run at ${(peakN / gflop).toFixed(1)} images/s (${((1000 * gflop) / peakN).toFixed(1)} ms/image) on ${THREADS} threads: no engine can beat it here`,
    `onnx runs at ${share(onnx, peakN)} of the ${THREADS}-thread peak, ${share(onnxOneThread, peak1)} of the 1-thread peak; pytorch at ${share(pytorch, peakN)}`,
  );
  if (pytorch !== undefined) {
    lines.push(
      `3x pytorch would be ${(3 * pytorch).toFixed(1)} images/s: ${share(3 * pytorch, peakN)} of the FMA peak, sustained through every layer`,
    );
  }
  return lines;
}

async function writeSection(body: string): Promise<void> {
  const existing = existsSync(DOC) ? await readFile(DOC, "utf8") : "# Benchmarks\n";
  const start = existing.indexOf(`${SECTION}\n`);
  let next: string;
  if (start === -1) {
    next = `${existing.trimEnd()}\n\n${body}`;
  } else {
    const after = existing.indexOf("\n## ", start + SECTION.length);
    next = existing.slice(0, start) + body + (after === -1 ? "" : existing.slice(after + 1));
  }
  await writeFile(DOC, next.endsWith("\n") ? next : `${next}\n`);
}

interface Row {
  name: string;
  detail: string;
  imagesPerSecond: number | undefined;
  rounds: number[];
}

async function main(): Promise<void> {
  const load = () => os.loadavg()[0]!.toFixed(2);
  const loadBefore = load();
  console.log(`machine: ${machine()}; load average (1 min) ${loadBefore}`);

  const onnx = await createOnnxEngine({ threads: THREADS });
  const graphBytes = (await stat(onnx.modelPath)).size;
  const contenders = [
    await engineContender("onnx", onnx),
    await endToEndContender(onnx),
    await engineContender("onnx 1 thread", await createOnnxEngine({ threads: 1 })),
    await engineContender("tfjs", await createTfjsEngine({ backend: "wasm", threads: THREADS })),
    await torchContender(),
  ];
  const totals = contenders.map(() => ({ images: 0, seconds: 0, rounds: [] as number[] }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, contender] of contenders.entries()) {
      if (contender.skipped) continue;
      const result = await contender.round(round);
      totals[i]!.images += result.images;
      totals[i]!.seconds += result.seconds;
      totals[i]!.rounds.push(result.images / result.seconds);
      console.log(
        `round ${round + 1}/${ROUNDS} ${contender.name}: ${fmt(result.images / result.seconds)} images/s`,
      );
    }
  }
  for (const contender of contenders) await contender.close();
  const loadAfter = load();
  const fma = await measureFmaPeak([1, THREADS], path.join(ROOT, ".bench-out", "build"));
  const gflop = await resnetConvGflop();

  const rows: Row[] = contenders.map((contender, i) => ({
    name: contender.name,
    detail: contender.skipped ?? contender.detail,
    imagesPerSecond: contender.skipped ? undefined : totals[i]!.images / totals[i]!.seconds,
    rounds: totals[i]!.rounds,
  }));
  const rate = (name: string) => rows.find((row) => row.name.startsWith(name))?.imagesPerSecond;
  const ratios = [
    `onnx / pytorch: ${ratio(rate("onnx"), rate("pytorch"))} (target >= 3x)`,
    `onnx / tfjs: ${ratio(rate("onnx"), rate("tfjs"))}`,
    `onnx end to end / onnx bare: ${ratio(rate("onnx end"), rate("onnx"))} (target >= 0.80x)`,
  ];
  console.log("");
  for (const row of rows) {
    console.log(`${row.name.padEnd(18)} ${fmt(row.imagesPerSecond).padStart(7)} images/s  ${row.detail}`);
  }
  for (const line of ratios) console.log(line);
  const ceiling = ceilingLines(gflop, fma, rate("onnx"), rate("onnx 1 thread"), rate("pytorch"));
  for (const line of ceiling) console.log(line);

  if (flags["no-write"]) return;
  const body = [
    SECTION,
    "",
    `Measured by \`pnpm bench:features\` on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.`,
    `Machine: ${machine()}.`,
    `Load average (1 min): ${loadBefore} before, ${loadAfter} after.`,
    Number(loadBefore) > os.cpus().length
      ? "The load average exceeded the core count: other work shared the cores, so these figures are noisy and low."
      : "No other heavy work was running (the load average counts the benchmark's own threads and its predecessor's).",
    "The contenders ran in interleaved rounds so that load changes hit all of them alike.",
    "",
    `224x224 inputs, batches of ${BATCH}, ${THREADS} threads requested, ${ROUNDS} rounds of ${ROUND_SECONDS.toFixed(0)} s per contender`,
    "after one warm-up batch (end to end: a share of the images per round).",
    "",
    "| engine | images/s | ms/image | per round | details |",
    "| --- | ---: | ---: | --- | --- |",
    ...rows.map(
      (row) =>
        `| ${row.name} | ${fmt(row.imagesPerSecond)} | ${row.imagesPerSecond ? (1000 / row.imagesPerSecond).toFixed(1) : "n/a"} | ${row.rounds.map(fmt).join(", ")} | ${row.detail} |`,
    ),
    "",
    ...ratios.map((line) => `- ${line}`),
    "",
    "What this CPU allows (bench/machine-ceiling.ts):",
    "",
    ...ceiling.map((line) => `- ${line}`),
    "",
    `ONNX graph: ${(graphBytes / 1e6).toFixed(1)} MB (opset 13, BatchNormalization folded into the 53 convolutions),`,
    `${onnx.buildMs ? `built in ${(onnx.buildMs / 1000).toFixed(1)} s by this run` : "reused from the cache"}.`,
    "Its features agree with the TF.js engine's to a relative L2 error below 1e-4 (measured 2e-7 to 8e-7;",
    "packages/runner/test/onnx.test.ts), so both engines share the feature cache.",
    "The CUDA execution provider path (used when onnxruntime-node's CUDA provider library is installed, or with",
    'executionProvider "cuda", falling back to the CPU with a note) is untested here: this machine has no GPU.',
    "",
  ].join("\n");
  await writeSection(body);
  console.log(`\nwrote the "${SECTION.slice(3)}" section of ${path.relative(ROOT, DOC)}`);
}

await main();
