import { describe, expect, it } from "vitest";
import { parseWalltime, WalltimeError, walltimeHours } from "../src/index.js";

describe("parseWalltime", () => {
  it.each([
    ["8h", 8, 480, false],
    ["8", 8, 480, false],
    ["90m", 2, 90, true],
    ["1d12h", 36, 2160, false],
    ["1h30m", 2, 90, true],
    ["2 hours", 2, 120, false],
    ["0.5", 1, 30, true],
    [" 336H ", 336, 20160, false],
  ])("%s -> %i h", (input, hours, minutes, roundedUp) => {
    const result = parseWalltime(input);
    expect(result).toMatchObject({ hours, requestedMinutes: minutes, roundedUp });
  });

  it("says when it rounds up", () => {
    expect(parseWalltime("90m").text).toBe("2 h (1 h 30 min requested, rounded up to whole hours)");
    expect(parseWalltime(8).text).toBe("8 h");
  });

  it.each(["", "abc", "8x", "h", "-3", "0", "0h", "8h8h", "30m2h", "3600s", "8h junk"])(
    "rejects %j with a WalltimeError",
    (input) => {
      expect(() => parseWalltime(input)).toThrow(WalltimeError);
    },
  );

  it("explains that seconds are not accepted", () => {
    expect(() => parseWalltime("3600s")).toThrow(/seconds are not accepted/);
  });

  it("refuses more than 336 h unless forced", () => {
    expect(() => parseWalltime("15d")).toThrow(/over the 336 h/);
    expect(parseWalltime("15d", { force: true }).hours).toBe(360);
    expect(() => parseWalltime(Number.NaN)).toThrow(WalltimeError);
  });

  it("converts numbers (hours) and parsed values to API hours", () => {
    expect(walltimeHours(3)).toBe(3);
    expect(walltimeHours(parseWalltime("1d"))).toBe(24);
    expect(walltimeHours(parseWalltime("400h", { force: true }))).toBe(400);
  });
});
