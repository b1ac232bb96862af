import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildZip, treeSnapshot, ZIP_SYMLINK, type ZipEntry } from "@rescale-run/testkit";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ArchiveLimits, extractZipSafely, UnsafeArchiveError } from "../src/executor/unzip.js";

// Issue 14, items 1 to 3: whatever an input archive holds, extraction writes only inside the job's working
// directory, never replaces a file already there, and stops at the expansion limits. Every test checks a
// sentinel tree around the working directory before and after: zero writes outside it.

let root: string;
let work: string;
let before: string[];

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "local-archives-"));
  // the sentinel tree: siblings and parents of the working directory a hostile archive would aim at
  for (const d of ["outer/job/sibling", "outer/victim-dir", "victim-dir"])
    fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.writeFileSync(path.join(root, "outer/victim.txt"), "original");
  fs.writeFileSync(path.join(root, "victim.txt"), "original");
  work = path.join(root, "outer/job/work");
  fs.mkdirSync(work);
  before = treeSnapshot(root, [work]);
});
const writesOutside: string[] = [];
afterEach(() => {
  const after = treeSnapshot(root, [work]);
  if (JSON.stringify(after) !== JSON.stringify(before))
    writesOutside.push(expect.getState().currentTestName ?? "?");
  expect(after).toEqual(before);
  fs.rmSync(root, { recursive: true, force: true });
});
afterAll(() => expect(writesOutside).toEqual([]));

function zipOf(entries: ZipEntry[]): string {
  const file = path.join(root, "in.zip");
  fs.writeFileSync(file, buildZip(entries));
  // the archive itself is the one file the test adds outside the working directory
  before = treeSnapshot(root, [work]);
  return file;
}

const link = (name: string, target: string): ZipEntry => ({ name, data: target, mode: ZIP_SYMLINK });

describe("links in archives (item 1)", () => {
  it.each([
    [
      "a chain of relative links whose lexical path stays inside (d/up -> .., x -> d/up/..), then a new folder through it",
      [
        { name: "d/", data: "" },
        link("d/up", ".."),
        link("x", "d/up/.."),
        { name: "x/newdir/evil.txt", data: "no" },
      ],
    ],
    [
      "nested chains (a -> b/c, b/c -> ../.., a/file)",
      [{ name: "b/", data: "" }, link("b/c", "../.."), link("a", "b/c"), { name: "a/evil.txt", data: "no" }],
    ],
    ["a link to . used as a folder", [link("self", "."), { name: "self/self/file.txt", data: "x" }]],
    [
      "a link to a folder inside, created by one entry and used by a later one",
      [{ name: "data/x.txt", data: "x" }, link("alias", "data"), { name: "alias/y.txt", data: "y" }],
    ],
    ["a lone link that stays inside", [{ name: "a.txt", data: "a" }, link("b.txt", "a.txt")]],
  ] as [string, ZipEntry[]][])("refuses %s, creating no link", async (_label, entries) => {
    await expect(extractZipSafely(zipOf(entries), work)).rejects.toThrow(/symlink/);
    const links = treeSnapshot(work).filter((line) => line.includes(" link->"));
    expect(links).toEqual([]);
  });

  it("checks the whole path before creating anything: a refused entry leaves no new folder", async () => {
    fs.mkdirSync(path.join(root, "outer/job/outside"));
    fs.symlinkSync("../outside", path.join(work, "planted"));
    before = treeSnapshot(root, [work]);
    await expect(
      extractZipSafely(zipOf([{ name: "planted/new/deeper/evil.txt", data: "no" }]), work),
    ).rejects.toBeInstanceOf(UnsafeArchiveError);
    expect(fs.readdirSync(path.join(root, "outer/job/outside"))).toEqual([]);
  });

  it("still extracts a plain dataset archive with folders", async () => {
    const written = await extractZipSafely(
      zipOf([
        { name: "busi/", data: "" },
        { name: "busi/benign/", data: "" },
        { name: "busi/benign/a (1).png", data: "A" },
        { name: "busi/normal/b.png", data: "B", deflate: true },
      ]),
      work,
    );
    expect(written.sort()).toEqual(["busi/benign/a (1).png", "busi/normal/b.png"]);
    expect(fs.readFileSync(path.join(work, "busi/normal/b.png"), "utf8")).toBe("B");
  });
});

describe("files already in the working directory (item 2)", () => {
  it("refuses an entry that would replace a file an earlier input put there (the job's bootstrap script)", async () => {
    fs.writeFileSync(path.join(work, "rescale-run-bootstrap.sh"), "echo runner");
    await expect(
      extractZipSafely(zipOf([{ name: "rescale-run-bootstrap.sh", data: "echo pwned" }]), work),
    ).rejects.toThrow(/rescale-run-bootstrap\.sh.*already/);
    expect(fs.readFileSync(path.join(work, "rescale-run-bootstrap.sh"), "utf8")).toBe("echo runner");
  });

  it("refuses an archive naming the same file twice", async () => {
    await expect(
      extractZipSafely(
        zipOf([
          { name: "run.sh", data: "first" },
          { name: "run.sh", data: "second" },
        ]),
        work,
      ),
    ).rejects.toThrow(/run\.sh.*already/);
  });
});

describe("expansion limits (item 3)", () => {
  const limits = (l: Partial<ArchiveLimits>): Partial<ArchiveLimits> => l;

  it("stops at the total expanded bytes, says so, and removes what it wrote", async () => {
    const entries = Array.from({ length: 4 }, (_, i) => ({
      name: `d/f${i}.bin`,
      data: Buffer.alloc(300_000, i),
    }));
    await expect(extractZipSafely(zipOf(entries), work, limits({ maxBytes: 1_000_000 }))).rejects.toThrow(
      /expanded size limit.*1 000 000|maxBytes/,
    );
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it("stops at the entry count before writing anything", async () => {
    const entries = Array.from({ length: 6 }, (_, i) => ({ name: `f${i}.txt`, data: "x" }));
    await expect(extractZipSafely(zipOf(entries), work, limits({ maxEntries: 5 }))).rejects.toThrow(
      /entry limit|maxEntries/,
    );
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it("refuses a zip bomb by its compression ratio with the default limits", async () => {
    // 64 MiB of zeros deflate to about 64 kB: a ratio of about 1000
    const bomb = [{ name: "zeros.bin", data: Buffer.alloc(64 * 1024 * 1024), deflate: true }];
    const file = zipOf(bomb);
    expect(fs.statSync(file).size).toBeLessThan(200_000);
    await expect(extractZipSafely(file, work)).rejects.toThrow(/compression ratio/);
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it("counts the bytes actually streamed, not the sizes the headers declare", async () => {
    const liar = [{ name: "small.bin", data: Buffer.alloc(2_000_000, 7), declaredSize: 10 }];
    await expect(extractZipSafely(zipOf(liar), work, limits({ maxBytes: 1_000_000 }))).rejects.toBeInstanceOf(
      UnsafeArchiveError,
    );
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it("BUSI-sized datasets pass the defaults with room to spare", async () => {
    const { DEFAULT_ARCHIVE_LIMITS } = await import("../src/executor/unzip.js");
    // BUSI: ~780 images, ~200 MB; the defaults allow many times both
    expect(DEFAULT_ARCHIVE_LIMITS.maxBytes).toBeGreaterThanOrEqual(10 * 200e6);
    expect(DEFAULT_ARCHIVE_LIMITS.maxEntries).toBeGreaterThanOrEqual(50 * 780);
    const entries = Array.from({ length: 300 }, (_, i) => ({
      name: `busi/c${i % 3}/img (${i}).png`,
      data: Buffer.alloc(2000, i),
      deflate: i % 2 === 0,
    }));
    expect((await extractZipSafely(zipOf(entries), work)).length).toBe(300);
  });
});
