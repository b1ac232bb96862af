import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isAtomicWriteTemp, replaceFileAtomically, writeFileAtomic } from "../src/atomic-write.js";
import { rescaleRunDir, xdgBaseDir } from "../src/user-dirs.js";

// The two rules every package uses for its own files: where they live (XDG) and how one is replaced (atomically).

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "sdk-user-files-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("user directories", () => {
  it("takes an absolute $XDG_*_HOME, else the default under HOME", () => {
    const env = {
      HOME: "/home/u",
      XDG_CONFIG_HOME: "/x/config",
      XDG_CACHE_HOME: "/x/cache",
      XDG_DATA_HOME: "/x/data",
    };
    expect(xdgBaseDir("config", env)).toBe("/x/config");
    expect(rescaleRunDir("cache", env)).toBe("/x/cache/rescale-run");
    expect(rescaleRunDir("data", env)).toBe("/x/data/rescale-run");
    expect(rescaleRunDir("config", { HOME: "/home/u" })).toBe("/home/u/.config/rescale-run");
    expect(rescaleRunDir("cache", { HOME: "/home/u" })).toBe("/home/u/.cache/rescale-run");
    expect(rescaleRunDir("data", { HOME: "/home/u" })).toBe("/home/u/.local/share/rescale-run");
  });

  it("ignores a relative $XDG_*_HOME, as the XDG spec says", () => {
    expect(xdgBaseDir("cache", { HOME: "/home/u", XDG_CACHE_HOME: "relative/cache" })).toBe("/home/u/.cache");
  });
});

describe("atomic write", () => {
  it("creates the folder, sets the mode whatever the umask, and leaves no temporary", async () => {
    const file = join(root, "a", "b", "key.json");
    await writeFileAtomic(file, "secret", { mode: 0o600 });
    expect(await readFile(file, "utf8")).toBe("secret");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(root, "a", "b"))).toEqual(["key.json"]);
  });

  it("keeps the old content and removes the temporary when filling fails", async () => {
    const file = join(root, "out.zip");
    await writeFile(file, "old");
    let seen = "";
    await expect(
      replaceFileAtomically(file, async (temp) => {
        seen = temp;
        await writeFile(temp, "half");
        throw new Error("killed mid-write");
      }),
    ).rejects.toThrow("killed mid-write");
    expect(isAtomicWriteTemp(seen.slice(root.length + 1), file)).toBe(true);
    expect(await readFile(file, "utf8")).toBe("old");
    expect(await readdir(root)).toEqual(["out.zip"]);
  });

  it("gives each call its own temporary, so concurrent writes of one file both finish whole", async () => {
    const file = join(root, "state.json");
    await Promise.all(["x".repeat(100_000), "y".repeat(100_000)].map((text) => writeFileAtomic(file, text)));
    expect(["x".repeat(100_000), "y".repeat(100_000)]).toContain(await readFile(file, "utf8"));
    expect(await readdir(root)).toEqual(["state.json"]);
  });
});
