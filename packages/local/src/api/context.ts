import type { Executor } from "../executor/executor.js";
import type { CatalogView } from "../jobspec.js";
import type { BlobStore } from "../store/blobs.js";
import type { Store } from "../store/db.js";

/** What every route module works with. */
export interface PlatformContext {
  store: Store;
  blobs: BlobStore;
  executor: Executor;
  catalog: CatalogView;
  /** Shown as `owner` on jobs and files. */
  owner: string;
  /** The user's projects (`GET /api/v2/users/me/projects/`). */
  projects: readonly LocalProject[];
  /** Like a workspace whose admin requires projects: a job without a valid `projectId` is refused (400). */
  requireProject: boolean;
  /**
   * Like Rescale, the output list is complete only once the cluster is Stopped: for this long after Completed
   * only `process_output.log` is listed and the cluster shows Stopping. 0 = at once.
   */
  outputSyncMs: number;
}

export interface LocalProject {
  id: string;
  name: string;
}
