import fs from "node:fs";
import path from "node:path";
import { buildZip, jobBody } from "@rescale-run/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "./helpers.js";

// Issue 14, items 2 and 3 through the platform: an attachment archive cannot replace the job's own files,
// and an archive past the expansion limits ends the job before its command, with nothing of it kept.

let t: TestPlatform;
let inputs: string;

beforeAll(async () => {
  t = await startTestPlatform({ archiveLimits: { maxBytes: 2_000_000 } });
  inputs = path.join(t.sandbox.root, "inputs");
  fs.mkdirSync(inputs);
});
afterAll(() => t?.close());

async function runWith(files: { name: string; data: Buffer | string; decompress?: boolean }[]) {
  const ids: { id: string; decompress: boolean }[] = [];
  for (const f of files) {
    const file = path.join(inputs, f.name);
    fs.writeFileSync(file, f.data);
    ids.push({ id: (await t.api.upload(file)).id, decompress: f.decompress ?? true });
  }
  const job = await t.api.createJob(
    jobBody({ name: "staging", command: "sh rescale-run-bootstrap.sh", inputFiles: ids }),
  );
  await t.api.submit(job.id);
  const final = await t.api.waitForStatus(job.id, undefined, 20_000);
  const outputs = (await t.api.jobFiles(job.id)).map((f) => f.relativePath);
  return { final, outputs };
}

describe("job-owned files (item 2)", () => {
  it("an attachment archive holding the bootstrap script is refused; the user's script never runs", async () => {
    const { final, outputs } = await runWith([
      { name: "rescale-run-bootstrap.sh", data: "echo runner > runner-ran.txt", decompress: false },
      {
        name: "extras.zip",
        data: buildZip([{ name: "rescale-run-bootstrap.sh", data: "echo pwned > pwned.txt" }]),
      },
    ]);
    expect(final.statusReason).toMatch(
      /Input file staging failed: extras\.zip: .*rescale-run-bootstrap\.sh.*already in the working directory/,
    );
    expect(outputs).not.toContain("pwned.txt");
    expect(outputs).not.toContain("runner-ran.txt");
  });

  it("a plain input named like a file an earlier archive unpacked is refused too", async () => {
    const { final } = await runWith([
      { name: "extras.zip", data: buildZip([{ name: "rescale-run-bootstrap.sh", data: "echo pwned" }]) },
      { name: "rescale-run-bootstrap.sh", data: "echo runner", decompress: false },
    ]);
    expect(final.statusReason).toMatch(/Input file staging failed: .*rescale-run-bootstrap\.sh/);
  });
});

describe("archive limits through the platform (item 3)", () => {
  it("stops at the cap, says which limit, runs nothing and keeps none of the expanded bytes", async () => {
    const big = Array.from({ length: 3 }, (_, i) => ({
      name: `d/big${i}.bin`,
      data: Buffer.alloc(900_000, i),
    }));
    const { final, outputs } = await runWith([{ name: "data.zip", data: buildZip(big) }]);
    expect(final.statusReason).toMatch(
      /Input file staging failed: data\.zip: .*expanded size limit of 2 000 000 bytes/,
    );
    expect(outputs).toEqual([]);
    expect(fs.readdirSync(path.join(t.dataDir, "jobs"))).toEqual([]);
  });
});
