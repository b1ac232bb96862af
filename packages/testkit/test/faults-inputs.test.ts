import { lstat, readFile, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import yauzl from "yauzl";
import {
  type BadInputs,
  buildZip,
  collectMatches,
  listeningAddresses,
  makeTempDir,
  percentile,
  SHARP_DEFAULT_PIXEL_LIMIT,
  scanForSecrets,
  writeBadInputs,
  writeZip,
} from "../src/index.js";

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let bad: BadInputs;

beforeAll(async () => {
  tmp = await makeTempDir();
  bad = await writeBadInputs(tmp.dir, 3);
});
afterAll(() => tmp.cleanup());

describe("bad-input generators produce what they claim", () => {
  it.each(["truncatedPng", "corruptPng", "zeroByte", "textAsPng"] as const)(
    "%s cannot be decoded",
    async (k) => {
      await expect(sharp(bad.unreadable[k]).raw().toBuffer()).rejects.toThrow();
    },
  );

  it("over-pixel-limit PNG is small on disk and refused by sharp's default limit", async () => {
    const path = bad.unreadable.overPixelLimit;
    expect((await stat(path)).size).toBeLessThan(1_000_000);
    const meta = await sharp(path, { limitInputPixels: false }).metadata();
    expect(meta.width! * meta.height!).toBeGreaterThan(SHARP_DEFAULT_PIXEL_LIMIT);
    await expect(sharp(path).raw().toBuffer()).rejects.toThrow(/pixel limit/i);
  });

  it("16-bit PNG, CMYK JPEG and 1x1 are real and decodable", async () => {
    expect((await sharp(bad.unusualButValid.png16Bit).metadata()).depth).toBe("ushort");
    expect((await sharp(bad.unusualButValid.cmykJpeg).metadata()).space).toBe("cmyk");
    const one = await sharp(bad.unusualButValid.onePixel).metadata();
    expect([one.width, one.height]).toEqual([1, 1]);
    for (const name of bad.unusualButValid.awkwardNames) {
      expect((await sharp(name).metadata()).format).toBe("png");
    }
    expect(bad.unusualButValid.awkwardNames.some((n) => /[()]/.test(n) && / /.test(n))).toBe(true);
    expect(bad.unusualButValid.awkwardNames.some((n) => [...n].some((c) => c.charCodeAt(0) > 127))).toBe(
      true,
    );
  });

  it("symlink points outside the dataset; one-class dataset has one class", async () => {
    expect((await lstat(bad.symlinkOut)).isSymbolicLink()).toBe(true);
    expect((await realpath(bad.symlinkOut)).startsWith(await realpath(bad.dataset))).toBe(false);
    const { readdir } = await import("node:fs/promises");
    expect(await readdir(bad.oneClassDataset)).toEqual(["benign"]);
  });

  it("zip-slip archive really contains ../ entries (read back with yauzl in lenient mode)", async () => {
    const names = await new Promise<string[]>((resolve, reject) => {
      yauzl.open(bad.zipSlip, { lazyEntries: false, decodeStrings: false }, (err, zip) => {
        if (err) return reject(err);
        const out: string[] = [];
        zip.on("entry", (e: yauzl.Entry) => out.push((e.fileName as unknown as Buffer).toString("utf8")));
        zip.on("end", () => resolve(out));
        zip.on("error", reject);
      });
    });
    expect(names).toContain("../zip-slip-escaped.txt");
    expect(names.filter((n) => n.includes(".."))).toHaveLength(2);
    expect(buildZip([]).length).toBe(22);
    const symlinkEntries = await new Promise<{ name: string; mode: number }[]>((resolve, reject) => {
      yauzl.open(bad.zipSymlinkSlip, { lazyEntries: false }, (err, zip) => {
        if (err) return reject(err);
        const out: { name: string; mode: number }[] = [];
        zip.on("entry", (e: yauzl.Entry) =>
          out.push({ name: e.fileName, mode: e.externalFileAttributes >>> 16 }),
        );
        zip.on("end", () => resolve(out));
      });
    });
    expect(symlinkEntries.map((e) => [e.name, (e.mode & 0o170000).toString(8)])).toEqual([
      ["escape", "120000"],
      ["escape/planted.txt", "100000"],
    ]);
  });
});

describe("secret scanner", () => {
  const secrets = { apiKey: "rk_live_0123456789abcdef", jobKey: "job-scoped-key-ZYX987" };

  it("finds a key raw, base64 and URL-encoded in text, files and inside zip members", async () => {
    const dir = join(tmp.dir, "scan");
    await writeZip(join(tmp.dir, "scan-artifacts.zip"), [
      { name: "logs/run.log", data: `Authorization: Token ${secrets.jobKey}\n` },
    ]);
    const { mkdir, writeFile } = await import("node:fs/promises");
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, "config.json"),
      JSON.stringify({ key: Buffer.from(secrets.apiKey).toString("base64") }),
    );
    const report = await scanForSecrets(secrets, {
      paths: [dir, join(tmp.dir, "scan-artifacts.zip")],
      texts: { stdout: `url ${encodeURIComponent(secrets.apiKey)}`, stderr: "clean" },
    });
    const summary = report.findings
      .map((f) => `${f.secret}:${f.encoding}:${f.where.replace(tmp.dir, "")}`)
      .sort();
    expect(summary).toEqual([
      "apiKey:base64:/scan/config.json",
      "apiKey:raw:stdout", // encodeURIComponent leaves this key unchanged, so raw matches
      "jobKey:raw:/scan-artifacts.zip", // stored (uncompressed) member: found in the raw bytes too
      "jobKey:raw:/scan-artifacts.zip!logs/run.log",
    ]);
    expect(JSON.stringify(report)).not.toContain(secrets.apiKey);
    expect(report.filesScanned).toBe(2);
    expect(report.textsScanned).toBe(2);
  });

  it("finds a key split across read chunks of a large file", async () => {
    const { writeFile } = await import("node:fs/promises");
    const path = join(tmp.dir, "big.log");
    const filler = Buffer.alloc(64 * 1024 - 5, "x"); // default read chunk is 64 KiB: the key straddles it
    await writeFile(path, Buffer.concat([filler, Buffer.from(secrets.jobKey), filler]));
    const report = await scanForSecrets(secrets, { paths: [path] });
    expect(report.findings).toEqual([
      { secret: "jobKey", encoding: "raw", where: path, offset: filler.length },
    ]);
  });

  it("collects candidate tokens by pattern in text, files and zip members", async () => {
    const token = "ab".repeat(24);
    const zip = await writeZip(join(tmp.dir, "tokens.zip"), [{ name: "a/log.txt", data: `key=${token}\n` }]);
    const matches = await collectMatches(/\b[0-9a-f]{48}\b/g, {
      paths: [zip],
      texts: { stdout: `x ${token} y ${"cd".repeat(24)}`, other: "none" },
    });
    expect([...matches.keys()].sort()).toEqual([token, "cd".repeat(24)]);
    expect(matches.get(token)).toEqual(["stdout", zip, `${zip}!a/log.txt`]);
    await expect(collectMatches(/x/, {})).rejects.toThrow(/global/);
  });

  it("finds nothing in clean data and refuses secrets too short to scan for", async () => {
    const report = await scanForSecrets(secrets, { paths: [bad.dataset] });
    expect(report.findings).toEqual([]);
    expect(report.filesScanned).toBeGreaterThan(10);
    await expect(scanForSecrets({ k: "abc" }, {})).rejects.toThrow(/too short/);
  });
});

describe("small helpers", () => {
  it("percentile uses nearest rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile([5], 99)).toBe(5);
  });

  it("listeningAddresses sees a server bound to 127.0.0.1", async () => {
    const http = await import("node:http");
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    expect(listeningAddresses(port)).toEqual(["127.0.0.1"]);
    await new Promise<void>((r) => server.close(() => r()));
    expect(await readFile("/proc/net/tcp", "utf8")).toContain("local_address");
  });
});
