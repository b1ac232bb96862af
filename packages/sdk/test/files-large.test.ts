/**
 * Constant-memory transfers of a file far larger than the memory budget, against a loopback HTTP server
 * (nock buffers request bodies, so it cannot measure this), plus a transfer that breaks and resumes via Range.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { rescaleFile, TEST_API_KEY } from "@rescale-run/testkit/rescale-payloads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RescaleClient } from "../src/index.js";

const SIZE = 384 * 1024 * 1024; // far above the 64 MiB memory budget asserted below
const BUDGET = 64 * 1024 * 1024;
const PATTERN = createHash("sha512").update("rescale-run").digest(); // 64 bytes, repeated

let dir: string;
let server: Server;
let baseUrl: string;
let uploaded = { bytes: 0, contentLength: 0, head: "" };
/** Byte offset after which the next download response is cut off (simulates a dropped connection). */
let breakAt: number | undefined;
/** When set, the next download stalls at `breakAt` (socket left open, no more bytes) instead of closing. */
let stall = false;
const rangesSeen: string[] = [];

function patternChunk(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = PATTERN[(offset + i) % PATTERN.length]!;
  return out;
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.headers.authorization !== `Token ${TEST_API_KEY}`) {
    res.writeHead(401, { "Content-Type": "application/json" }).end('{"detail":"bad key"}');
    return;
  }
  if (req.method === "POST" && req.url === "/api/v2/files/contents/") {
    uploaded = { bytes: 0, contentLength: Number(req.headers["content-length"]), head: "" };
    for await (const chunk of req) {
      if (uploaded.head.length < 200) uploaded.head += chunk.subarray(0, 200).toString("latin1");
      uploaded.bytes += chunk.length;
    }
    res
      .writeHead(201, { "Content-Type": "application/json" })
      .end(JSON.stringify(rescaleFile({ id: "Big", decryptedSize: SIZE })));
    return;
  }
  if (req.method === "GET" && req.url === "/api/v2/files/Big/contents/") {
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? "");
    rangesSeen.push(req.headers.range ?? "");
    const start = range ? Number(range[1]) : 0;
    const headers: Record<string, string> = {
      "Content-Type": "application/octet-stream",
      "Content-Length": String(SIZE - start),
    };
    if (range) headers["Content-Range"] = `bytes ${start}-${SIZE - 1}/${SIZE}`;
    res.writeHead(range ? 206 : 200, headers);
    const stop = breakAt;
    const stallHere = stall;
    breakAt = undefined;
    stall = false;
    const block = 1024 * 1024;
    const template = patternChunk(0, block + PATTERN.length);
    for (let offset = start; offset < SIZE; ) {
      const length = Math.min(block, SIZE - offset);
      const phase = offset % PATTERN.length;
      const chunk = template.subarray(phase, phase + length);
      if (stop !== undefined && offset + length > stop) {
        res.write(chunk.subarray(0, stop - offset));
        await new Promise((r) => setTimeout(r, stallHere ? 60_000 : 20));
        res.socket?.destroy();
        return;
      }
      offset += length;
      if (!res.write(chunk)) await new Promise((r) => res.once("drain", r));
    }
    res.end();
    return;
  }
  res.writeHead(404).end();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sdk-large-"));
  server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections(); // the stalled response would otherwise hold the server open
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

function client(timeoutMs?: number): RescaleClient {
  return new RescaleClient({ apiKey: TEST_API_KEY, baseUrl, retry: { retries: 0 }, timeoutMs });
}

/** Runs `work` while sampling RSS every 25 ms; returns the peak growth over the starting RSS. */
async function peakRssGrowth(work: () => Promise<unknown>): Promise<number> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 25);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().rss) - start;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest("hex");
}

function expectedSha256(): string {
  const hash = createHash("sha256");
  const block = 1024 * 1024;
  const chunk = patternChunk(0, block); // block is a multiple of 64, so every block is identical
  for (let offset = 0; offset < SIZE; offset += block) hash.update(chunk);
  return hash.digest("hex");
}

describe("large transfers", () => {
  it(`uploads ${SIZE / 2 ** 20} MiB from a path with RSS growth under ${BUDGET / 2 ** 20} MiB`, async () => {
    const path = join(dir, "big.bin");
    const handle = await open(path, "w");
    await handle.truncate(SIZE); // sparse: takes no disk, reads as zeros
    await handle.close();
    let lastProgress = 0;
    const growth = await peakRssGrowth(() =>
      client().files.upload(path, {
        onProgress: (e) => {
          lastProgress = e.loaded;
        },
      }),
    );
    console.info(`upload ${SIZE / 2 ** 20} MiB: peak RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    expect(uploaded.contentLength).toBe(uploaded.bytes);
    expect(uploaded.bytes).toBeGreaterThan(SIZE);
    expect(uploaded.bytes - SIZE).toBeLessThan(400); // multipart framing only
    expect(uploaded.head).toContain('name="file"; filename="big.bin"');
    expect(lastProgress).toBe(SIZE);
    expect(growth).toBeLessThan(BUDGET);
  });

  it(`downloads ${SIZE / 2 ** 20} MiB with a dropped connection, resuming via Range, RSS growth under ${BUDGET / 2 ** 20} MiB`, async () => {
    const to = join(dir, "down.bin");
    breakAt = 100 * 1024 * 1024 + 123;
    rangesSeen.length = 0;
    let result: Awaited<ReturnType<RescaleClient["files"]["download"]>> | undefined;
    const growth = await peakRssGrowth(async () => {
      result = await client().files.download("Big", { to });
    });
    console.info(
      `download ${SIZE / 2 ** 20} MiB with one resume: peak RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB`,
    );
    // The resume starts where the .part file ended (bytes in flight when the socket died are lost).
    expect(rangesSeen).toHaveLength(2);
    expect(rangesSeen[0]).toBe("");
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(rangesSeen[1] ?? "")?.[1]);
    expect(resumedAt).toBeGreaterThan(50 * 1024 * 1024);
    expect(resumedAt).toBeLessThanOrEqual(100 * 1024 * 1024 + 123);
    expect(result).toEqual({ bytes: SIZE, resumedFrom: 0, path: to });
    expect((await stat(to)).size).toBe(SIZE);
    expect(await sha256OfFile(to)).toBe(expectedSha256());
    expect(growth).toBeLessThan(BUDGET);
  });

  it("aborts an upload mid-way with the signal's AbortError", async () => {
    const path = join(dir, "big.bin");
    const controller = new AbortController();
    const started = Date.now();
    const error = await client()
      .files.upload(path, {
        signal: controller.signal,
        onProgress: (e) => {
          if (e.loaded >= 32 * 1024 * 1024) controller.abort();
        },
      })
      .catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("resumes a download whose server stalls mid-body (idle timeout, then Range)", async () => {
    const to = join(dir, "stalled.bin");
    breakAt = 8 * 1024 * 1024;
    stall = true;
    rangesSeen.length = 0;
    const started = Date.now();
    const result = await client(500).files.download("Big", { to });
    expect(Date.now() - started).toBeLessThan(30_000); // the stall (60 s) was cut by the 500 ms idle timeout
    expect(result.bytes).toBe(SIZE);
    expect(rangesSeen).toHaveLength(2);
    expect(rangesSeen[1]).toMatch(/^bytes=\d+-$/);
    expect(await sha256OfFile(to)).toBe(expectedSha256());
  });

  it("resumes a download into a Writable after a dropped connection (Range from the bytes written)", async () => {
    breakAt = 5 * 1024 * 1024 + 7;
    rangesSeen.length = 0;
    const hash = createHash("sha256");
    let ended = false;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done();
      },
      final(done) {
        ended = true;
        done();
      },
    });
    const result = await client().files.download("Big", { to: sink });
    expect(result.bytes).toBe(SIZE);
    expect(rangesSeen).toHaveLength(2);
    expect(rangesSeen[1]).toMatch(/^bytes=\d+-$/);
    expect(ended).toBe(true);
    expect(hash.digest("hex")).toBe(expectedSha256());
  });
});
