import { readFile } from "node:fs/promises";
import type { ViewSpec } from "../augment.js";
import type { DatasetImage } from "../dataset.js";
import { decodeImage, INPUT_FLOATS, renderView, toCaffeInput } from "../preprocess.js";
import { formatSeconds, type Progress, silentProgress } from "../progress.js";
import type { FeatureCache, LayerFeatures } from "./cache.js";
import { FEATURE_LAYER_NAMES, type FeatureEngine } from "./engine.js";

export interface FeatureJob {
  image: DatasetImage;
  views: readonly ViewSpec[];
}

export interface ExtractOptions {
  engine: FeatureEngine;
  cache?: FeatureCache;
  /** Views per engine call (default: the engine's batchSize, else 16). */
  batchSize?: number;
  limitInputPixels?: number;
  progress?: Progress;
  /** Checked between batches: once aborted, extraction stops (what was extracted is already cached). */
  signal?: AbortSignal;
}

export interface ExtractStats {
  /** Views run through the engine. */
  extracted: number;
  /** Views read from the cache. */
  cached: number;
  /** Wall seconds of the extraction loop (decode + preprocess + inference, overlapped). */
  seconds: number;
  /** Extracted views per second (undefined when nothing was extracted). */
  imagesPerSecond: number | undefined;
}

export class ExtractionStoppedError extends Error {
  constructor() {
    super("feature extraction stopped");
    this.name = "ExtractionStoppedError";
  }
}

export const featureKey = (hash: string, viewId: string) => `${hash}|${viewId}`;

interface Pending {
  image: DatasetImage;
  views: ViewSpec[];
}

interface PreparedBatch {
  input: Float32Array;
  items: { hash: string; viewId: string }[];
}

/**
 * Features for every (image, view): cached ones are read, the rest are decoded, preprocessed and run through the
 * engine in batches. The next batch is decoded (sharp, on libuv threads) while the engine runs the current one.
 * Images with identical content are extracted once.
 */
export async function extractFeatures(
  jobs: readonly FeatureJob[],
  options: ExtractOptions,
): Promise<{ features: Map<string, LayerFeatures>; stats: ExtractStats }> {
  const { engine, cache, progress = silentProgress } = options;
  const batchSize = options.batchSize ?? engine.batchSize ?? 16;
  const features = new Map<string, LayerFeatures>();
  const pendingByHash = new Map<string, Pending>();
  let cached = 0;
  for (const job of jobs) {
    for (const view of job.views) {
      const key = featureKey(job.image.hash, view.id);
      if (features.has(key)) continue;
      const hit = await cache?.get(job.image.hash, view.id);
      if (hit) {
        features.set(key, hit);
        cached++;
        continue;
      }
      const pending = pendingByHash.get(job.image.hash) ?? { image: job.image, views: [] };
      if (!pending.views.some((v) => v.id === view.id)) pending.views.push(view);
      pendingByHash.set(job.image.hash, pending);
    }
  }

  const pending = [...pendingByHash.values()];
  const total = pending.reduce((sum, p) => sum + p.views.length, 0);
  const batches: Pending[][] = [];
  let current: Pending[] = [];
  let size = 0;
  for (const item of pending) {
    current.push(item);
    size += item.views.length;
    if (size >= batchSize) {
      batches.push(current);
      current = [];
      size = 0;
    }
  }
  if (current.length > 0) batches.push(current);

  const prepare = async (batch: Pending[]): Promise<PreparedBatch> => {
    const count = batch.reduce((sum, p) => sum + p.views.length, 0);
    const input = new Float32Array(count * INPUT_FLOATS);
    const offsets: number[] = [];
    let at = 0;
    for (const p of batch) {
      offsets.push(at);
      at += p.views.length;
    }
    await Promise.all(
      batch.map(async (p, i) => {
        const image = await decodeImage(await readFile(p.image.absPath), {
          limitInputPixels: options.limitInputPixels,
        });
        for (const [v, view] of p.views.entries()) {
          toCaffeInput(await renderView(image, view), input, (offsets[i]! + v) * INPUT_FLOATS);
        }
      }),
    );
    return { input, items: batch.flatMap((p) => p.views.map((v) => ({ hash: p.image.hash, viewId: v.id }))) };
  };

  const started = performance.now();
  let done = 0;
  let cacheWrites: Promise<void> = Promise.resolve();
  let next: Promise<PreparedBatch> | undefined = batches[0] ? prepare(batches[0]) : undefined;
  for (let b = 0; b < batches.length; b++) {
    if (options.signal?.aborted) {
      await next?.catch(() => undefined);
      await cacheWrites;
      throw new ExtractionStoppedError();
    }
    const prepared = await next!;
    next = batches[b + 1] ? prepare(batches[b + 1]!) : undefined;
    // Keep a rejected prefetch from surfacing as an unhandled rejection while this batch runs.
    next?.catch(() => undefined);
    const out = await engine.extract(prepared.input, prepared.items.length);
    // The previous batch's cache files were written while the engine ran this one.
    await cacheWrites;
    const batchFeatures: [string, string, LayerFeatures][] = [];
    for (const [i, item] of prepared.items.entries()) {
      const one = {} as LayerFeatures;
      for (const layer of FEATURE_LAYER_NAMES) {
        const dim = out[layer].length / prepared.items.length;
        one[layer] = out[layer].slice(i * dim, (i + 1) * dim);
      }
      features.set(featureKey(item.hash, item.viewId), one);
      batchFeatures.push([item.hash, item.viewId, one]);
    }
    cacheWrites = cache
      ? Promise.all(batchFeatures.map(([hash, viewId, one]) => cache.put(hash, viewId, one))).then(() => {})
      : Promise.resolve();
    cacheWrites.catch(() => undefined);
    done += prepared.items.length;
    const elapsed = (performance.now() - started) / 1000;
    const rate = done / elapsed;
    progress.update(
      `features ${done}/${total} views  ${rate.toFixed(1)} img/s  ETA ${formatSeconds((total - done) / rate)}`,
      { done, total },
    );
  }
  await cacheWrites;
  const seconds = (performance.now() - started) / 1000;
  if (total > 0)
    progress.log(`features: ${total} views extracted in ${seconds.toFixed(1)} s, ${cached} cached`);
  return {
    features,
    stats: { extracted: done, cached, seconds, imagesPerSecond: done > 0 ? done / seconds : undefined },
  };
}
