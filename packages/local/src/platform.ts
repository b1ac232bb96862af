import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import type { LocalProject } from "./api/context.js";
import { buildServer } from "./api/server.js";
import { analyses, machineCoreType, readEmulatedCatalog } from "./catalog.js";
import { ensureLocalApiKey } from "./credentials.js";
import { LocalPlatformError } from "./errors.js";
import { Executor, REASONS } from "./executor/executor.js";
import type { ArchiveLimits } from "./executor/unzip.js";
import type { CatalogView } from "./jobspec.js";
import { claimDataDir, releaseDataDir } from "./lockfile.js";
import { defaultDataDir } from "./paths.js";
import { BlobStore } from "./store/blobs.js";
import { Store } from "./store/db.js";

export interface LocalPlatformOptions {
  /** State directory (database, file store, job sandboxes). Default `$XDG_DATA_HOME/rescale-run/local`. */
  dataDir?: string;
  /** Interface to bind. Default 127.0.0.1; anything else exposes jobs that run commands on this machine. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Key clients must send (`Authorization: Token <key>`). Default: the stored key, created on first start. */
  apiKey?: string;
  /** JSON file of extra core types (array or `{results}`), listed as emulated. */
  catalogFile?: string;
  /**
   * Cores the scheduler hands out at once. Default: this machine's core count. A larger value is an explicit
   * oversubscription (reported in the core type's description).
   */
  maxCores?: number;
  /** A pino-compatible logger, or true for JSON logs of warnings and errors on stdout (Authorization redacted). */
  logger?: FastifyBaseLogger | boolean;
  /** TEST HOOK: milliseconds one walltime hour lasts (default a real hour). See docs/local-platform.md. */
  msPerWalltimeHour?: number;
  /** Delay between SIGTERM and SIGKILL on stop or walltime. Default 10 s. */
  killGraceMs?: number;
  /** Caps on how far one input archive may expand while staging (bytes, entries, ratio). */
  archiveLimits?: Partial<ArchiveLimits>;
  /** Set by the `rescale-local` entry: recorded in `server.json` so status can tell it from an in-process platform. */
  standalone?: boolean;
  /** The user's projects, listed at `GET /api/v2/users/me/projects/`. Default: one, "Default project". */
  projects?: LocalProject[];
  /** Refuse (400 naming `projectId`) a job without one of `projects`, like a workspace whose admin requires it. */
  requireProject?: boolean;
  /**
   * Like Rescale, a finished job's output list is complete only once its cluster is Stopped: for this many
   * milliseconds after Completed only process_output.log is listed and the cluster shows Stopping. Default 0.
   */
  outputSyncMs?: number;
}

/** The project every local platform has unless told otherwise. */
export const DEFAULT_LOCAL_PROJECTS: LocalProject[] = [{ id: "local-default", name: "Default project" }];

export interface LocalPlatform {
  /** e.g. http://127.0.0.1:PORT (no trailing slash) */
  url: string;
  apiKey: string;
  dataDir: string;
  /** Ends running jobs honestly ("Platform shut down while the job was running"), then closes. */
  close(): Promise<void>;
}

/** Starts the local Rescale-compatible platform in this process. */
export async function startLocalPlatform(options: LocalPlatformOptions = {}): Promise<LocalPlatform> {
  const dataDir = path.resolve(options.dataDir ?? defaultDataDir());
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const apiKey = options.apiKey ?? ensureLocalApiKey();
  const capacity = options.maxCores ?? os.cpus().length;
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new LocalPlatformError(`maxCores must be a positive integer, got ${capacity}`);

  const coreTypes = [
    machineCoreType(capacity, dataDir),
    ...(options.catalogFile ? readEmulatedCatalog(options.catalogFile) : []),
  ];
  const catalog: CatalogView = { coreTypes, analyses: analyses(coreTypes.map((t) => t.code)), capacity };

  let publish: ReturnType<typeof claimDataDir>;
  try {
    publish = claimDataDir(dataDir);
  } catch (err) {
    throw new LocalPlatformError((err as Error).message);
  }
  const store = new Store(path.join(dataDir, "platform.sqlite"));
  const blobs = new BlobStore(dataDir);
  let url = "";
  let app: FastifyInstance | undefined;
  const executor = new Executor({
    store,
    blobs,
    dataDir,
    capacity,
    apiUrl: () => url,
    msPerWalltimeHour: options.msPerWalltimeHour,
    killGraceMs: options.killGraceMs,
    archiveLimits: options.archiveLimits,
    log: (message) => app?.log.error(message),
  });
  const owner = os.userInfo().username;
  const host = options.host ?? "127.0.0.1";
  app = await buildServer(
    {
      store,
      blobs,
      executor,
      catalog,
      owner,
      projects: options.projects ?? DEFAULT_LOCAL_PROJECTS,
      requireProject: options.requireProject ?? false,
      outputSyncMs: options.outputSyncMs ?? 0,
    },
    { apiKey, logger: options.logger ?? false, bindHost: host },
  );

  try {
    await app.listen({ host, port: options.port ?? 0 });
  } catch (err) {
    store.close();
    releaseDataDir(dataDir);
    throw new LocalPlatformError(`cannot listen on ${host}:${options.port ?? 0}: ${(err as Error).message}`);
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  await executor.recover();
  publish({ url, port: port ?? 0, standalone: options.standalone ?? false });

  let closed: Promise<void> | undefined;
  return {
    url,
    apiKey,
    dataDir,
    close: () => {
      closed ??= (async () => {
        await executor.shutdown(REASONS.shutDown);
        await app.close();
        store.close();
        releaseDataDir(dataDir);
      })();
      return closed;
    },
  };
}
