import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import yauzl from "yauzl";
import { csvField, packageArtifacts, toCsv, writeHistoryCsv, writePredictionsCsv } from "../src/artifacts.js";
import { UserInputError } from "../src/errors.js";
import { parseCsv } from "../src/report.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "rr-artifacts-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Reads every entry of a zip into memory. */
function readZip(file: string): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const out = new Map<string, Buffer>();
      zip.on("error", reject);
      zip.on("end", () => resolve(out));
      zip.on("entry", (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream.on("data", (c: Buffer) => chunks.push(c));
          stream.on("end", () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

describe("CSV", () => {
  it("quotes only fields that need it, doubling inner quotes", () => {
    expect(csvField("benign (1).png")).toBe("benign (1).png");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvField(" padded")).toBe('" padded"');
    expect(csvField(0.25)).toBe("0.25");
    expect(csvField(Number.NaN)).toBe("NaN");
    expect(csvField(Number.POSITIVE_INFINITY)).toBe("inf");
    expect(toCsv(["a", "b"], [[1, "x,y"]])).toBe('a,b\n1,"x,y"\n');
  });

  it("writes history.csv with the names of history.json (camelCase), an empty cell where dataLoss is absent", async () => {
    const file = path.join(root, "hist", "history.csv");
    await writeHistoryCsv(
      [
        { epoch: 1, loss: 1.05, dataLoss: 0.95, accuracy: 0.5, valLoss: 0.98, valAccuracy: 0.55 },
        { epoch: 2, loss: 0.7, accuracy: 0.75, valLoss: 0.81, valAccuracy: 0.7 },
      ],
      file,
    );
    expect(await readFile(file, "utf8")).toBe(
      "epoch,loss,dataLoss,accuracy,valLoss,valAccuracy\n1,1.05,0.95,0.5,0.98,0.55\n2,0.7,,0.75,0.81,0.7\n",
    );
    expect((await readdir(path.dirname(file))).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("writes predictions.csv with class names, argmax prediction and quoted awkward file names", async () => {
    const file = path.join(root, "predictions.csv");
    const names = ["benign/benign (12).png", 'malignant/odd, "quoted" name.png', "normal/normal (3).png"];
    await writePredictionsCsv(
      [
        { file: names[0]!, trueClass: 0, probs: [0.7, 0.2, 0.1] },
        { file: names[1]!, trueClass: 1, probs: [0.1, 0.3, 0.6] },
        { file: names[2]!, trueClass: 2, probs: [0.4, 0.4, 0.2] },
      ],
      ["benign", "malignant", "normal"],
      file,
    );
    const text = await readFile(file, "utf8");
    expect(text.split("\n")[2]).toBe('"malignant/odd, ""quoted"" name.png",malignant,normal,0.1,0.3,0.6');
    expect(parseCsv(text)).toEqual([
      ["file", "trueClass", "predictedClass", "prob_benign", "prob_malignant", "prob_normal"],
      [names[0], "benign", "benign", "0.7", "0.2", "0.1"],
      [names[1], "malignant", "normal", "0.1", "0.3", "0.6"],
      [names[2], "normal", "benign", "0.4", "0.4", "0.2"],
    ]);
  });

  it("rejects rows that do not match the classes", async () => {
    const file = path.join(root, "bad.csv");
    await expect(
      writePredictionsCsv([{ file: "x", trueClass: 3, probs: [0.5, 0.5] }], ["a", "b"], file),
    ).rejects.toThrow(/true class 3 is not in 0..1/);
    await expect(
      writePredictionsCsv([{ file: "x", trueClass: 0, probs: [1] }], ["a", "b"], file),
    ).rejects.toThrow(/1 probabilities for 2 classes/);
  });
});

describe("packageArtifacts", () => {
  let outDir: string;
  const contents: Record<string, string> = {
    "history.json": '[{"epoch":1}]',
    "metrics.json": '{"accuracy":0.9}',
    "predictions.csv": "file,true_class\n",
    "plots/accuracy.png": "not really a png",
    "model/labels.json": '["benign","malignant","normal"]',
    "checkpoints/epoch-3.json": "{}",
    "cache/features.bin": "xxxx",
    "run.json.tmp": "partial",
    "uploaded.json": "[]",
  };
  beforeAll(async () => {
    outDir = path.join(root, "out");
    for (const [name, text] of Object.entries(contents)) {
      await mkdir(path.dirname(path.join(outDir, name)), { recursive: true });
      await writeFile(path.join(outDir, name), text);
    }
    await writeFile(path.join(root, "secret.txt"), "outside");
    await symlink(path.join(root, "secret.txt"), path.join(outDir, "link.txt"));
  });

  it("zips the artifacts, not checkpoints, caches, temp files, links or uploaded.json, and reads back intact", async () => {
    const zip = await packageArtifacts(outDir);
    const expected = [
      "history.json",
      "metrics.json",
      "model/labels.json",
      "plots/accuracy.png",
      "predictions.csv",
    ];
    expect(zip.path).toBe(path.join(outDir, "artifacts.zip"));
    expect(zip.entries.map((e) => e.name)).toEqual(expected);
    expect(zip.entries.find((e) => e.name === "metrics.json")!.size).toBe(contents["metrics.json"]!.length);

    const read = await readZip(zip.path);
    expect([...read.keys()].sort()).toEqual(expected);
    for (const name of expected) expect(read.get(name)!.toString()).toBe(contents[name]);

    const bytes = await readFile(zip.path);
    expect(zip.size).toBe(bytes.length);
    expect(zip.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(await readdir(outDir)).not.toContain("artifacts.zip.tmp");
  });

  it("never zips the previous zip when run again", async () => {
    const again = await packageArtifacts(outDir);
    expect(again.entries.map((e) => e.name)).not.toContain("artifacts.zip");
    expect([...(await readZip(again.path)).keys()]).not.toContain("artifacts.zip");
  });

  it("zips exactly the included paths when asked, checkpoints too", async () => {
    const zip = await packageArtifacts(outDir, {
      zipName: "with-checkpoint.zip",
      include: ["checkpoints", "metrics.json"],
    });
    expect(zip.entries.map((e) => e.name)).toEqual(["checkpoints/epoch-3.json", "metrics.json"]);
    expect((await readZip(zip.path)).get("checkpoints/epoch-3.json")!.toString()).toBe("{}");
    await rm(zip.path);
  });

  it("rejects bad input with UserInputError", async () => {
    await expect(packageArtifacts(outDir, { include: ["../secret.txt"] })).rejects.toThrow(/not inside/);
    await expect(packageArtifacts(outDir, { include: ["missing.json"] })).rejects.toThrow(/no such file/);
    await expect(packageArtifacts(outDir, { include: ["link.txt"] })).rejects.toThrow(
      /links are not followed/,
    );
    await expect(packageArtifacts(outDir, { zipName: "../x.zip" })).rejects.toThrow(/plain file name/);
    await expect(packageArtifacts(path.join(root, "nope"))).rejects.toThrow(UserInputError);
    const empty = path.join(root, "empty");
    await mkdir(path.join(empty, "checkpoints"), { recursive: true });
    await writeFile(path.join(empty, "checkpoints", "c.json"), "{}");
    await expect(packageArtifacts(empty)).rejects.toThrow(/no artifacts to package/);
    expect((await stat(empty)).isDirectory()).toBe(true);
  });
});
