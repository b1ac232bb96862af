import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CoreType } from "@rescale-run/sdk";
import { describe, expect, it } from "vitest";
import { writeArchive } from "../src/archive.js";
import { joinNegativeValues } from "../src/cli.js";
import { inspectDataset, packDataset } from "../src/dataset.js";
import { isLoopbackHost } from "../src/exposure.js";
import { localPathFor } from "../src/job-outputs.js";
import { allowIpRule, chooseCoreType } from "../src/plan.js";

function imageFolder(root: string, classes: Record<string, number>): void {
  for (const [cls, n] of Object.entries(classes)) {
    mkdirSync(join(root, cls), { recursive: true });
    for (let i = 1; i <= n; i++) {
      writeFileSync(join(root, cls, `${cls} (${i}).png`), `img ${cls} ${i}`);
      writeFileSync(join(root, cls, `${cls} (${i})_mask.png`), "mask");
    }
  }
}

describe("dataset inspection", () => {
  it("counts images per class, excluding masks, and descends into a single wrapper folder", async () => {
    const root = mkdtempSync(join(tmpdir(), "rr-ds-"));
    imageFolder(join(root, "Dataset_BUSI_with_GT"), { benign: 8, malignant: 7, normal: 6 });
    const ds = await inspectDataset(root);
    expect(ds.root).toBe(join(root, "Dataset_BUSI_with_GT"));
    expect(ds.classes).toEqual([
      { name: "benign", images: 8 },
      { name: "malignant", images: 7 },
      { name: "normal", images: 6 },
    ]);
  });

  it("refuses a folder without class subfolders, naming the expected layout", async () => {
    const root = mkdtempSync(join(tmpdir(), "rr-ds-"));
    writeFileSync(join(root, "a.png"), "x");
    await expect(inspectDataset(root)).rejects.toThrow(
      /has no class subfolders\. Expected one subfolder of images per class/,
    );
    await expect(inspectDataset(join(root, "missing"))).rejects.toThrow(/no such file or folder/);
  });

  it("packs a folder as <jobDir>/<class>/<image> without masks, and reads a zip's layout back", async () => {
    const root = mkdtempSync(join(tmpdir(), "rr-ds-"));
    imageFolder(join(root, "data"), { a: 6, b: 7 });
    const ds = await inspectDataset(join(root, "data"));
    const zip = await packDataset(ds, join(root, "cache"));
    const again = await inspectDataset(zip);
    expect(again.kind).toBe("zip");
    expect(again.jobDir).toBe("dataset");
    expect(again.classes).toEqual([
      { name: "a", images: 6 },
      { name: "b", images: 7 },
    ]);
    expect(await packDataset(ds, join(root, "cache"))).toBe(zip); // cached
  });

  it("refuses a zip whose class folders sit at its top level", async () => {
    const root = mkdtempSync(join(tmpdir(), "rr-ds-"));
    imageFolder(join(root, "flat"), { a: 6, b: 6 });
    const zip = join(root, "flat.zip");
    await writeArchive(zip, "zip", (a) => a.directory(join(root, "flat"), false));
    await expect(inspectDataset(zip)).rejects.toThrow(/class folders at the top of the zip/);
  });
});

describe("plan helpers", () => {
  const types = [
    {
      code: "emerald",
      name: "Emerald",
      cores: [1, 2, 4, 8],
      memory: 4000,
      storage: 10,
      price: 0.5,
      lowPriorityPrice: 0.3,
      isDeprecated: false,
    },
    {
      code: "onyx",
      name: "Onyx",
      cores: [4, 8],
      memory: 8000,
      storage: 10,
      price: 0.4,
      lowPriorityPrice: null,
      isDeprecated: false,
    },
  ] as unknown as CoreType[];

  it("picks the cheapest type offering the cores; validates a named one", () => {
    expect(
      chooseCoreType(types, { cores: 4, walltimeHours: 8, priority: "onDemandPriority" }).coreType.code,
    ).toBe("onyx");
    expect(
      chooseCoreType(types, { cores: 2, walltimeHours: 8, priority: "onDemandPriority" }).coreType.code,
    ).toBe("emerald");
    expect(() =>
      chooseCoreType(types, { coreType: "Onyx", cores: 2, walltimeHours: 8, priority: "onDemandPriority" }),
    ).toThrow(/offers 4, 8 cores per node, not 2/);
  });

  it("turns --allow-ip into a CIDR rule and refuses nonsense", () => {
    expect(allowIpRule("203.0.113.7")).toBe("203.0.113.7/32");
    expect(allowIpRule("203.0.113.0/24")).toBe("203.0.113.0/24");
    expect(allowIpRule("2001:db8::1")).toBe("2001:db8::1/128");
    expect(() => allowIpRule("300.1.1.1")).toThrow(/not an IP address/);
    expect(() => allowIpRule("10.0.0.0/33")).toThrow(/not an IP address or CIDR/);
  });

  it("never writes a downloaded file outside the output folder", () => {
    expect(localPathFor("/tmp/out", { name: "m.json", relativePath: "outputs/m.json" })).toBe(
      "/tmp/out/outputs/m.json",
    );
    expect(localPathFor("/tmp/out", { name: "x", relativePath: "../../etc/passwd" })).toBe(
      "/tmp/out/etc/passwd",
    );
  });
});

describe("negative-looking option values", () => {
  it("joins a value that starts with '-' and a digit to the long option before it", () => {
    expect(joinNegativeValues(["submit", "--walltime", "-5h", "--cores", "-2", "--dry-run"])).toEqual([
      "submit",
      "--walltime=-5h",
      "--cores=-2",
      "--dry-run",
    ]);
  });

  it("leaves flags, '=' forms, short options and other values alone", () => {
    const argv = ["submit", "--walltime=-5h", "--dry-run", "--json", "-h", "--cores", "4", "--name", "-x"];
    expect(joinNegativeValues(argv)).toEqual(argv);
  });
});

describe("isLoopbackHost (local --host, Rescale URLs, the dashboard's Host header)", () => {
  it("takes names, addresses and Host headers with a port, and nothing that leaves this machine", () => {
    for (const host of [
      "127.0.0.1",
      "127.0.0.2",
      "localhost",
      "LOCALHOST:8080",
      "::1",
      "[::1]",
      "[::1]:80",
      "127.0.0.1:9",
    ])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of [
      "0.0.0.0",
      "evil.example:80",
      "localhost.evil",
      "::",
      "[::2]:80",
      "10.0.0.1",
      "",
      undefined,
    ])
      expect(isLoopbackHost(host), String(host)).toBe(false);
  });
});
