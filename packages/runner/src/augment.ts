/**
 * Deterministic augmented views of an image. Each view has a stable id that is part of the feature-cache key,
 * so changing a view's definition must change its id. Views are ordered: `--views N` uses the first N.
 */
export interface ViewSpec {
  readonly id: string;
  /** Mirror left-right (after cropping and resizing). */
  readonly flip: boolean;
  /** Crop before resizing, as fractions of the (EXIF-rotated) image: left, top, width, height. */
  readonly crop?: { left: number; top: number; width: number; height: number };
  /** Multiply 8-bit RGB values by this factor (clamped to 0..255) after resizing. */
  readonly brightness: number;
}

export const ORIGINAL_VIEW: ViewSpec = { id: "orig", flip: false, brightness: 1 };

export const VIEWS: readonly ViewSpec[] = [
  ORIGINAL_VIEW,
  { id: "flip", flip: true, brightness: 1 },
  { id: "crop-tl90", flip: false, crop: { left: 0, top: 0, width: 0.9, height: 0.9 }, brightness: 1 },
  { id: "flip-crop-br90", flip: true, crop: { left: 0.1, top: 0.1, width: 0.9, height: 0.9 }, brightness: 1 },
  { id: "bright110", flip: false, brightness: 1.1 },
  {
    id: "crop-c85-dark90",
    flip: false,
    crop: { left: 0.075, top: 0.075, width: 0.85, height: 0.85 },
    brightness: 0.9,
  },
];

export const MAX_VIEWS = VIEWS.length;

/**
 * The first `count` views (1 = the original image only): the views a training image is augmented with, and the
 * views whose predictions are averaged at evaluation (test-time augmentation).
 */
export function firstViews(count: number): ViewSpec[] {
  if (!Number.isInteger(count) || count < 1 || count > VIEWS.length) {
    throw new RangeError(`views must be an integer from 1 to ${VIEWS.length}, got ${count}`);
  }
  return VIEWS.slice(0, count);
}

export function viewById(id: string): ViewSpec {
  const view = VIEWS.find((v) => v.id === id);
  if (!view) throw new RangeError(`unknown view ${id}`);
  return view;
}

/** Pixel rectangle of a view's crop on a width x height image (at least 1x1). */
export function cropRect(view: ViewSpec, width: number, height: number) {
  if (!view.crop) return { left: 0, top: 0, width, height };
  const left = Math.min(width - 1, Math.round(view.crop.left * width));
  const top = Math.min(height - 1, Math.round(view.crop.top * height));
  return {
    left,
    top,
    width: Math.max(1, Math.min(width - left, Math.round(view.crop.width * width))),
    height: Math.max(1, Math.min(height - top, Math.round(view.crop.height * height))),
  };
}
