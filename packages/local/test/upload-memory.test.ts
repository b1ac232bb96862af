import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { RawApi } from "@rescale-run/testkit";
import { describe, expect, it } from "vitest";
import { readLocalPlatformConfig, startDaemon, stopDaemon } from "../src/index.js";
import { useDaemonSandbox } from "./helpers.js";

// A 2 GiB upload to the platform running in its own process, sampling that process's RSS from /proc:
// the upload is streamed to disk and hashed on the way, so the server's memory must stay flat.

const SIZE = 2 * 2 ** 30;
const files = useDaemonSandbox("local-upload-");

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** md5 of `size` zero bytes, computed in 64 MiB blocks. */
function md5OfZeros(size: number): string {
  const md5 = crypto.createHash("md5");
  const block = Buffer.alloc(64 * 2 ** 20);
  for (let left = size; left > 0; left -= block.length)
    md5.update(left >= block.length ? block : block.subarray(0, left));
  return md5.digest("hex");
}

describe("big upload", () => {
  it.skipIf(process.platform !== "linux")(
    "stores 2 GiB with the server's RSS flat",
    { timeout: 300_000 },
    async () => {
      // Computed first: a long synchronous hash later would block this process's event loop between two
      // requests and could make it reuse a keep-alive socket the server has meanwhile closed.
      const expectedMd5 = md5OfZeros(SIZE);
      const daemon = await startDaemon({ dataDir: files.dataDir });
      const api = new RawApi(daemon.url, readLocalPlatformConfig()!.apiKey);
      const file = path.join(files.sandbox.root, "big.bin");
      fs.closeSync(fs.openSync(file, "w"));
      fs.truncateSync(file, SIZE); // sparse: 2 GiB of zeros without using the disk twice

      const small = path.join(files.sandbox.root, "small.bin");
      fs.writeFileSync(small, "warm-up");
      await api.upload(small); // warm the routes so the baseline includes their code
      const baseline = rssMiB(daemon.pid);
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssMiB(daemon.pid));
      }, 50);
      const started = Date.now();
      let uploaded: { id: string; decryptedSize: number; md5?: string };
      try {
        uploaded = (await api.upload(file)) as typeof uploaded;
      } finally {
        clearInterval(sampler);
      }
      const seconds = (Date.now() - started) / 1000;
      console.log(
        `2 GiB upload: ${seconds.toFixed(1)} s (${(SIZE / 2 ** 20 / seconds).toFixed(0)} MiB/s); server RSS baseline ` +
          `${baseline.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB (+${(peak - baseline).toFixed(0)} MiB)`,
      );
      expect(uploaded.decryptedSize).toBe(SIZE);
      expect(uploaded.md5).toBe(expectedMd5);
      expect(peak - baseline).toBeLessThan(100);
      await api.request("DELETE", `/api/v2/files/${uploaded.id}/`);
      await stopDaemon({ dataDir: files.dataDir });
    },
  );
});
