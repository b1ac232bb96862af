/** Exit codes as docs/cli.md documents them, for configuration mistakes (in-process: no platform is reached). */
import { describe, expect, it } from "vitest";
import { runInProcess, sandboxEnv } from "./helpers.js";

describe("configuration mistakes exit as documented", () => {
  it("a --profile that does not exist is not found (4), and names how to list profiles", async () => {
    const r = await runInProcess(["list", "--profile", "nosuch"], sandboxEnv());
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/No Rescale profile named "nosuch"/);
    expect(r.stderr).toMatch(/config list/);
  });

  it.each(["not-a-url", "http://[bad", "ftp://platform.rescale.com"])(
    "a malformed RESCALE_API_URL %j is a usage error (2), not an authentication one",
    async (url) => {
      const env = sandboxEnv({ RESCALE_API_KEY: "abcdef0123456789abcdef", RESCALE_API_URL: url });
      const r = await runInProcess(["list"], env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/base URL/);
      expect(r.stderr).toMatch(/RESCALE_API_URL/);
    },
  );
});
