/**
 * report.html from an output folder: every section present, images embedded as data: URIs, thumbnails of the
 * misclassified rows, and no way for a class name, file name or setting to inject markup.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { toCsv } from "../src/artifacts.js";
import { train } from "../src/index.js";
import {
  escapeHtml,
  humanKey,
  misclassifiedRows,
  parseCsv,
  renderJsonTables,
  renderReportHtml,
  writeRunReport,
} from "../src/report.js";
import { fakeEngine } from "./fake-engine.js";
import { makeDataset, tempDir } from "./helpers.js";

const EVIL = `<script>alert(1)</script>"'&`;
const EVIL_FILE = `"><img src=x onerror=alert(2)>.png`;

async function png(file: string, shade: number): Promise<void> {
  await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: shade, g: 40, b: 90 } } })
    .png()
    .toFile(file);
}

async function fixture(): Promise<{ out: string; data: string }> {
  const root = mkdtempSync(join(tmpdir(), "rr-report-"));
  const out = join(root, "outputs");
  const data = join(root, "data");
  for (const dir of [out, join(data, "benign"), join(data, EVIL)]) mkdirSync(dir, { recursive: true });
  await png(join(data, "benign", "b1.png"), 10);
  await png(join(data, "benign", EVIL_FILE), 20);
  await png(join(data, EVIL, "m1.png"), 30);
  const classNames = ["benign", EVIL];
  writeFileSync(
    join(out, "run.json"),
    JSON.stringify({
      runner: { name: "@rescale-run/runner", version: "0.1.0" },
      versions: { node: "20.0.0", sharp: "0.34.0" },
      startedAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:01:00.000Z",
      seed: 42,
      engine: { name: "onnx", description: `ResNet50 ${EVIL}`, cacheKey: "k", notes: [] },
      backend: "cpu",
      device: { kind: "cpu", api: "cpu", reason: "--device cpu" },
      hardware: { cpu: "Test CPU", cores: 2, memoryGiB: 4, platform: "linux", node: "v20" },
      dataset: {
        root: data,
        fingerprint: "fp-0123456789abcdef",
        classNames,
        counts: { benign: 2, [EVIL]: 1 },
        masksExcluded: 0,
        skipped: [],
        duplicateGroups: [],
      },
      split: { train: 1, val: 1, test: 4, file: "split.json" },
      timings: { scan: 0.25, features: 3.5, head: 1.25 },
    }),
  );
  writeFileSync(
    join(out, "metrics.json"),
    JSON.stringify({
      n: 4,
      accuracy: 0.25,
      macroF1: 0.3333333,
      perClass: [
        { className: "benign", precision: 0.5, recall: 0.5, f1: 0.5, support: 2 },
        { className: EVIL, precision: 0, recall: 0, f1: 0, support: 2 },
      ],
      confusionMatrix: {
        classNames,
        matrix: [
          [1, 1],
          [2, 0],
        ],
      },
      // A field the report has never heard of still shows up, as a table.
      calibration: { bins: [{ from: 0, to: 0.5, count: 3 }], ece: 0.12 },
    }),
  );
  writeFileSync(
    join(out, "predictions.csv"),
    toCsv(
      ["file", "true_class", "predicted_class", "prob_benign", `prob_${EVIL}`],
      [
        ["benign/b1.png", "benign", "benign", 0.9, 0.1],
        [`benign/${EVIL_FILE}`, "benign", EVIL, 0.3, 0.7],
        [`${EVIL}/m1.png`, EVIL, "benign", 0.8, 0.2],
        ["../../../etc/passwd", EVIL, "benign", 0.6, 0.4],
      ],
    ),
  );
  writeFileSync(
    join(out, "roc.svg"),
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
  );
  await png(join(out, "roc.png"), 50); // the SVG of the same plot wins
  await png(join(out, "accuracy.png"), 60);
  await png(join(out, "misclassified.png"), 70);
  return { out, data };
}

describe("report.html", () => {
  it("holds provenance, metrics, plots, thumbnails and timings, with nothing from the data unescaped", async () => {
    const { out } = await fixture();
    const file = await writeRunReport(out);
    const html = readFileSync(file, "utf8");

    // Injection: the only markup is the report's own.
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img src=x/i);
    // Every image tag is one the report wrote: a data: URI and an alt text, nothing else.
    for (const tag of html.match(/<img[^>]*>/g) ?? [])
      expect(tag).toMatch(/^<img src="data:[^"]*" alt="[^"]*">$/);
    expect(html).toContain(escapeHtml(EVIL));
    expect(html).toContain(escapeHtml(EVIL_FILE));
    // No network, no script, even if something slipped through.
    expect(html).toContain(`default-src 'none'; img-src data:`);
    expect(html).not.toMatch(/(src|href)="https?:/);

    for (const text of [
      "Provenance",
      "fp-0123456789abcdef",
      "1 / 1 / 4",
      "<th>device</th><td>cpu (--device cpu)</td>",
      "Timings",
      "5.00 s",
      "Settings",
    ])
      expect(html).toContain(text);
    // Metrics generically: the per-class table, the confusion matrix, and the unknown field.
    expect(html).toContain("<th>precision</th>");
    expect(html).toContain("true \\ predicted");
    expect(html).toContain("<h3>calibration</h3>");
    expect(html).toContain("0.3333");

    // Plots: roc once (SVG), accuracy PNG, the misclassified grid in its own section.
    expect(html.match(/data:image\/svg\+xml;base64,/g)).toHaveLength(1);
    expect(html).toContain('alt="accuracy.png"');
    expect(html).not.toContain('alt="roc.png"');
    expect(html).toMatch(/Misclassified test images \(3\)<\/h2><figure><img src="data:image\/png;base64,/);
    // Thumbnails: the two images under the dataset root; the path outside it gets none.
    expect(html.match(/src="data:image\/jpeg;base64,/g)).toHaveLength(2);
    expect(html).toContain("(image not on this machine)");
    expect(html.indexOf(escapeHtml(`${EVIL}/m1.png`))).toBeLessThan(
      html.indexOf(escapeHtml(`benign/${EVIL_FILE}`)),
    );
  });

  it("is written by train() into the output folder and its artifacts.zip", async () => {
    const data = await makeDataset(await tempDir(), { benign: 6, malignant: 6 });
    const out = await tempDir();
    await train({
      data,
      out,
      cacheDir: await tempDir("runner-cache-"),
      featureEngine: fakeEngine(),
      epochs: 5,
      views: 1,
      cvFolds: 0,
      seed: 1,
      quiet: true,
      upload: false,
    });
    const html = readFileSync(join(out, "report.html"), "utf8");
    const run = JSON.parse(readFileSync(join(out, "run.json"), "utf8"));
    expect(html).toContain(run.dataset.fingerprint);
    expect(html).toContain('alt="confusion-matrix.png"');
    expect(html).toContain("<th>features</th>");
    // A zip stores each entry's name uncompressed (local header and central directory).
    expect(readFileSync(join(out, "artifacts.zip")).includes("report.html")).toBe(true);
  });

  it("renders a folder without metrics or run.json", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rr-report-empty-"));
    const html = readFileSync(await writeRunReport(dir), "utf8");
    expect(html).toContain("No metrics.json in this folder.");
  });

  it("names JSON keys for people", () => {
    expect(["macroF1", "className", "true_class", "macroAUC", "n"].map(humanKey)).toEqual([
      "macro F1",
      "class name",
      "true class",
      "macro AUC",
      "n",
    ]);
  });

  it("parses quoted CSV and lists only the mistakes, most confident first", () => {
    expect(parseCsv('a,"b,""c"""\r\n1,2\n')).toEqual([
      ["a", 'b,"c"'],
      ["1", "2"],
    ]);
    const rows = misclassifiedRows(
      "file,true_class,predicted_class,prob_x,prob_y\nf1,x,x,0.9,0.1\nf2,x,y,0.4,0.6\nf3,y,x,0.95,0.05\n",
    );
    expect(rows.map((r) => r.file)).toEqual(["f3", "f2"]);
    expect(rows[0]!.confidence).toBe(0.95);
  });

  it("escapes keys and values of any JSON it renders as tables", () => {
    const html = renderJsonTables({ [EVIL]: EVIL, rows: [{ [EVIL]: 1 }] });
    expect(html).not.toContain("<script");
    const page = renderReportHtml({
      run: null,
      metrics: { [EVIL]: 1 },
      plots: [{ name: EVIL, src: `data:image/png;base64,AAAA" onload="alert(3)` }],
      omitted: [EVIL],
      misclassifiedGrid: null,
      misclassified: [],
      misclassifiedMore: 0,
      generatedAt: EVIL,
    });
    expect(page).not.toContain("<script");
    expect(page).not.toContain('" onload="');
  });
});
