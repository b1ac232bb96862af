import { describe, expect, it } from "vitest";
import { createProgress } from "../src/progress.js";

function capture(isTTY: boolean) {
  const written: string[] = [];
  let t = 0;
  const stream = { isTTY, write: (text: string) => written.push(text) > 0 };
  return { written, stream, tick: (ms: number) => (t += ms), now: () => t };
}

describe("progress lines", () => {
  it("prints log lines when stderr is not a terminal (quiet only when asked)", () => {
    const c = capture(false);
    createProgress({ stream: c.stream }).log("epoch 1/40 loss 0.9");
    expect(c.written).toEqual(["epoch 1/40 loss 0.9\n"]);
    const q = capture(false);
    createProgress({ stream: q.stream, quiet: true }).log("epoch 1/40");
    expect(q.written).toEqual([]);
  });

  it("off a terminal, prints a stage's status at each 10% and every few seconds, as plain lines", () => {
    const c = capture(false);
    const p = createProgress({ stream: c.stream, now: c.now, intervalMs: 5000 });
    for (let done = 10; done <= 1000; done += 10) {
      c.tick(100);
      p.update(`features ${done}/1000`, { done, total: 1000 });
    }
    // 10 s in all: a line at each tenth (10, 100, 200, ... 1000), none in between (5 s never passed between two).
    expect(c.written).toEqual([
      "features 10/1000\n",
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((d) => `features ${d * 100}/1000\n`),
    ]);
    expect(c.written.every((line) => !line.includes("\r"))).toBe(true);
  });

  it("off a terminal, a slow stage without a total still shows a line every interval", () => {
    const c = capture(false);
    const p = createProgress({ stream: c.stream, now: c.now, intervalMs: 5000 });
    for (let batch = 1; batch <= 20; batch++) {
      c.tick(1000);
      p.update(`fine-tune epoch 1: batch ${batch}`);
    }
    expect(c.written).toEqual([5, 10, 15, 20].map((b) => `fine-tune epoch 1: batch ${b}\n`));
  });

  it("on a terminal, rewrites one status line and clears it before a log line", () => {
    const c = capture(true);
    const p = createProgress({ stream: c.stream });
    p.update("features 1/2", { done: 1, total: 2 });
    p.log("features: done");
    expect(c.written).toEqual(["\r\x1b[2Kfeatures 1/2", "\r\x1b[2K", "features: done\n"]);
  });
});
