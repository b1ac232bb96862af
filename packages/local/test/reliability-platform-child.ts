// Runs the local platform in its own process so a test can kill -9 it. Prints one JSON line when listening.
// Usage: tsx reliability-platform-child.ts <dataDir> [port]
import { startLocalPlatform } from "../src/index.js";

const [dataDir, port] = process.argv.slice(2);
const platform = await startLocalPlatform({ dataDir, port: port ? Number(port) : 0, killGraceMs: 500 });
process.stdout.write(`${JSON.stringify({ url: platform.url, apiKey: platform.apiKey, pid: process.pid })}\n`);
process.on("SIGTERM", () => {
  void platform.close().then(() => process.exit(0));
});
