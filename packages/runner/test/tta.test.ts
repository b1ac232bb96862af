import { describe, expect, it } from "vitest";
import { predictOverViews } from "../src/cv.js";
import type { LayerFeatures } from "../src/features/cache.js";
import { featureKey } from "../src/features/extract.js";
import { twoClassHead } from "./helpers.js";

/** A dense head on conv3 features whose logits are (2 x f0, -f0): class 0's probability is 1 / (1 + e^(-3 f0)). */
function handHead() {
  const kernel = new Float32Array(512 * 2);
  kernel[0] = 2;
  kernel[1] = -1;
  return twoClassHead("conv3", kernel);
}

function features(f0: number): LayerFeatures {
  const conv3 = new Float32Array(512);
  conv3[0] = f0;
  return { conv3, conv4: new Float32Array(1024), conv5: new Float32Array(2048) };
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe("test-time augmentation (predictOverViews)", () => {
  const images = [
    { file: "a.png", hash: "a", label: 0 },
    { file: "b.png", hash: "b", label: 1 },
  ];
  const map = new Map<string, LayerFeatures>([
    [featureKey("a", "orig"), features(1)],
    [featureKey("a", "flip"), features(-0.2)],
    [featureKey("b", "orig"), features(0)],
    [featureKey("b", "flip"), features(0.5)],
  ]);

  it("averages each image's class probabilities over the views", () => {
    const probs = predictOverViews(handHead(), images, ["orig", "flip"], map);
    const a0 = (sigmoid(3) + sigmoid(-0.6)) / 2;
    const b0 = (sigmoid(0) + sigmoid(1.5)) / 2;
    expect(Array.from(probs)).toEqual(
      [a0, 1 - a0, b0, 1 - b0].map((p) => expect.closeTo(p, 6) as unknown as number),
    );
  });

  it("with one view is the plain prediction", () => {
    const probs = predictOverViews(handHead(), images, ["orig"], map);
    expect(probs[0]).toBeCloseTo(sigmoid(3), 6);
    expect(probs[2]).toBeCloseTo(0.5, 6);
  });

  it("refuses a view whose features are missing", () => {
    expect(() => predictOverViews(handHead(), images, ["orig", "crop-tl90"], map)).toThrow(/no features/);
  });
});
