import {
  checkJobBody,
  fieldErrorBody,
  MAX_WALLTIME_HOURS,
  type ValidJobBody,
  WALLTIME_RANGE_MESSAGE,
} from "@rescale-run/sdk";
import { type ApiError, badRequest, jobFieldError } from "./api/errors.js";
import type { Analysis, CoreType } from "./catalog.js";
import type { Store } from "./store/db.js";

/**
 * A job create request after validation: what is stored and what the executor runs. Its shape is the SDK's
 * wire description of the body (`jobBodySchema`); this platform adds what only it can check (its catalog,
 * its capacity, one node, the walltime ceiling, input files that exist).
 */
export type JobSpec = ValidJobBody;
export type JobAnalysisSpec = JobSpec["jobanalyses"][number];
export type InputFileRef = JobAnalysisSpec["inputFiles"][number];

export interface CatalogView {
  coreTypes: CoreType[];
  analyses: Analysis[];
  /** Cores the scheduler can hand out at once. */
  capacity: number;
}

/** Validates a `POST /api/v2/jobs/` body; every rejection is a 400 with Rescale's nested field map. */
export function parseJobSpec(body: unknown, catalog: CatalogView, store: Store): JobSpec {
  const checked = checkJobBody(body);
  if (!checked.ok) throw badRequest(fieldErrorBody(checked.problems));
  const spec = checked.body;
  spec.jobanalyses.forEach((entry, index) => {
    checkAgainstPlatform(entry, index, catalog, store);
  });
  return spec;
}

/** What the wire description cannot know: this platform's catalog, capacity and files. */
function checkAgainstPlatform(
  entry: JobAnalysisSpec,
  index: number,
  catalog: CatalogView,
  store: Store,
): void {
  const fail = (message: string, ...path: string[]): ApiError =>
    jobFieldError(["jobanalyses", String(index), ...path], message);

  const analysis = catalog.analyses.find((a) => a.code === entry.analysis.code);
  if (!analysis) throw fail(`Unknown analysis code "${entry.analysis.code}".`, "analysis", "code");
  const version = analysis.versions.find((v) => v.versionCode === entry.analysis.version);
  if (!version) throw fail("The specified version is not available.", "analysis", "version");

  const hw = entry.hardware;
  const coreType = catalog.coreTypes.find((t) => t.code === hw.coreType);
  if (!coreType) throw fail(`Unknown core type "${hw.coreType}".`, "hardware", "coreType");
  if (!version.allowedCoreTypes.includes(coreType.code)) {
    throw fail(
      `Core type "${coreType.code}" is not allowed for this analysis version.`,
      "hardware",
      "coreType",
    );
  }
  if (!coreType.cores.includes(hw.coresPerSlot)) {
    throw fail(
      `Must be one of ${coreType.cores.join(", ")} for core type "${coreType.code}".`,
      "hardware",
      "coresPerSlot",
    );
  }
  if (hw.coresPerSlot > catalog.capacity) {
    throw fail(
      `This machine runs at most ${catalog.capacity} cores at once; "${coreType.code}" is an emulated core type.`,
      "hardware",
      "coresPerSlot",
    );
  }
  if (hw.slots !== 1) throw fail("The local platform runs one node: slots must be 1.", "hardware", "slots");
  // Rescale's usual ceiling, which this platform holds to (the SDK asks for more only when forced).
  if (hw.walltime > MAX_WALLTIME_HOURS) throw fail(WALLTIME_RANGE_MESSAGE, "hardware", "walltime");
  for (const ref of entry.inputFiles) {
    if (!store.file(ref.id)) throw fail(`Invalid file id "${ref.id}": no such file.`, "inputFiles");
  }
}

/** Cores a job holds while it runs. */
export function coresOf(spec: JobSpec): number {
  return spec.jobanalyses[0]!.hardware.coresPerSlot;
}

export function walltimeHoursOf(spec: JobSpec): number {
  return Math.max(...spec.jobanalyses.map((ja) => ja.hardware.walltime));
}
