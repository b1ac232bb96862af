import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import type { FeatureLayer } from "../src/features/engine.js";
import type { HeadConfig, HeadKind, HeadModel } from "../src/head.js";

/** Deterministic pseudo-random floats in [lo, hi). */
export function randomFloats(count: number, seed: number, lo: number, hi: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (state / 2 ** 32) * (hi - lo);
  }
  return out;
}

export async function tempDir(prefix = "runner-test-"): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A small PNG whose pixels depend on `seed` (distinct bytes per seed, so distinct content hashes). */
export async function pngImage(seed: number, size = 32, tint: [number, number, number] = [128, 128, 128]) {
  const data = Buffer.alloc(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    const v = (i * 7 + seed * 131) % 64;
    data[i * 3] = Math.min(255, tint[0] + v);
    data[i * 3 + 1] = Math.min(255, tint[1] + v);
    data[i * 3 + 2] = Math.min(255, tint[2] + v);
  }
  return sharp(data, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

const TINTS: Record<string, [number, number, number]> = {
  benign: [40, 120, 40],
  malignant: [150, 30, 30],
  normal: [30, 30, 150],
};

/** A tiny BUSI-like folder: `perClass` images per class plus a mask per image. Returns the root. */
export async function makeDataset(
  root: string,
  perClass: Record<string, number> = { benign: 8, malignant: 8, normal: 8 },
): Promise<string> {
  let seed = 1;
  for (const [className, count] of Object.entries(perClass)) {
    const dir = path.join(root, className);
    await mkdir(dir, { recursive: true });
    for (let i = 1; i <= count; i++) {
      await writeFile(
        path.join(dir, `${className} (${i}).png`),
        await pngImage(seed++, 32, TINTS[className]),
      );
      await writeFile(path.join(dir, `${className} (${i})_mask.png`), await pngImage(1000 + seed, 32));
    }
  }
  return root;
}

/** The config of a hand-made head that is only applied, never trained (no L2, no dropout, one epoch). */
export function inferenceHeadConfig(kind: HeadKind, layers: FeatureLayer[]): HeadConfig {
  return {
    kind,
    layers,
    l2: 0,
    dropout: 0,
    learningRate: 1e-3,
    batchSize: 8,
    maxEpochs: 1,
    patience: 1,
    startFromEpoch: 0,
  };
}

/**
 * A hand-made two-class dense head on one layer's pooled features: identity standardisation, zero bias, the given
 * kernel (d x 2, row-major).
 */
export function twoClassHead(layer: FeatureLayer, kernel: Float32Array): HeadModel {
  const d = kernel.length / 2;
  return {
    config: inferenceHeadConfig("dense", [layer]),
    numClasses: 2,
    mean: new Float32Array(d),
    std: new Float32Array(d).fill(1),
    weights: [
      { name: "output/kernel", shape: [d, 2], data: kernel },
      { name: "output/bias", shape: [2], data: new Float32Array(2) },
    ],
  };
}
