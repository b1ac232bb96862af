/**
 * How closely two engines' (or providers') features agree: ||other - reference|| / ||reference||. The feature cache
 * shares features between engines that agree below 1e-4 (engine.ts `cacheKey`); the GPU tests and bench/gpu use
 * this to check WebGPU against the CPU.
 */
export function relativeL2(reference: ArrayLike<number>, other: ArrayLike<number>): number {
  if (reference.length !== other.length) {
    throw new RangeError(`relativeL2 needs equal lengths, got ${reference.length} and ${other.length}`);
  }
  let num = 0;
  let den = 0;
  for (let i = 0; i < reference.length; i++) {
    num += (reference[i]! - other[i]!) ** 2;
    den += reference[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
