import fs from "node:fs";
import path from "node:path";
import {
  analysisSchema,
  type CreateJobRequest,
  clusterStatusSchema,
  computePriceSchema,
  coreTypeSchema,
  directoryEntrySchema,
  fileLinesSchema,
  flattenFieldErrors,
  instanceSchema,
  jobSchema,
  jobStatusSchema,
  pageSchema,
  parseResponse,
  projectSchema,
  rescaleFileSchema,
  runSchema,
  tailSchema,
  toJobBody,
  ValidationError,
} from "@rescale-run/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LOCAL_PROJECTS } from "../src/index.js";
import { startTestPlatform, type TestPlatform } from "./helpers.js";

// The SDK and the local platform share one description of the wire (sdk/src/wire.ts, sdk/src/schemas.ts). These
// tests fail when either side changes alone: a body the SDK builds must be accepted here, one it refuses must be
// refused here with the same field errors, and every answer served here must parse with the SDK's schemas and
// carry every field they declare.

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

const request: CreateJobRequest = {
  name: "wire",
  analysis: { code: "user_included", version: "0" },
  command: "echo wire > out.txt",
  hardware: { coreType: "local", cores: 1, walltime: 1 },
  envVars: { EPOCHS: "2" },
};

describe("the job body: built by the SDK, validated by the platform, one set of rules", () => {
  it("accepts every body the SDK builds (batch, workstation with two analyses, inputs, priorities, flags)", async () => {
    const upload = path.join(t.sandbox.root, "in.txt");
    fs.writeFileSync(upload, "x\n");
    const file = await t.api.upload(upload);
    const requests: CreateJobRequest[] = [
      request,
      { ...request, priority: "onDemandEconomy", inputFiles: [file.id, { id: file.id, decompress: false }] },
      {
        ...request,
        analysis: [
          { code: "user_included", version: "0" },
          { code: "miniconda_e2e", version: "4.8.4_e2ed" },
        ],
        command: undefined,
        hardware: { ...request.hardware, type: "interactive", walltime: 336 },
        flags: { igCv: true },
        cidrRule: "127.0.0.1/32",
        publicKey: "ssh-ed25519 AAAA test",
        sshPort: 22,
        projectId: DEFAULT_LOCAL_PROJECTS[0]!.id,
      },
    ];
    for (const typed of requests) {
      const res = await t.api.request("POST", "/api/v2/jobs/", toJobBody(typed, "rr-0123456789abcdef"));
      expect(res.status, `${JSON.stringify(typed)} -> ${JSON.stringify(res.body)}`).toBe(201);
    }
  });

  // Each: a request the SDK refuses to turn into a body (a value its types forbid), and the same fault written
  // into a body it built. Both sides must name the same field with the same words.
  const faults: {
    name: string;
    typed: CreateJobRequest;
    mutate: (body: {
      jobanalyses: (Record<string, unknown> & { hardware: Record<string, unknown> })[];
    }) => void;
  }[] = [
    {
      name: "a hardware type that does not exist",
      typed: { ...request, hardware: { ...request.hardware, type: "batch" as "compute" } },
      mutate: (b) => {
        b.jobanalyses[0]!.hardware.type = "batch";
      },
    },
    {
      name: "a walltime that is not whole hours",
      typed: {
        ...request,
        hardware: {
          ...request.hardware,
          walltime: { hours: 0.5, requestedMinutes: 30, roundedUp: false, text: "0.5 h" },
        },
      },
      mutate: (b) => {
        b.jobanalyses[0]!.hardware.walltime = 0.5;
      },
    },
    {
      name: "a batch job without a command",
      typed: { ...request, command: "  " },
      mutate: (b) => {
        b.jobanalyses[0]!.command = "  ";
      },
    },
    {
      name: "an environment variable whose name a shell cannot take",
      typed: { ...request, envVars: { "1BAD": "x" } },
      mutate: (b) => {
        b.jobanalyses[0]!.envVars = { "1BAD": "x" };
      },
    },
    {
      name: "an input file whose decompress is not a boolean",
      typed: { ...request, inputFiles: [{ id: "abc", decompress: "no" as unknown as boolean }] },
      mutate: (b) => {
        b.jobanalyses[0]!.inputFiles = [{ id: "abc", decompress: "no" }];
      },
    },
  ];

  for (const fault of faults) {
    it(`refuses ${fault.name} with the SDK's words`, async () => {
      let sdkError: unknown;
      try {
        toJobBody(fault.typed);
      } catch (error) {
        sdkError = error;
      }
      expect(sdkError).toBeInstanceOf(ValidationError);
      const sdkFields = (sdkError as ValidationError).fieldErrors;
      expect(sdkFields.length).toBeGreaterThan(0);

      const body = toJobBody(request) as unknown as Parameters<(typeof fault)["mutate"]>[0];
      fault.mutate(body);
      const res = await t.api.request("POST", "/api/v2/jobs/", body);
      expect(res.status).toBe(400);
      expect(flattenFieldErrors(res.body)).toEqual(sdkFields);
    });
  }

  it("refuses a walltime over the ceiling the SDK holds to (MAX_WALLTIME_HOURS), naming the range", async () => {
    const body = toJobBody(request) as { jobanalyses: { hardware: { walltime: number } }[] };
    body.jobanalyses[0]!.hardware.walltime = 337;
    const res = await t.api.request("POST", "/api/v2/jobs/", body);
    expect(flattenFieldErrors(res.body)).toEqual([
      { path: "jobanalyses.0.hardware.walltime", message: "Must be between 1 and 336 hours." },
    ]);
    expect(() => toJobBody({ ...request, hardware: { ...request.hardware, walltime: 337 } })).toThrow(
      /336 h/,
    );
  });
});

/** A zod schema seen from outside (no zod import here): its kind and what it wraps. */
interface SchemaLike {
  _def: { typeName: string; innerType?: SchemaLike; schema?: SchemaLike; type?: SchemaLike };
  shape?: Record<string, SchemaLike>;
}

/** The object or array schema under optional/nullable/default/effects wrappers, if any. */
function unwrap(schema: SchemaLike): SchemaLike {
  const def = schema._def;
  if (def.typeName === "ZodOptional" || def.typeName === "ZodNullable" || def.typeName === "ZodDefault")
    return unwrap(def.innerType!);
  if (def.typeName === "ZodEffects") return unwrap(def.schema!);
  return schema;
}

/**
 * The fields the SDK's schema declares that `value` lacks, nested objects and lists included (`path.to.field`).
 * `absent` lists the declared fields this platform deliberately does not serve.
 */
function missingFields(schema: SchemaLike, value: unknown, absent: readonly string[], at = ""): string[] {
  const inner = unwrap(schema);
  if (value === null || value === undefined) return [];
  if (inner._def.typeName === "ZodArray" && Array.isArray(value)) {
    return value.flatMap((item) => missingFields(inner._def.type!, item, absent, `${at}[]`));
  }
  if (inner._def.typeName !== "ZodObject" || typeof value !== "object") return [];
  return Object.entries(inner.shape ?? {}).flatMap(([key, field]) => {
    const where = at ? `${at}.${key}` : key;
    if (absent.includes(where)) return [];
    if (!(key in value)) return [where];
    return missingFields(field, (value as Record<string, unknown>)[key], absent, where);
  });
}

describe("every answer served parses with the SDK's schema and carries every field it declares", () => {
  /** Declared by the SDK, not served here, each for a reason (a new SDK field must be served or listed). */
  const NOT_SERVED: Record<string, readonly string[]> = {
    // The v2 core type fields Rescale has and this machine cannot describe (no categories).
    coreType: ["categoryCodes"],
    // A list row is a summary, as on Rescale: no hardware, no billing, no connection details.
    jobSummary: [
      "jobanalyses",
      "isLowPriority",
      "billingPriorityValue",
      "projectId",
      "cidrRule",
      "publicKey",
      "sshPort",
    ],
    // Cluster status entries carry no reason on Rescale.
    clusterStatus: ["statusReason"],
    // A project's `code` is UNCONFIRMED on Rescale (schemas.ts); projects here have an id and a name.
    project: ["code"],
  };

  async function served(method: string, url: string): Promise<unknown> {
    const res = await t.api.request(method, url);
    expect(res.status, `${method} ${url}`).toBe(200);
    return res.body;
  }

  /** Parses an answer as the SDK does, then asks for every declared field. */
  function check(schema: SchemaLike, body: unknown, where: string, absent: readonly string[] = []): void {
    parseResponse(schema as never, body, { method: "GET", path: where });
    expect(missingFields(schema, body, absent), where).toEqual([]);
  }

  function checkPage(schema: SchemaLike, body: unknown, where: string, absent: readonly string[] = []) {
    parseResponse(pageSchema(schema as never), body, { method: "GET", path: where });
    const results = (body as { results: unknown[] }).results;
    expect(results.length, `${where} has results`).toBeGreaterThan(0);
    for (const item of results) check(schema, item, where, absent);
  }

  it("catalog, files, jobs, statuses, runs, instances, tail, projects", async () => {
    checkPage(
      coreTypeSchema,
      await served("GET", "/api/v2/coretypes/"),
      "/api/v2/coretypes/",
      NOT_SERVED.coreType,
    );
    checkPage(analysisSchema, await served("GET", "/api/v2/analyses/"), "/api/v2/analyses/");
    const prices = (await served("GET", "/api/v2/billing/computeprices/")) as unknown[];
    for (const price of prices) check(computePriceSchema, price, "/api/v2/billing/computeprices/");
    checkPage(
      projectSchema,
      await served("GET", "/api/v2/users/me/projects/"),
      "/api/v2/users/me/projects/",
      NOT_SERVED.project,
    );

    const upload = path.join(t.sandbox.root, "lines.txt");
    fs.writeFileSync(upload, "one\ntwo\n");
    const file = await t.api.upload(upload);
    check(rescaleFileSchema, await served("GET", `/api/v2/files/${file.id}/`), "/api/v2/files/<id>/");
    checkPage(rescaleFileSchema, await served("GET", "/api/v2/files/"), "/api/v2/files/");
    check(
      fileLinesSchema,
      await served("GET", `/api/v2/files/${file.id}/lines/`),
      "/api/v2/files/<id>/lines/",
    );

    // A running workstation: runs, directory contents, tail and its node.
    const live = await t.api.createJob(
      toJobBody({
        ...request,
        command: "echo live; sleep 30",
        hardware: { ...request.hardware, type: "interactive" },
      }),
    );
    await t.api.submit(live.id);
    await t.api.waitForStatus(live.id, ["Executing"]);
    const base = `/api/v2/jobs/${live.id}`;
    checkPage(runSchema, await served("GET", `${base}/runs/`), `${base}/runs/`);
    const entries = (await served("GET", `${base}/runs/1/directory-contents/`)) as unknown[];
    for (const entry of entries) check(directoryEntrySchema, entry, `${base}/runs/1/directory-contents/`);
    check(
      tailSchema,
      await served("GET", `${base}/runs/1/tail/shared/process_output.log?lines=5`),
      `${base}/runs/1/tail/<path>`,
    );
    checkPage(instanceSchema, await served("GET", `${base}/instances/`), `${base}/instances/`);
    await t.api.request("POST", `${base}/stop/`);
    await t.api.waitForStatus(live.id);

    // A finished batch job: the job, its list row, its statuses and its output files.
    const done = await t.api.createJob(toJobBody(request));
    await t.api.submit(done.id);
    await t.api.waitForStatus(done.id);
    const job = `/api/v2/jobs/${done.id}`;
    check(jobSchema, await served("GET", `${job}/`), `${job}/`);
    checkPage(jobSchema, await served("GET", "/api/v2/jobs/"), "/api/v2/jobs/", NOT_SERVED.jobSummary);
    checkPage(jobStatusSchema, await served("GET", `${job}/statuses/`), `${job}/statuses/`);
    checkPage(
      clusterStatusSchema,
      await served("GET", `${job}/cluster_statuses/`),
      `${job}/cluster_statuses/`,
      NOT_SERVED.clusterStatus,
    );
    checkPage(rescaleFileSchema, await served("GET", `${job}/files/`), `${job}/files/`);
  });
});
