import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import yauzl from "yauzl";
import { listFiles } from "./files.js";

export interface SecretFinding {
  /** Which secret (its name, never its value). */
  secret: string;
  /** How it was encoded where found: raw, base64, base64url, url-encoded. */
  encoding: string;
  /** File path (with `!entry` for a zip member) or text label. */
  where: string;
  offset: number;
}

interface Needle {
  secret: string;
  encoding: string;
  bytes: Buffer;
}

function needlesFor(secrets: Record<string, string>): Needle[] {
  const needles: Needle[] = [];
  for (const [secret, value] of Object.entries(secrets)) {
    if (value.length < 8) throw new Error(`secret ${secret} is too short to scan for reliably`);
    const variants: Record<string, string> = {
      raw: value,
      base64: Buffer.from(value).toString("base64").replace(/=+$/, ""),
      base64url: Buffer.from(value).toString("base64url"),
      "url-encoded": encodeURIComponent(value),
    };
    const seen = new Set<string>();
    for (const [encoding, text] of Object.entries(variants)) {
      if (seen.has(text)) continue;
      seen.add(text);
      needles.push({ secret, encoding, bytes: Buffer.from(text, "utf8") });
    }
  }
  return needles;
}

/** Scans a stream chunk by chunk, keeping an overlap so a secret split across chunks is still found. */
async function scanStream(
  stream: AsyncIterable<Buffer | string> | Iterable<Buffer>,
  needles: Needle[],
  where: string,
): Promise<SecretFinding[]> {
  const overlap = Math.max(...needles.map((n) => n.bytes.length)) - 1;
  const findings: SecretFinding[] = [];
  const reported = new Set<string>();
  let carry = Buffer.alloc(0);
  let base = 0; // absolute offset of carry[0]
  for await (const chunk of stream) {
    const buf = Buffer.concat([carry, typeof chunk === "string" ? Buffer.from(chunk) : chunk]);
    for (const needle of needles) {
      const at = buf.indexOf(needle.bytes);
      const key = `${needle.secret}/${needle.encoding}`;
      if (at >= 0 && !reported.has(key)) {
        reported.add(key);
        findings.push({ secret: needle.secret, encoding: needle.encoding, where, offset: base + at });
      }
    }
    const keep = Math.min(overlap, buf.length);
    base += buf.length - keep;
    carry = buf.subarray(buf.length - keep);
  }
  return findings;
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true }, (err, zip) =>
      err ? reject(err) : resolve(zip),
    ),
  );
}

/** Scans each member of a zip archive (decompressed), so a key inside artifacts.zip is found too. */
async function scanZip(path: string, needles: Needle[]): Promise<SecretFinding[]> {
  const zip = await openZip(path);
  const findings: SecretFinding[] = [];
  await new Promise<void>((resolve, reject) => {
    zip.on("error", reject);
    zip.on("end", () => resolve());
    zip.on("entry", (entry: yauzl.Entry) => {
      // Names are left undecoded so a hostile name (`../x`) is scanned rather than rejected.
      const name = (entry.fileName as unknown as Buffer).toString("utf8");
      if (name.endsWith("/")) {
        zip.readEntry();
        return;
      }
      zip.openReadStream(entry, (err, stream) => {
        if (err) return reject(err);
        scanStream(stream, needles, `${path}!${name}`).then((found) => {
          findings.push(...found);
          zip.readEntry();
        }, reject);
      });
    });
    zip.readEntry();
  });
  zip.close();
  return findings;
}

async function isZip(path: string): Promise<boolean> {
  const stream = createReadStream(path, { start: 0, end: 3 });
  for await (const chunk of stream) return (chunk as Buffer).readUInt32LE(0) === 0x04034b50;
  return false;
}

export interface ScanTargets {
  /** Files or directories (walked recursively; zip files are also scanned member by member). */
  paths?: string[];
  /** Captured output, keyed by a label such as "cli stdout". */
  texts?: Record<string, string>;
}

export interface ScanReport {
  findings: SecretFinding[];
  /** Number of files (and zip members are inside them) and texts scanned, so a test can assert it scanned something. */
  filesScanned: number;
  textsScanned: number;
  bytesScanned: number;
}

/**
 * Looks for each secret (raw and in common encodings) in files, zip members and captured text.
 * Findings name the secret and the place, never the value.
 */
export async function scanForSecrets(
  secrets: Record<string, string>,
  targets: ScanTargets,
): Promise<ScanReport> {
  const needles = needlesFor(secrets);
  const report: ScanReport = { findings: [], filesScanned: 0, textsScanned: 0, bytesScanned: 0 };
  for (const [label, text] of Object.entries(targets.texts ?? {})) {
    report.findings.push(...(await scanStream([Buffer.from(text)], needles, label)));
    report.textsScanned++;
    report.bytesScanned += Buffer.byteLength(text);
  }
  for (const target of targets.paths ?? []) {
    const info = await stat(target);
    const files = info.isDirectory() ? await listFiles(target) : [target];
    for (const file of files) {
      const { size } = await stat(file);
      report.findings.push(...(await scanStream(createReadStream(file), needles, file)));
      if (size >= 4 && (await isZip(file))) report.findings.push(...(await scanZip(file, needles)));
      report.filesScanned++;
      report.bytesScanned += size;
    }
  }
  return report;
}
