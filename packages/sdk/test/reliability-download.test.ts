import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rescaleFile } from "@rescale-run/testkit/rescale-payloads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { partRecordPath } from "../src/index.js";
import { api, testClient, useNock } from "./helpers.js";

// Issue 14, item 4: a `.part` is resumed only into the file it belongs to (its record names the file id and
// what the API said about it), and the finished file is checked against the API's checksum when it gives one.

useNock();

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sdk-download-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const A = Buffer.from("A".repeat(1000));
const B = Buffer.from("B".repeat(1000)); // another file: same name, same size
const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const noRange = function (this: { req: { headers: Record<string, unknown> } }) {
  expect(this.req.headers.range).toBeUndefined();
  return [200, B] as [number, Buffer];
};

/** A .part whose record names file FB with B's size and md5. */
async function writePart(to: string, bytes: Buffer): Promise<void> {
  await writeFile(`${to}.part`, bytes);
  await writeFile(
    partRecordPath(to),
    JSON.stringify({ fileId: "FB", size: 1000, checksum: { hashFunction: "md5", fileHash: md5(B) } }),
  );
}

describe("a .part is resumed only into the same file", () => {
  it("a .part of file A is not spliced into file B of the same name and size", async () => {
    const to = join(dir, "model.bin");
    await writeFile(`${to}.part`, A.subarray(0, 400));
    await writeFile(partRecordPath(to), JSON.stringify({ fileId: "FA", size: 1000 }));
    api().get("/api/v2/files/FB/contents/").reply(noRange);
    const result = await testClient().files.download("FB", {
      to,
      file: rescaleFile({ id: "FB", decryptedSize: 1000, md5: md5(B) }),
    });
    expect(result.resumedFrom).toBe(0);
    expect(await readFile(to)).toEqual(B);
    await expect(stat(partRecordPath(to))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a .part without a record (who knows whose) starts over", async () => {
    const to = join(dir, "model.bin");
    await writeFile(`${to}.part`, A.subarray(0, 400));
    api().get("/api/v2/files/FB/contents/").reply(noRange);
    await testClient().files.download("FB", { to });
    expect(await readFile(to)).toEqual(B);
  });

  it("same id, but the API now reports another upload date or checksum: starts over", async () => {
    const to = join(dir, "model.bin");
    await writeFile(`${to}.part`, A.subarray(0, 400));
    await writeFile(
      partRecordPath(to),
      JSON.stringify({
        fileId: "FB",
        size: 1000,
        dateUploaded: "2026-01-01T00:00:00.000Z",
        checksum: { hashFunction: "md5", fileHash: md5(A) },
      }),
    );
    api().get("/api/v2/files/FB/contents/").reply(noRange);
    await testClient().files.download("FB", {
      to,
      file: rescaleFile({ id: "FB", decryptedSize: 1000, dateUploaded: "2026-02-02T00:00:00Z", md5: md5(B) }),
    });
    expect(await readFile(to)).toEqual(B);
  });

  it("resumes the same file with Range and checks the whole against the API's checksum", async () => {
    const to = join(dir, "model.bin");
    const file = rescaleFile({ id: "FB", decryptedSize: 1000, md5: md5(B) });
    await writePart(to, B.subarray(0, 400));
    api()
      .get("/api/v2/files/FB/contents/")
      .matchHeader("range", "bytes=400-")
      .reply(206, B.subarray(400), { "Content-Range": "bytes 400-999/1000" });
    const result = await testClient().files.download("FB", { to, file });
    expect(result).toEqual({ bytes: 1000, resumedFrom: 400, path: to });
    expect(await readFile(to)).toEqual(B);
  });

  it("a resumed file that fails the checksum is downloaded again from the start", async () => {
    const to = join(dir, "model.bin");
    const file = rescaleFile({ id: "FB", decryptedSize: 1000, md5: md5(B) });
    await writePart(to, A.subarray(0, 400)); // the record matches, the bytes do not
    api()
      .get("/api/v2/files/FB/contents/")
      .matchHeader("range", "bytes=400-")
      .reply(206, B.subarray(400), { "Content-Range": "bytes 400-999/1000" })
      .get("/api/v2/files/FB/contents/")
      .reply(noRange);
    await testClient().files.download("FB", { to, file });
    expect(await readFile(to)).toEqual(B);
  });

  it("a fresh download that fails the checksum is an error, leaving nothing at the destination", async () => {
    const to = join(dir, "model.bin");
    api().get("/api/v2/files/FB/contents/").reply(200, A);
    await expect(
      testClient().files.download("FB", {
        to,
        file: rescaleFile({ id: "FB", decryptedSize: 1000, md5: md5(B) }),
      }),
    ).rejects.toThrow(/checksum/);
    await expect(stat(to)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a resumed transfer whose total size differs from the record starts over", async () => {
    const to = join(dir, "model.bin");
    await writeFile(`${to}.part`, B.subarray(0, 400));
    await writeFile(partRecordPath(to), JSON.stringify({ fileId: "FB", size: 1000 }));
    const C = Buffer.from("C".repeat(1200));
    api()
      .get("/api/v2/files/FB/contents/")
      .matchHeader("range", "bytes=400-")
      .reply(206, C.subarray(400), { "Content-Range": "bytes 400-1199/1200" })
      .get("/api/v2/files/FB/contents/")
      .reply(200, C);
    await testClient().files.download("FB", { to });
    expect(await readFile(to)).toEqual(C);
  });
});
