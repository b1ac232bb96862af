/**
 * The runner's `--device` values, on their own so the CLI (`submit --device`) offers the same list without
 * loading the runner (`@rescale-run/runner/device-choices`).
 */
export type DevicePreference = "auto" | "gpu" | "cpu";
export const DEVICE_CHOICES: readonly DevicePreference[] = ["auto", "gpu", "cpu"];
