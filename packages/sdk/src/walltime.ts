/**
 * Walltime input as people type it ("8h", "90m", "1d12h", "8" = hours) turned into the whole HOURS the
 * Rescale API takes (`hardware.walltime`). Never seconds.
 */
import { WalltimeError } from "./errors.js";
import { MAX_WALLTIME_HOURS } from "./wire.js";

export interface Walltime {
  /** Whole hours to send to the API (rounded up). */
  hours: number;
  /** What was asked for, in minutes (rounded up to a whole minute). */
  requestedMinutes: number;
  /** True when the request was not a whole number of hours and was rounded up. */
  roundedUp: boolean;
  /** Human-readable, e.g. "2 h (1 h 30 min requested, rounded up to whole hours)". */
  text: string;
}

export interface WalltimeOptions {
  /** Allow more than MAX_WALLTIME_HOURS. */
  force?: boolean;
}

const UNIT_MINUTES: Record<string, number> = { d: 1440, h: 60, m: 1 };
const UNIT_ALIASES: Record<string, "d" | "h" | "m"> = {
  d: "d",
  day: "d",
  days: "d",
  h: "h",
  hr: "h",
  hrs: "h",
  hour: "h",
  hours: "h",
  m: "m",
  min: "m",
  mins: "m",
  minute: "m",
  minutes: "m",
};
const EXAMPLES = `use e.g. "8h", "90m", "1d12h" or "8" (hours)`;

export function parseWalltime(input: string | number, options: WalltimeOptions = {}): Walltime {
  const minutes = typeof input === "number" ? minutesFromNumber(input) : minutesFromText(input);
  const requestedMinutes = Math.ceil(minutes - 1e-9);
  const hours = Math.ceil(requestedMinutes / 60);
  if (hours > MAX_WALLTIME_HOURS && !options.force) {
    throw new WalltimeError(
      `Walltime ${hours} h is over the ${MAX_WALLTIME_HOURS} h (14 day) limit; pass force to request it anyway.`,
    );
  }
  const roundedUp = requestedMinutes % 60 !== 0;
  const text = roundedUp
    ? `${hours} h (${formatMinutes(requestedMinutes)} requested, rounded up to whole hours)`
    : `${hours} h`;
  return { hours, requestedMinutes, roundedUp, text };
}

/** Formats minutes as "1 d 2 h 30 min" (units that are zero are left out). */
export function formatMinutes(total: number): string {
  const days = Math.floor(total / 1440);
  const hours = Math.floor((total % 1440) / 60);
  const minutes = total % 60;
  const parts = [days ? `${days} d` : "", hours ? `${hours} h` : "", minutes ? `${minutes} min` : ""];
  return parts.filter(Boolean).join(" ") || "0 min";
}

function minutesFromNumber(hours: number): number {
  if (!Number.isFinite(hours) || hours <= 0) {
    throw new WalltimeError(`Walltime must be a positive number of hours, got ${hours}.`);
  }
  return hours * 60;
}

function minutesFromText(raw: string): number {
  const text = String(raw).trim().toLowerCase();
  if (text === "") throw new WalltimeError(`Walltime is empty; ${EXAMPLES}.`);
  if (/^\d+(\.\d+)?$/.test(text)) return minutesFromNumber(Number(text));
  const part = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*/y;
  const seen = new Set<string>();
  let total = 0;
  let lastRank = -1;
  let index = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const match = part.exec(text);
    if (!match) throw new WalltimeError(`Cannot read walltime "${raw}"; ${EXAMPLES}.`);
    const value = Number(match[1]);
    const word = match[2] ?? "";
    const unit = UNIT_ALIASES[word];
    if (!unit) {
      const hint = /^s(ec(ond)?s?)?$/.test(word)
        ? " (seconds are not accepted: Rescale bills whole hours)"
        : "";
      throw new WalltimeError(`Unknown walltime unit "${word}" in "${raw}"${hint}; ${EXAMPLES}.`);
    }
    const rank = ["d", "h", "m"].indexOf(unit);
    if (seen.has(unit) || rank < lastRank) {
      throw new WalltimeError(
        `Walltime "${raw}" repeats or reorders units; write days, then hours, then minutes.`,
      );
    }
    seen.add(unit);
    lastRank = rank;
    total += value * (UNIT_MINUTES[unit] ?? 0);
    index = part.lastIndex;
  }
  if (total <= 0) throw new WalltimeError(`Walltime "${raw}" is zero; it must be positive.`);
  return total;
}

/** Whole API hours from a parsed Walltime or a number of hours (validated the same way). */
export function walltimeHours(value: Walltime | number): number {
  return typeof value === "number" ? parseWalltime(value).hours : value.hours;
}
