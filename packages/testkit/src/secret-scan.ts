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
  stream: AsyncIterable<Buffer | string>,
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

type ContentVisitor = (where: string, content: AsyncIterable<Buffer | string>) => Promise<void>;

/** Visits each member of a zip archive (decompressed), so a key inside artifacts.zip is found too. */
async function visitZip(path: string, visit: ContentVisitor): Promise<void> {
  const zip = await openZip(path);
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
        visit(`${path}!${name}`, stream).then(() => zip.readEntry(), reject);
      });
    });
    zip.readEntry();
  });
  zip.close();
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

interface VisitCounts {
  filesScanned: number;
  textsScanned: number;
  bytesScanned: number;
}

/** Calls `visit` for every text, every file under the paths, and every member of each zip file found. */
async function visitTargets(targets: ScanTargets, visit: ContentVisitor): Promise<VisitCounts> {
  const counts: VisitCounts = { filesScanned: 0, textsScanned: 0, bytesScanned: 0 };
  for (const [label, text] of Object.entries(targets.texts ?? {})) {
    await visit(label, toAsync([Buffer.from(text)]));
    counts.textsScanned++;
    counts.bytesScanned += Buffer.byteLength(text);
  }
  for (const target of targets.paths ?? []) {
    const info = await stat(target);
    const files = info.isDirectory() ? await listFiles(target) : [target];
    for (const file of files) {
      const { size } = await stat(file);
      await visit(file, createReadStream(file));
      if (size >= 4 && (await isZip(file))) await visitZip(file, visit);
      counts.filesScanned++;
      counts.bytesScanned += size;
    }
  }
  return counts;
}

async function* toAsync(chunks: Buffer[]): AsyncIterable<Buffer> {
  yield* chunks;
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
  const findings: SecretFinding[] = [];
  const counts = await visitTargets(targets, async (where, content) => {
    findings.push(...(await scanStream(content, needles, where)));
  });
  return { findings, ...counts };
}

/**
 * Every distinct match of `pattern` (which must have the g flag) in the same places scanForSecrets looks.
 * For secrets whose value the test cannot know in advance (a job-scoped key), collect the candidates that
 * look like one and let the test ask the platform about each.
 */
export async function collectMatches(
  pattern: RegExp,
  targets: ScanTargets,
  maxMatchLength = 256,
): Promise<Map<string, string[]>> {
  if (!pattern.global) throw new Error("collectMatches needs a global (g) pattern");
  const matches = new Map<string, string[]>();
  await visitTargets(targets, async (where, content) => {
    const found = new Set<string>();
    let carry = "";
    for await (const chunk of content) {
      // latin1 keeps one character per byte, so the overlap below is exact.
      const text = carry + (typeof chunk === "string" ? chunk : chunk.toString("latin1"));
      for (const match of text.matchAll(pattern)) found.add(match[0]);
      carry = text.slice(-maxMatchLength);
    }
    for (const token of found) matches.set(token, [...(matches.get(token) ?? []), where]);
  });
  return matches;
}
