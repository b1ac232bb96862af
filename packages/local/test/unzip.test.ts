import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildZip, ZIP_SYMLINK, type ZipEntry } from "@rescale-run/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { extractZipSafely, UnsafeArchiveError } from "../src/executor/unzip.js";

// extractZipSafely on its own: what it writes for good archives, and that hostile ones write nothing outside.

let root: string;
let work: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "local-unzip-"));
  work = path.join(root, "work");
  fs.mkdirSync(work);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function zipOf(entries: ZipEntry[]): string {
  const file = path.join(root, "in.zip");
  fs.writeFileSync(file, buildZip(entries));
  return file;
}

describe("extractZipSafely", () => {
  it("extracts nested files and directory entries, returning the files written", async () => {
    const written = await extractZipSafely(
      zipOf([
        { name: "busi/", data: "" },
        { name: "busi/benign/a.png", data: "A" },
        { name: "busi/normal/b.png", data: "B" },
      ]),
      work,
    );
    expect(written.sort()).toEqual(["busi/benign/a.png", "busi/normal/b.png"]);
    expect(fs.readFileSync(path.join(work, "busi/normal/b.png"), "utf8")).toBe("B");
  });

  it("refuses even a symlink that stays inside (archives may hold only files and folders)", async () => {
    await expect(
      extractZipSafely(
        zipOf([
          { name: "data/x.txt", data: "x" },
          { name: "alias", data: "data", mode: ZIP_SYMLINK },
          { name: "alias/y.txt", data: "y" },
        ]),
        work,
      ),
    ).rejects.toThrow(/"alias" is a symlink/);
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it.each([
    ["a ../ entry", [{ name: "../escaped.txt", data: "no" }]],
    ["a nested ../ entry", [{ name: "a/../../escaped.txt", data: "no" }]],
    ["an absolute entry", [{ name: "/tmp/escaped-abs.txt", data: "no" }]],
    ["a backslash entry", [{ name: "..\\escaped.txt", data: "no" }]],
    ["a symlink out", [{ name: "link", data: "..", mode: ZIP_SYMLINK }]],
    ["an absolute symlink", [{ name: "link", data: "/etc", mode: ZIP_SYMLINK }]],
  ] as [string, ZipEntry[]][])("refuses %s and writes nothing outside", async (_label, entries) => {
    await expect(extractZipSafely(zipOf(entries), work)).rejects.toBeInstanceOf(UnsafeArchiveError);
    expect(fs.readdirSync(root).sort()).toEqual(["in.zip", "work"]);
    expect(fs.existsSync("/tmp/escaped-abs.txt")).toBe(false);
  });

  it("does not write through a symlink that already points outside (planted before extraction)", async () => {
    fs.mkdirSync(path.join(root, "outside"));
    fs.symlinkSync(path.join(root, "outside"), path.join(work, "planted"));
    await expect(
      extractZipSafely(zipOf([{ name: "planted/evil.txt", data: "no" }]), work),
    ).rejects.toBeInstanceOf(UnsafeArchiveError);
    expect(fs.readdirSync(path.join(root, "outside"))).toEqual([]);
  });

  it("does not follow a planted symlink in place of a file", async () => {
    fs.writeFileSync(path.join(root, "victim.txt"), "original");
    fs.symlinkSync(path.join(root, "victim.txt"), path.join(work, "leaf"));
    await expect(
      extractZipSafely(zipOf([{ name: "leaf", data: "overwritten" }]), work),
    ).rejects.toBeInstanceOf(UnsafeArchiveError);
    expect(fs.readFileSync(path.join(root, "victim.txt"), "utf8")).toBe("original");
  });

  it("refuses a file that is not a zip", async () => {
    const file = path.join(root, "not.zip");
    fs.writeFileSync(file, "plain text");
    await expect(extractZipSafely(file, work)).rejects.toBeInstanceOf(UnsafeArchiveError);
  });
});
