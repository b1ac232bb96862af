import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { page, rescaleFile } from "@rescale-run/testkit/rescale-payloads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { contentDisposition, NotFoundError, partRecordPath, RescaleError } from "../src/index.js";
import { api, testClient, useNock } from "./helpers.js";

useNock();

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sdk-files-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const CONTENT = Buffer.from("0123456789".repeat(100)); // 1000 bytes

describe("upload", () => {
  it("streams a path as multipart field `file` with an exact Content-Length and progress", async () => {
    const path = join(dir, "busi.zip");
    await writeFile(path, CONTENT);
    let received: { headers: Record<string, string | string[] | undefined>; body: string } | undefined;
    api()
      .post("/api/v2/files/contents/")
      .reply(201, function (_uri, body) {
        received = { headers: this.req.headers, body: body as string };
        return rescaleFile({ decryptedSize: 1000 });
      });
    const progress: number[] = [];
    const file = await testClient().files.upload(path, { onProgress: (e) => progress.push(e.loaded) });
    expect(file).toMatchObject({ id: "FiLe1", decryptedSize: 1000 });
    expect(file.dateUploaded?.toISOString()).toBe("2026-11-25T10:00:00.123Z");
    const contentType = String(received?.headers["content-type"]);
    const boundary = /boundary=(.+)$/.exec(contentType)?.[1];
    expect(contentType).toMatch(/^multipart\/form-data; boundary=/);
    const expected =
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="busi.zip"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n${CONTENT.toString()}\r\n--${boundary}--\r\n`;
    expect(received?.body).toBe(expected);
    expect(Number(received?.headers["content-length"])).toBe(Buffer.byteLength(expected));
    expect(progress.at(-1)).toBe(1000);
  });

  it("uploads a stream with a name (chunked when the size is unknown)", async () => {
    let body = "";
    api()
      .post("/api/v2/files/contents/")
      .reply(201, (_uri, b) => {
        body = b as string;
        return rescaleFile({ name: "log.txt" });
      });
    const file = await testClient().files.upload(
      Readable.from([Buffer.from("hello "), Buffer.from("world")]),
      { name: "log.txt" },
    );
    expect(file.name).toBe("log.txt");
    expect(body).toContain('name="file"; filename="log.txt"');
    expect(body).toContain("\r\n\r\nhello world\r\n--");
    await expect(testClient().files.upload(Readable.from(["x"]))).rejects.toBeInstanceOf(RescaleError);
  });

  it("quotes unusual file names", () => {
    expect(contentDisposition("file", 'a"b.zip')).toBe('form-data; name="file"; filename="a_b.zip"');
    expect(contentDisposition("file", "乳腺.zip")).toBe(
      `form-data; name="file"; filename="__.zip"; filename*=UTF-8''${encodeURIComponent("乳腺.zip")}`,
    );
  });

  it("re-opens a path and retries after 503, 429 and a reset, sending the whole file each time", async () => {
    const path = join(dir, "a.bin");
    await writeFile(path, CONTENT);
    const bodies: string[] = [];
    const record = (body: string) => bodies.push(body) > 0;
    api().post("/api/v2/files/contents/", record).reply(503, "busy");
    api().post("/api/v2/files/contents/", record).reply(429, { detail: "throttled" }, { "Retry-After": "0" });
    api()
      .post("/api/v2/files/contents/", record)
      .replyWithError(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
    api()
      .post("/api/v2/files/contents/", record)
      .reply(201, rescaleFile({ decryptedSize: 1000 }));
    const file = await testClient({ retry: { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 2 } }).files.upload(
      path,
    );
    expect(file.decryptedSize).toBe(1000);
    expect(bodies).toHaveLength(4);
    for (const body of bodies) expect(body).toContain(`\r\n\r\n${CONTENT.toString()}\r\n--`);
  });

  it("does not retry a stream source of known size (it cannot be replayed)", async () => {
    api().post("/api/v2/files/contents/").reply(503, "busy");
    await expect(
      testClient().files.upload(Readable.from([Buffer.from("abc")]), { name: "a.bin", size: 3 }),
    ).rejects.toMatchObject({
      status: 503,
    });
  });

  it("never sends a stream of unknown size chunked: buffers it and sends a Content-Length", async () => {
    let headers: Record<string, string | string[] | undefined> = {};
    let body = "";
    api()
      .post("/api/v2/files/contents/")
      .reply(201, function (_uri, received) {
        headers = this.req.headers;
        body = received as string;
        return rescaleFile({ name: "a.bin", decryptedSize: 6 });
      });
    const source = Readable.from([Buffer.from("abc"), Buffer.from("def")]);
    await testClient().files.upload(source, { name: "a.bin" });
    expect(headers["transfer-encoding"]).toBeUndefined();
    expect(Number(headers["content-length"])).toBe(Buffer.byteLength(body));
    expect(body).toContain("abcdef");
  });

  it("reuses an uploaded file with the same name, size and MD5 instead of uploading again", async () => {
    const path = join(dir, "rescale-run-runner-abc.tgz");
    await writeFile(path, CONTENT);
    const md5 = createHash("md5").update(CONTENT).digest("hex");
    api()
      .get("/api/v2/files/")
      .query({ search: "rescale-run-runner-abc.tgz", page_size: "100" })
      .reply(
        200,
        page([
          rescaleFile({
            id: "Old",
            name: "rescale-run-runner-abc.tgz",
            decryptedSize: 1000,
            md5: "0".repeat(32),
          }),
          rescaleFile({ id: "Same", name: "rescale-run-runner-abc.tgz", decryptedSize: 1000, md5 }),
        ]),
      );
    const reused = await testClient().files.uploadOnce(path);
    expect(reused).toMatchObject({ reused: true, md5 });
    expect(reused.file.id).toBe("Same");
    // no match (other bytes): uploaded
    api()
      .get("/api/v2/files/")
      .query({ search: "rescale-run-runner-abc.tgz", page_size: "100" })
      .reply(
        200,
        page([
          rescaleFile({
            id: "Old",
            name: "rescale-run-runner-abc.tgz",
            decryptedSize: 1000,
            md5: "0".repeat(32),
          }),
        ]),
      );
    api()
      .post("/api/v2/files/contents/")
      .reply(201, rescaleFile({ id: "New", name: "rescale-run-runner-abc.tgz" }));
    const fresh = await testClient().files.uploadOnce(path);
    expect(fresh).toMatchObject({ reused: false });
    expect(fresh.file.id).toBe("New");
  });

  it("explains a missing or unreadable source without a request", async () => {
    await expect(testClient().files.upload(join(dir, "missing.zip"))).rejects.toThrow(
      /Cannot upload .*missing.zip: ENOENT/,
    );
    await expect(testClient().files.upload(dir)).rejects.toThrow(/is not a regular file/);
  });

  it("aborts", async () => {
    const path = join(dir, "a.bin");
    await writeFile(path, "abc");
    const controller = new AbortController();
    controller.abort();
    await expect(testClient().files.upload(path, { signal: controller.signal })).rejects.toMatchObject({
      name: "AbortError",
    });
  });
});

describe("download", () => {
  it("downloads to a path via .part and reports progress", async () => {
    api()
      .get("/api/v2/files/F1/contents/")
      .matchHeader("accept", "*/*")
      .reply(200, CONTENT, { "Content-Length": "1000" });
    const to = join(dir, "new", "sub", "out.bin");
    const progress: Array<number | undefined> = [];
    const result = await testClient().files.download("F1", { to, onProgress: (e) => progress.push(e.total) });
    expect(result).toEqual({ bytes: 1000, resumedFrom: 0, path: to });
    expect(await readFile(to)).toEqual(CONTENT);
    expect(progress.at(-1)).toBe(1000);
    await expect(stat(`${to}.part`)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("resumes an existing .part with an HTTP Range request", async () => {
    const to = join(dir, "out.bin");
    await writeFile(`${to}.part`, CONTENT.subarray(0, 400));
    await writeFile(partRecordPath(to), JSON.stringify({ fileId: "F1" })); // the .part's record: resumed only into F1
    api()
      .get("/api/v2/files/F1/contents/")
      .matchHeader("range", "bytes=400-")
      .reply(206, CONTENT.subarray(400), { "Content-Range": "bytes 400-999/1000", "Content-Length": "600" });
    const result = await testClient().files.download("F1", { to });
    expect(result).toEqual({ bytes: 1000, resumedFrom: 400, path: to });
    expect(hash(await readFile(to))).toBe(hash(CONTENT));
  });

  it("starts over when the server ignores the Range (200)", async () => {
    const to = join(dir, "out.bin");
    await writeFile(`${to}.part`, "garbage");
    await writeFile(partRecordPath(to), JSON.stringify({ fileId: "F1" }));
    api().get("/api/v2/files/F1/contents/").matchHeader("range", "bytes=7-").reply(200, CONTENT);
    await testClient().files.download("F1", { to });
    expect(await readFile(to)).toEqual(CONTENT);
  });

  it("treats 416 on a complete .part as done", async () => {
    const to = join(dir, "out.bin");
    await writeFile(`${to}.part`, CONTENT);
    await writeFile(partRecordPath(to), JSON.stringify({ fileId: "F1" }));
    api().get("/api/v2/files/F1/contents/").reply(416, "");
    api()
      .get("/api/v2/files/F1/")
      .reply(200, rescaleFile({ id: "F1", decryptedSize: 1000 }));
    expect(await testClient().files.download("F1", { to })).toEqual({
      bytes: 1000,
      resumedFrom: 1000,
      path: to,
    });
    expect(await readFile(to)).toEqual(CONTENT);
  });

  it("does not resume when resume is false", async () => {
    const to = join(dir, "out.bin");
    await writeFile(`${to}.part`, "stale");
    api()
      .get("/api/v2/files/F1/contents/")
      .reply(function () {
        expect(this.req.headers.range).toBeUndefined();
        return [200, CONTENT];
      });
    await testClient().files.download("F1", { to, resume: false });
    expect(await readFile(to)).toEqual(CONTENT);
  });

  it("downloads into a Writable", async () => {
    api().get("/api/v2/files/F1/contents/").reply(200, CONTENT);
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on("data", (c: Buffer) => chunks.push(c));
    const result = await testClient().files.download("F1", { to: sink });
    expect(result.bytes).toBe(1000);
    expect(Buffer.concat(chunks)).toEqual(CONTENT);
  });

  it("resumes a Writable after a cut, skipping what it has when the server ignores the Range", async () => {
    const cut = new PassThrough();
    api()
      .get("/api/v2/files/F1/contents/")
      .reply(
        200,
        () => {
          cut.write(CONTENT.subarray(0, 300));
          return cut;
        },
        { "Content-Length": "1000" },
      );
    let range: string | undefined;
    api()
      .get("/api/v2/files/F1/contents/")
      .matchHeader("range", (value) => {
        range = value;
        return /^bytes=\d+-$/.test(value);
      })
      .reply(200, CONTENT); // a server that ignores the Range resends everything
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on("data", (c: Buffer) => {
      chunks.push(c);
      // The connection dies once the sink holds the first bytes (deterministic, unlike a timer under load).
      if (!cut.destroyed) cut.destroy(Object.assign(new Error("aborted"), { code: "ECONNRESET" }));
    });
    const result = await testClient().files.download("F1", { to: sink });
    expect(result.bytes).toBe(1000);
    expect(Buffer.concat(chunks)).toEqual(CONTENT);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(range ?? "")?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(300);
  });

  it("maps a missing file to NotFoundError with the JSON body", async () => {
    api().get("/api/v2/files/nope/contents/").reply(404, { detail: "Not found." });
    const error = await testClient()
      .files.download("nope", { to: join(dir, "x") })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).body).toEqual({ detail: "Not found." });
  });
});

describe("file metadata", () => {
  it("lists with search across pages, gets, deletes and reads lines", async () => {
    api()
      .get("/api/v2/files/")
      .query({ search: "busi" })
      .reply(200, page([rescaleFile({ id: "A" })], { count: 2, next: "/api/v2/files/?search=busi&page=2" }));
    api()
      .get("/api/v2/files/")
      .query({ search: "busi", page: "2" })
      .reply(
        200,
        page([rescaleFile({ id: "B", decryptedSize: "2048", dateUploaded: "2026-11-25T10:00:00" })], {
          count: 2,
        }),
      );
    api()
      .get("/api/v2/files/A/")
      .reply(200, rescaleFile({ id: "A", fileChecksums: [{ hashFunction: "md5", fileHash: "x" }] }));
    api().delete("/api/v2/files/A/").reply(204);
    api()
      .get("/api/v2/files/A/lines/")
      .reply(200, { lines: ["a", "b"] });
    const files = testClient().files;
    const listed = await files.list({ search: "busi" });
    expect(listed.map((f) => f.id)).toEqual(["A", "B"]);
    expect(listed[1]?.decryptedSize).toBe(2048);
    expect(listed[1]?.dateUploaded?.toISOString()).toBe("2026-11-25T10:00:00.000Z");
    expect((await files.get("A")).fileChecksums?.[0]?.hashFunction).toBe("md5");
    await files.delete("A");
    expect((await files.lines("A")).lines).toEqual(["a", "b"]);
  });
});

function hash(buffer: Buffer): string {
  return createHash("sha256").update(buffer).digest("hex");
}
