import { type ApiError, badRequest, jobFieldError } from "./api/errors.js";
import type { Analysis, CoreType } from "./catalog.js";
import type { Store } from "./store/db.js";

export interface InputFileRef {
  id: string;
  decompress: boolean;
}

export interface JobAnalysisSpec {
  analysis: { code: string; version: string };
  command: string;
  hardware: {
    coreType: string;
    coresPerSlot: number;
    slots: number;
    walltime: number;
    type: "compute" | "interactive";
  };
  inputFiles: InputFileRef[];
  envVars: Record<string, string>;
  flags: Record<string, unknown>;
}

/** A job create request after validation: what is stored and what the executor runs. */
export interface JobSpec {
  name: string;
  jobanalyses: JobAnalysisSpec[];
  isLowPriority: boolean;
  billingPriorityValue: string | null;
  projectId: string | null;
  cidrRule: string | null;
  publicKey: string | null;
  sshPort: number | null;
}

export interface CatalogView {
  coreTypes: CoreType[];
  analyses: Analysis[];
  /** Cores the scheduler can hand out at once. */
  capacity: number;
}

const PRIORITIES = ["INSTANT", "ON_DEMAND", "RESERVED"];
const MAX_WALLTIME_HOURS = 24 * 14;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function optionalString(body: Record<string, unknown>, key: string): string | null {
  const v = body[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw badRequest({ [key]: ["Not a valid string."] });
  return v;
}

/** Validates a `POST /api/v2/jobs/` body; every rejection is a 400 with Rescale's nested field map. */
export function parseJobSpec(body: unknown, catalog: CatalogView, store: Store): JobSpec {
  if (!isObject(body)) throw badRequest({ non_field_errors: ["Invalid data. Expected a dictionary."] });
  const name = body.name;
  if (typeof name !== "string" || name.trim() === "") throw badRequest({ name: ["This field is required."] });
  const list = body.jobanalyses;
  if (!Array.isArray(list) || list.length === 0)
    throw badRequest({ jobanalyses: ["This field is required."] });
  const jobanalyses = list.map((entry, i) => parseJobAnalysis(entry, i, catalog, store));
  const first = jobanalyses[0]!.hardware;
  jobanalyses.forEach((ja, i) => {
    if (ja.hardware.coreType !== first.coreType || ja.hardware.coresPerSlot !== first.coresPerSlot) {
      throw jobFieldError(
        ["jobanalyses", String(i), "hardware", "coreType"],
        "Every analysis of a job runs on the same hardware.",
      );
    }
  });
  const priority = optionalString(body, "billingPriorityValue");
  if (priority !== null && !PRIORITIES.includes(priority)) {
    throw badRequest({ billingPriorityValue: [`"${priority}" is not a valid choice.`] });
  }
  const sshPort = body.sshPort;
  if (sshPort !== undefined && sshPort !== null && !Number.isInteger(sshPort)) {
    throw badRequest({ sshPort: ["A valid integer is required."] });
  }
  return {
    name,
    jobanalyses,
    isLowPriority: body.isLowPriority === true,
    billingPriorityValue: priority,
    projectId: optionalString(body, "projectId"),
    cidrRule: optionalString(body, "cidrRule"),
    publicKey: optionalString(body, "publicKey"),
    sshPort: (sshPort as number | null | undefined) ?? null,
  };
}

function parseJobAnalysis(
  entry: unknown,
  index: number,
  catalog: CatalogView,
  store: Store,
): JobAnalysisSpec {
  const at = (...path: string[]) => ["jobanalyses", String(index), ...path];
  const fail = (message: string, ...path: string[]): ApiError => jobFieldError(at(...path), message);
  if (!isObject(entry)) throw fail("Invalid data. Expected a dictionary.", "non_field_errors");

  const analysisIn = entry.analysis;
  if (!isObject(analysisIn) || typeof analysisIn.code !== "string")
    throw fail("This field is required.", "analysis", "code");
  const analysis = catalog.analyses.find((a) => a.code === analysisIn.code);
  if (!analysis) throw fail(`Unknown analysis code "${analysisIn.code}".`, "analysis", "code");
  const version = analysis.versions.find((v) => v.versionCode === String(analysisIn.version));
  if (!version) throw fail("The specified version is not available.", "analysis", "version");

  const hw = entry.hardware;
  if (!isObject(hw)) throw fail("This field is required.", "hardware");
  const coreType = catalog.coreTypes.find((t) => t.code === hw.coreType);
  if (!coreType) throw fail(`Unknown core type "${String(hw.coreType)}".`, "hardware", "coreType");
  if (!version.allowedCoreTypes.includes(coreType.code)) {
    throw fail(
      `Core type "${coreType.code}" is not allowed for this analysis version.`,
      "hardware",
      "coreType",
    );
  }
  const cores = hw.coresPerSlot;
  if (!Number.isInteger(cores) || !coreType.cores.includes(cores as number)) {
    throw fail(
      `Must be one of ${coreType.cores.join(", ")} for core type "${coreType.code}".`,
      "hardware",
      "coresPerSlot",
    );
  }
  if ((cores as number) > catalog.capacity) {
    throw fail(
      `This machine runs at most ${catalog.capacity} cores at once; "${coreType.code}" is an emulated core type.`,
      "hardware",
      "coresPerSlot",
    );
  }
  const slots = hw.slots ?? 1;
  if (slots !== 1) throw fail("The local platform runs one node: slots must be 1.", "hardware", "slots");
  const walltime = hw.walltime;
  if (walltime === undefined || walltime === null)
    throw fail("This field is required (hours).", "hardware", "walltime");
  if (!Number.isInteger(walltime))
    throw fail("A valid integer is required (whole hours).", "hardware", "walltime");
  if ((walltime as number) < 1 || (walltime as number) > MAX_WALLTIME_HOURS) {
    throw fail(`Must be between 1 and ${MAX_WALLTIME_HOURS} hours.`, "hardware", "walltime");
  }
  const type = hw.type ?? "compute";
  if (type !== "compute" && type !== "interactive")
    throw fail(`"${String(type)}" is not a valid choice.`, "hardware", "type");

  const command = entry.command ?? "";
  if (typeof command !== "string") throw fail("Not a valid string.", "command");
  if (type === "compute" && command.trim() === "") throw fail("This field may not be blank.", "command");

  const inputFiles = parseInputFiles(entry.inputFiles, (message) => fail(message, "inputFiles"), store);

  const envVars = entry.envVars ?? {};
  if (
    !isObject(envVars) ||
    !Object.entries(envVars).every(([k, v]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && typeof v === "string")
  ) {
    throw fail("Must map variable names to string values.", "envVars");
  }
  const flags = entry.flags ?? {};
  if (!isObject(flags)) throw fail("Invalid data. Expected a dictionary.", "flags");

  return {
    analysis: { code: analysis.code, version: version.versionCode },
    command,
    hardware: {
      coreType: coreType.code,
      coresPerSlot: cores as number,
      slots: 1,
      walltime: walltime as number,
      type,
    },
    inputFiles,
    envVars: envVars as Record<string, string>,
    flags,
  };
}

function parseInputFiles(value: unknown, fail: (message: string) => ApiError, store: Store): InputFileRef[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw fail("Expected a list of items.");
  return value.map((ref) => {
    if (!isObject(ref) || typeof ref.id !== "string") throw fail('Each input file needs an "id".');
    if (!store.file(ref.id)) throw fail(`Invalid file id "${ref.id}": no such file.`);
    return { id: ref.id, decompress: ref.decompress !== false };
  });
}

/** Cores a job holds while it runs. */
export function coresOf(spec: JobSpec): number {
  return spec.jobanalyses[0]!.hardware.coresPerSlot;
}

export function walltimeHoursOf(spec: JobSpec): number {
  return Math.max(...spec.jobanalyses.map((ja) => ja.hardware.walltime));
}
