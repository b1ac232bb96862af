/** Number formatting shared by the plan and the core-type tables. */
/** A price; null is unknown (hidden by an admin, or not listed), never shown as 0. */
export function money(value: number | null | undefined): string {
  if (value === null || value === undefined) return "unknown";
  return value === 0 ? "0" : value.toFixed(value < 10 ? 3 : 2);
}

export function gb(value: number | null | undefined): string {
  if (value === null || value === undefined) return "-";
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} GB`;
}
