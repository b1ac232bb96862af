import { writeFile } from "node:fs/promises";
import { crc32, deflateRawSync } from "node:zlib";

export interface ZipEntry {
  /** Written verbatim: this writer does NOT sanitise names, so it can produce `../` and absolute entries. */
  name: string;
  data: Buffer | string;
  /** Unix mode including the file type; default a regular file 0644. Use `ZIP_SYMLINK` for a symlink whose data is its target. */
  mode?: number;
  /** Deflate the data (method 8) instead of storing it: how a zip bomb packs gigabytes into kilobytes. */
  deflate?: boolean;
  /** Size written in the headers instead of the real one: an archive that lies about what it expands to. */
  declaredSize?: number;
}

export const ZIP_REGULAR_FILE = 0o100644;
export const ZIP_SYMLINK = 0o120777;

const UTF8_NAMES = 0x0800;

/**
 * A minimal ZIP writer (stored or deflated entries). Archivers refuse or rewrite hostile names like
 * `../evil`, which is exactly what a zip-slip test needs to produce.
 */
export function buildZip(entries: readonly ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8");
    const data = typeof entry.data === "string" ? Buffer.from(entry.data, "utf8") : entry.data;
    const crc = crc32(data);
    const packed = entry.deflate ? deflateRawSync(data) : data;
    const method = entry.deflate ? 8 : 0;
    const size = entry.declaredSize ?? data.length;

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(UTF8_NAMES, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(0, 10); // time + date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, packed);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by: unix, 3.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(UTF8_NAMES, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((entry.mode ?? ZIP_REGULAR_FILE) << 16) >>> 0, 38); // external attrs: unix mode
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);

    offset += local.length + name.length + packed.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

export async function writeZip(path: string, entries: readonly ZipEntry[]): Promise<string> {
  await writeFile(path, buildZip(entries));
  return path;
}
