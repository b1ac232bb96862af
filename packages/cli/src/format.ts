/** Number formatting shared by the plan and the core-type tables. */
export function money(value: number | null | undefined): string {
  if (value === null || value === undefined) return "-";
  return value === 0 ? "0" : value.toFixed(value < 10 ? 3 : 2);
}

export function gib(value: number | null | undefined): string {
  if (value === null || value === undefined) return "-";
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} GiB`;
}
