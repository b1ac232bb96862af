import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Sandbox {
  root: string;
  /** HOME and XDG_* pointing into `root`; merge into a child process's env or process.env. */
  env: Record<string, string>;
  configDir: string;
  dataDir: string;
  cacheDir: string;
  cleanup(): Promise<void>;
}

/** Fresh HOME and XDG_* directories so a test never reads or writes the real user's config and data. */
export async function makeSandbox(prefix = "rescale-run-sandbox-"): Promise<Sandbox> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const home = join(root, "home");
  const configDir = join(root, "config");
  const dataDir = join(root, "data");
  const cacheDir = join(root, "cache");
  const stateDir = join(root, "state");
  for (const dir of [home, configDir, dataDir, cacheDir, stateDir]) await mkdir(dir, { recursive: true });
  return {
    root,
    env: {
      HOME: home,
      XDG_CONFIG_HOME: configDir,
      XDG_DATA_HOME: dataDir,
      XDG_CACHE_HOME: cacheDir,
      XDG_STATE_HOME: stateDir,
    },
    configDir,
    dataDir,
    cacheDir,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
