import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface BlobInfo {
  sha256: string;
  md5: string;
  size: number;
}

/**
 * A content-addressed file store: every blob lives at `blobs/<sha256[0..2]>/<sha256>`.
 * Writes stream through the hashes into a temp file and are renamed into place, so memory stays
 * constant whatever the size and a crash never leaves a half-written blob under its final name.
 */
export class BlobStore {
  private readonly root: string;
  private readonly tmp: string;

  constructor(dir: string) {
    this.root = path.join(dir, "blobs");
    this.tmp = path.join(dir, "tmp");
    fs.mkdirSync(this.root, { recursive: true });
    fs.rmSync(this.tmp, { recursive: true, force: true });
    fs.mkdirSync(this.tmp, { recursive: true });
  }

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 digest: ${sha256}`);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  async put(source: Readable): Promise<BlobInfo> {
    const sha = createHash("sha256");
    const md5 = createHash("md5");
    let size = 0;
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, done) {
        sha.update(chunk);
        md5.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const tmpFile = path.join(this.tmp, randomBytes(8).toString("hex"));
    try {
      await pipeline(source, hasher, fs.createWriteStream(tmpFile, { mode: 0o600 }));
      const info = { sha256: sha.digest("hex"), md5: md5.digest("hex"), size };
      const target = this.pathOf(info.sha256);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.renameSync(tmpFile, target);
      return info;
    } finally {
      fs.rmSync(tmpFile, { force: true });
    }
  }

  putFile(file: string): Promise<BlobInfo> {
    return this.put(fs.createReadStream(file));
  }

  remove(sha256: string): void {
    fs.rmSync(this.pathOf(sha256), { force: true });
  }
}
