/**
 * The fine-tuning depths, in a module without TF.js so the CLI can list them without loading it (finetune.ts
 * does the training).
 */
/** Which stages train: every convolution (what paid most in the CV), res4+res5, or res5 only. */
export type FineTuneDepth = "all" | "res4-5" | "res5";
export const FINE_TUNE_DEPTHS: readonly FineTuneDepth[] = ["all", "res4-5", "res5"];

/** Whether fine-tuning at `depth` trains the Keras layer `name` (class `className`). BatchNorm never trains. */
export function layerTrains(depth: FineTuneDepth, name: string, className: string): boolean {
  if (className === "BatchNormalization") return false;
  if (depth === "res5") return name.startsWith("res5");
  if (depth === "res4-5") return name.startsWith("res4") || name.startsWith("res5");
  return true;
}
