/** `--offline-runtime`: a Node.js tarball attachment for workstations that cannot install Node themselves. */
import { existsSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import { arch, platform } from "node:os";
import { join, resolve } from "node:path";
import { writeArchive } from "./archive.js";
import { UsageError } from "./errors.js";

/**
 * With a path: that tarball (e.g. node-v20.x-linux-x64.tar.xz from nodejs.org). Without: this machine's own
 * node binary packed as `node-v<version>-linux-x64/bin/node` (only possible on Linux x64, the workstations' platform).
 */
export async function offlineRuntime(value: string, cwd: string, cacheRoot: string): Promise<string> {
  if (value) {
    const file = resolve(cwd, value);
    if (!existsSync(file) || !(await stat(file)).isFile())
      throw new UsageError(
        `--offline-runtime ${value}: no such file.`,
        "Give a Node.js >= 20 linux-x64 tarball from nodejs.org.",
      );
    return file;
  }
  if (platform() !== "linux" || arch() !== "x64") {
    throw new UsageError(
      `--offline-runtime without a file packs this machine's node, which only runs on Linux x64 workstations (this is ${platform()}-${arch()}).`,
      "Download node-v20.x-linux-x64.tar.xz from nodejs.org and pass its path: --offline-runtime FILE",
    );
  }
  const name = `node-v${process.versions.node}-linux-x64`;
  const dir = join(cacheRoot, "runtimes");
  const target = join(dir, `${name}.tar.gz`);
  if (existsSync(target)) return target;
  await mkdir(dir, { recursive: true });
  await writeArchive(target, "tgz", (archive) => {
    archive.file(process.execPath, { name: `${name}/bin/node`, mode: 0o755 });
  });
  return target;
}
