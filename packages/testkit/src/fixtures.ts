import { fileURLToPath } from "node:url";

/**
 * Fixtures vendored into the repository, so a fresh clone runs its tests without CI's `../shared` folder.
 * Resolved from this module (src/ and dist/ both sit one level below the package root).
 */

/** The 2017 Rescale JP `GET /api/v2/coretypes/` page (48 types, prices in that platform's currency): read-only. */
export const CORETYPES_2017_JP_FILE = fileURLToPath(
  new URL("../fixtures/coretypes-2017-jp.json", import.meta.url),
);
