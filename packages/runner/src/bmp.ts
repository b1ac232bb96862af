/**
 * A small decoder for uncompressed Windows BMP files (sharp/libvips has no BMP loader): 1/4/8-bit palette,
 * 16-bit (5-5-5), 24-bit and 32-bit (BI_RGB or BI_BITFIELDS), bottom-up or top-down. RLE-compressed files are
 * rejected with a clear reason.
 */
export interface RawRgb {
  data: Buffer;
  width: number;
  height: number;
  channels: 3;
}

export function isBmp(buf: Buffer): boolean {
  return buf.length >= 26 && buf[0] === 0x42 && buf[1] === 0x4d;
}

export function decodeBmp(buf: Buffer, limitInputPixels: number): RawRgb {
  if (!isBmp(buf)) throw new Error("not a BMP file");
  const dataOffset = buf.readUInt32LE(10);
  const headerSize = buf.readUInt32LE(14);
  if (headerSize < 40) throw new Error("unsupported BMP header (OS/2 v1)");
  const width = buf.readInt32LE(18);
  const rawHeight = buf.readInt32LE(22);
  const bpp = buf.readUInt16LE(28);
  const compression = buf.readUInt32LE(30);
  const height = Math.abs(rawHeight);
  const topDown = rawHeight < 0;
  if (width <= 0 || height === 0) throw new Error("BMP has zero size");
  if (width * height > limitInputPixels) throw new Error(`BMP of ${width}x${height} exceeds the pixel limit`);
  if (compression !== 0 && compression !== 3)
    throw new Error(`compressed BMP (method ${compression}) is not supported`);

  let masks = [0x00ff0000, 0x0000ff00, 0x000000ff];
  if (compression === 3) masks = [buf.readUInt32LE(54), buf.readUInt32LE(58), buf.readUInt32LE(62)];
  else if (bpp === 16) masks = [0x7c00, 0x03e0, 0x001f];

  let palette: Buffer | undefined;
  if (bpp <= 8) {
    const colours = buf.readUInt32LE(46) || 1 << bpp;
    palette = buf.subarray(14 + headerSize, 14 + headerSize + colours * 4);
  } else if (bpp !== 16 && bpp !== 24 && bpp !== 32) {
    throw new Error(`BMP with ${bpp} bits per pixel is not supported`);
  }
  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (dataOffset + stride * height > buf.length) throw new Error("BMP file is truncated");

  const out = Buffer.alloc(width * height * 3);
  const channel = (value: number, mask: number) => {
    if (mask === 0) return 0;
    const shift = Math.log2(mask & -mask);
    const max = mask >>> shift;
    return Math.round((((value & mask) >>> shift) * 255) / max);
  };
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (palette) {
        const bitPos = x * bpp;
        const byte = buf[row + (bitPos >> 3)]!;
        const index = (byte >> (8 - bpp - (bitPos & 7))) & ((1 << bpp) - 1);
        out[o] = palette[index * 4 + 2] ?? 0;
        out[o + 1] = palette[index * 4 + 1] ?? 0;
        out[o + 2] = palette[index * 4] ?? 0;
      } else if (bpp === 24) {
        const p = row + x * 3;
        out[o] = buf[p + 2]!;
        out[o + 1] = buf[p + 1]!;
        out[o + 2] = buf[p]!;
      } else {
        const value = bpp === 16 ? buf.readUInt16LE(row + x * 2) : buf.readUInt32LE(row + x * 4);
        out[o] = channel(value, masks[0]!);
        out[o + 1] = channel(value, masks[1]!);
        out[o + 2] = channel(value, masks[2]!);
      }
    }
  }
  return { data: out, width, height, channels: 3 };
}
