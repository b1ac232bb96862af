import sharp from "sharp";
import { cropRect, type ViewSpec } from "./augment.js";
import { decodeBmp, isBmp } from "./bmp.js";
import { INPUT_SIZE } from "./features/engine.js";

/**
 * Identity of the preprocessing below (part of the feature-cache key): bump it whenever decoding, resizing or
 * the Keras "caffe" normalisation changes.
 */
export const PREPROCESS_VERSION = "keras-caffe-224-fill-v1";

/** Keras ImageNet channel means in BGR order (keras.applications.imagenet_utils, mode "caffe"). */
export const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;

/** Refuse images with more pixels than this (decompression bombs); BUSI images are about 0.3 megapixels. */
export const DEFAULT_PIXEL_LIMIT = 64_000_000;

const PIXELS = INPUT_SIZE * INPUT_SIZE;
/** Floats in one preprocessed image (224 x 224 x 3, NHWC). */
export const INPUT_FLOATS = PIXELS * 3;

/** An image decoded to 8-bit sRGB, 3 channels, EXIF orientation applied. */
export interface DecodedImage {
  data: Buffer;
  width: number;
  height: number;
}

export interface DecodeOptions {
  limitInputPixels?: number;
}

/**
 * Decodes PNG, JPEG, TIFF, WebP (sharp) and BMP (bmp.ts) to 8-bit sRGB RGB: EXIF orientation applied, alpha
 * flattened onto black, grayscale / 16-bit / CMYK converted. Throws on unreadable or oversized images.
 */
export async function decodeImage(input: Buffer, options: DecodeOptions = {}): Promise<DecodedImage> {
  const limitInputPixels = options.limitInputPixels ?? DEFAULT_PIXEL_LIMIT;
  let pipeline: sharp.Sharp;
  if (isBmp(input)) {
    const bmp = decodeBmp(input, limitInputPixels);
    pipeline = sharp(bmp.data, { raw: { width: bmp.width, height: bmp.height, channels: 3 } });
  } else {
    pipeline = sharp(input, { limitInputPixels, failOn: "error" }).rotate();
  }
  const { data, info } = await pipeline
    .flatten({ background: "#000000" })
    .toColourspace("srgb")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  return { data: toRgb(data, info.channels), width: info.width, height: info.height };
}

function toRgb(data: Buffer, channels: number): Buffer {
  if (channels === 3) return data;
  const pixels = data.length / channels;
  const out = Buffer.alloc(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const grey = channels < 3;
    out[i * 3] = data[i * channels]!;
    out[i * 3 + 1] = data[i * channels + (grey ? 0 : 1)]!;
    out[i * 3 + 2] = data[i * channels + (grey ? 0 : 2)]!;
  }
  return out;
}

/** One view of a decoded image as 224 x 224 8-bit RGB: crop, resize (stretch, as Keras `load_img`), flip, brightness. */
export async function renderView(image: DecodedImage, view: ViewSpec): Promise<Buffer> {
  const rect = cropRect(view, image.width, image.height);
  let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  if (view.crop) pipeline = pipeline.extract(rect);
  if (view.flip) pipeline = pipeline.flop();
  const rgb = await pipeline
    .resize(INPUT_SIZE, INPUT_SIZE, { fit: "fill", kernel: "linear" })
    .raw({ depth: "uchar" })
    .toBuffer();
  if (view.brightness !== 1) {
    for (let i = 0; i < rgb.length; i++) rgb[i] = Math.min(255, Math.round(rgb[i]! * view.brightness));
  }
  return rgb;
}

/**
 * Keras "caffe" preprocessing of a 224 x 224 RGB image: RGB -> BGR, subtract the ImageNet means, no scaling.
 * Writes into `out` at `offset` (floats) so a batch can be filled in place.
 */
export function toCaffeInput(
  rgb: Uint8Array,
  out = new Float32Array(INPUT_FLOATS),
  offset = 0,
): Float32Array {
  if (rgb.length !== INPUT_FLOATS)
    throw new RangeError(`expected ${INPUT_FLOATS} RGB bytes, got ${rgb.length}`);
  for (let p = 0; p < PIXELS; p++) {
    const i = p * 3;
    out[offset + i] = rgb[i + 2]! - CAFFE_MEAN_BGR[0];
    out[offset + i + 1] = rgb[i + 1]! - CAFFE_MEAN_BGR[1];
    out[offset + i + 2] = rgb[i]! - CAFFE_MEAN_BGR[2];
  }
  return out;
}

/** Decode once, then render and normalise every requested view: one Float32Array (224x224x3) per view. */
export async function preprocessViews(
  input: Buffer,
  views: readonly ViewSpec[],
  options: DecodeOptions = {},
): Promise<Float32Array[]> {
  const image = await decodeImage(input, options);
  return Promise.all(views.map(async (view) => toCaffeInput(await renderView(image, view))));
}
