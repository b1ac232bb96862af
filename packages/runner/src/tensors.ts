import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "@rescale-run/sdk/atomic-write";

/** A named float32 array with its shape: how head weights and optimizer state are saved. */
export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

interface Manifest {
  format: "rescale-run-arrays/1";
  arrays: { name: string; shape: number[]; offset: number; length: number }[];
}

/** Writes arrays as `<base>.json` (manifest) + `<base>.bin` (float32 little-endian), each atomically. */
export async function writeArrays(base: string, arrays: readonly NamedArray[]): Promise<void> {
  const total = arrays.reduce((sum, a) => sum + a.data.length, 0);
  const all = new Float32Array(total);
  const manifest: Manifest = { format: "rescale-run-arrays/1", arrays: [] };
  let offset = 0;
  for (const a of arrays) {
    all.set(a.data, offset);
    manifest.arrays.push({ name: a.name, shape: a.shape, offset, length: a.data.length });
    offset += a.data.length;
  }
  await writeFileAtomic(`${base}.bin`, new Uint8Array(all.buffer));
  await writeFileAtomic(`${base}.json`, `${JSON.stringify(manifest, null, 1)}\n`);
}

/** Reads arrays written by writeArrays; `binFile` overrides `<base>.bin` (same layout, another generation). */
export async function readArrays(base: string, binFile = `${base}.bin`): Promise<NamedArray[]> {
  const manifest = JSON.parse(await readFile(`${base}.json`, "utf8")) as Manifest;
  if (manifest.format !== "rescale-run-arrays/1")
    throw new Error(`${base}.json: unknown format ${manifest.format}`);
  const bytes = await readFile(binFile);
  const all = new Float32Array(bytes.length / 4);
  new Uint8Array(all.buffer).set(bytes);
  return manifest.arrays.map((a) => {
    if (a.offset + a.length > all.length) throw new Error(`${base}.bin is shorter than its manifest`);
    return { name: a.name, shape: a.shape, data: all.slice(a.offset, a.offset + a.length) };
  });
}
