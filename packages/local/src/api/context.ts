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
}
