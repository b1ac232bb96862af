import { createHash } from "node:crypto";
import path from "node:path";
import { rescaleRunDir } from "@rescale-run/sdk/user-dirs";
import { FeatureCache, type LayerFeatures } from "../features/cache.js";
import type { FeatureEngine } from "../features/engine.js";
import { type ExtractStats, extractFeatures } from "../features/extract.js";
import { engineOrSelect } from "../features/select.js";
import type { RunContext } from "./context.js";
import type { RunData } from "./dataset.js";

/** The features stage's result: the engine and every view's pooled features (cached on disk by engine). */
export interface RunFeatures {
  engine: FeatureEngine;
  /** Why this engine (the selection's notes). */
  engineNotes: string[];
  /** The TF.js backend the engine runs on, or why there is none. */
  backendDescription: string;
  features: Map<string, LayerFeatures>;
  stats: ExtractStats;
  cacheDir: string;
}

/**
 * Stage 2: selects the feature engine (or takes the caller's) and extracts the pooled features of every view the
 * later stages read: the training views of the cross-validation pool (plus the test-time views when
 * cross-validation scores held-out images with them) and the test-time views of the test split.
 */
export async function featuresStage(ctx: RunContext & { data: RunData }): Promise<RunFeatures> {
  const { options, plan, progress, data } = ctx;
  const selection = await engineOrSelect(options.featureEngine, { ...options, device: ctx.device });
  const { engine, notes: engineNotes } = selection;
  const owned = selection.owned;
  if (owned) ctx.onClose(() => owned.dispose());
  const backendDescription =
    "backend" in engine
      ? (engine as { backend: { description: string } }).backend.description
      : "none (the onnx engine needs no TF.js backend; the head runs in plain TypeScript)";
  progress.log(`engine: ${engine.description}`);
  const { views, ttaViews } = plan;
  // Held out in cross-validation, a training image is scored with the test-time views too.
  const trainJobViews = plan.crossValidating
    ? [...views, ...ttaViews.filter((v) => !views.includes(v))]
    : views;
  const testJobViews =
    plan.finalFit === "all" ? [...ttaViews, ...views.filter((v) => !ttaViews.includes(v))] : ttaViews;
  const cacheDir = path.join(
    options.featureCacheDir ?? path.join(options.cacheDir ?? rescaleRunDir("cache"), "features"),
    createHash("sha256").update(engine.cacheKey).digest("hex").slice(0, 16),
  );
  const cache = new FeatureCache(cacheDir, engine.cacheKey);
  ctx.lap("engine");
  let extracted: { features: Map<string, LayerFeatures>; stats: ExtractStats };
  try {
    extracted = await extractFeatures(
      [
        ...data.cvPool.map((image) => ({ image, views: trainJobViews })),
        ...data.test.map((image) => ({ image, views: testJobViews })),
      ],
      {
        engine,
        cache,
        progress,
        signal: ctx.signal,
        limitInputPixels: options.limitInputPixels,
      },
    );
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.interrupted();
    throw error;
  }
  ctx.lap("features");
  return {
    engine,
    engineNotes,
    backendDescription,
    features: extracted.features,
    stats: extracted.stats,
    cacheDir,
  };
}
