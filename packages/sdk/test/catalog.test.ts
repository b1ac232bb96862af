import { analysis, coreType, minicondaInteractive, page } from "@rescale-run/testkit/rescale-payloads";
import { describe, expect, it } from "vitest";
import {
  analysisSchema,
  coreTypeSchema,
  jobSchema,
  NotFoundError,
  parseRescaleDate,
  ResponseShapeError,
  rescaleFileSchema,
} from "../src/index.js";
import { api, testClient, useNock } from "./helpers.js";

useNock();

describe("core types", () => {
  it("gets by code or display name (case-insensitive) and lists what exists when missing", async () => {
    const types = page([coreType(), coreType({ code: "hpc-3", name: "Onyx" })]);
    api().get("/api/v2/coretypes/").query({ page_size: "100" }).times(3).reply(200, types);
    const coreTypes = testClient().coreTypes;
    expect((await coreTypes.get("hpc-3")).name).toBe("Onyx");
    expect((await coreTypes.get("onyx")).code).toBe("hpc-3");
    const error = await coreTypes.get("Ruby").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe('No core type "Ruby". Available: Emerald (emerald), Onyx (hpc-3).');
  });

  it("reads one page with page and page_size", async () => {
    api()
      .get("/api/v2/coretypes/")
      .query({ page: "2", page_size: "1", isActive: "true" })
      .reply(
        200,
        page([coreType({ code: "b" })], {
          count: 3,
          next: "/api/v2/coretypes/?page=3&page_size=1",
          previous: "/api/v2/coretypes/?page_size=1",
        }),
      );
    const result = await testClient().coreTypes.page({ page: 2, pageSize: 1, isActive: true });
    expect(result.count).toBe(3);
    expect(result.results.map((t) => t.code)).toEqual(["b"]);
    expect(result.next).toBe("https://platform.rescale.test/api/v2/coretypes/?page=3&page_size=1");
  });

  it("reads compute prices from the bare list", async () => {
    api()
      .get("/api/v2/billing/computeprices/")
      .reply(200, [
        { coreType: "emerald", value: { amount: "0.12" }, planType: "INSTANT", os: "linux", isActive: true },
      ]);
    const prices = await testClient().coreTypes.computePrices();
    expect(prices[0]?.value.amount).toBe(0.12);
  });

  it("tolerates v3 shapes without prices and string core counts", () => {
    const parsed = coreTypeSchema.parse({
      code: "x",
      name: "X",
      cores: ["2", 4],
      memory: 1000,
      storage: "10",
    });
    expect(parsed).toMatchObject({
      cores: [2, 4],
      storage: 10,
      price: null,
      lowPriorityPrice: null,
      isDeprecated: false,
    });
  });
});

describe("analyses", () => {
  it("lists across pages and resolves a display version or a version code", async () => {
    const chrome = analysis({
      code: "chrome",
      name: "Chrome",
      versions: [{ version: "112", versionCode: "112" }],
    });
    api()
      .get("/api/v2/analyses/")
      .query({ page_size: "100" })
      .times(2)
      .reply(200, page([chrome], { count: 2, next: "/api/v2/analyses/?page=2" }));
    api()
      .get("/api/v2/analyses/")
      .query({ page: "2", page_size: "100" })
      .times(2)
      .reply(200, page([minicondaInteractive()], { count: 2 }));
    const analyses = testClient().analyses;
    expect((await analyses.resolveVersion("miniconda_e2e", "4.8.4")).versionCode).toBe("4.8.4_e2ed");
    expect((await analyses.resolveVersion("miniconda_e2e", "4.8.4_e2ed")).version.version).toBe("4.8.4");
  });

  it("lists all analyses and says when a code is unknown", async () => {
    api()
      .get("/api/v2/analyses/")
      .reply(200, page([analysis()]));
    api()
      .get("/api/v2/analyses/")
      .query({ page_size: "100" })
      .reply(200, page([analysis()]));
    const analyses = testClient().analyses;
    expect((await analyses.list()).map((a) => a.code)).toEqual(["user_included"]);
    await expect(analyses.get("ansys")).rejects.toThrow('No software (analysis) with code "ansys".');
  });

  it("keeps unknown fields", () => {
    expect(analysisSchema.parse({ ...analysis(), industries: ["ml"] })).toHaveProperty("industries", ["ml"]);
  });
});

describe("response parsing", () => {
  it("reads dates with and without a zone", () => {
    expect(parseRescaleDate("2017-03-01T10:20:30.123456")?.toISOString()).toBe("2017-03-01T10:20:30.123Z");
    expect(parseRescaleDate("2017-03-01 10:20:30")?.toISOString()).toBe("2017-03-01T10:20:30.000Z");
    expect(parseRescaleDate("2017-03-01T10:20:30+09:00")?.toISOString()).toBe("2017-03-01T01:20:30.000Z");
    expect(parseRescaleDate("2017-03-01")?.toISOString()).toBe("2017-03-01T00:00:00.000Z");
    expect(parseRescaleDate("not a date")).toBeNull();
  });

  it("accepts numeric ids and missing optional fields", () => {
    expect(rescaleFileSchema.parse({ id: 42, name: "a" })).toMatchObject({ id: "42", name: "a" });
    expect(jobSchema.parse({ id: "J", name: "n" }).jobanalyses).toEqual([]);
  });

  it("answers a wrong shape with ResponseShapeError naming the field", async () => {
    api().get("/api/v2/files/F/").reply(200, { id: "F" });
    const error = await testClient()
      .files.get("F")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as Error).message).toMatch(/GET \/api\/v2\/files\/F\/: name: Required/);
  });
});
