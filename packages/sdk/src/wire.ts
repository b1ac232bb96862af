/**
 * THE description of what client and platform both spell: the job create body (`POST /api/v2/jobs/`), the
 * names of statuses and priorities, the log file name and the walltime ceiling. The SDK builds its job body
 * against it (`toJobBody`) and the local platform validates incoming bodies with it, with the same messages,
 * so the client and the imitation cannot drift apart. (Responses are described in schemas.ts.)
 */
import { z } from "zod";

/** Every Rescale job writes its command's stdout and stderr here. */
export const PROCESS_OUTPUT_LOG = "process_output.log";

/** Rescale's usual walltime ceiling in hours (14 days); the SDK asks for more only with `{ force: true }`. */
export const MAX_WALLTIME_HOURS = 336;

/** A job's statuses in the order a run passes through them (`/api/v2/jobs/<id>/statuses/`). */
export const JOB_STATUSES = [
  "Pending",
  "Queued",
  "Started",
  "Validated",
  "Executing",
  "Stopping",
  "Completed",
] as const;
export type JobStatusName = (typeof JOB_STATUSES)[number];

/** Statuses Rescale also reports besides that path (rescale-api.md); the local platform never writes them. */
export const OTHER_JOB_STATUSES = ["Waiting for Cluster", "Waiting for Queue", "Force Stop"] as const;
export type OtherJobStatusName = (typeof OTHER_JOB_STATUSES)[number];

/** A job's cluster statuses (`/api/v2/jobs/<id>/cluster_statuses/`). */
export const CLUSTER_STATUSES = [
  "Not Started",
  "Starting",
  "Started",
  "Stop Requested",
  "Stopping",
  "Stopped",
] as const;
export type ClusterStatusName = (typeof CLUSTER_STATUSES)[number];

/**
 * The reasons Rescale writes on a job's Stopping entry for how it ended (rescale-api.md): the command failed,
 * or a user stopped it.
 */
export const STOPPING_REASONS = { runFailed: "A run failed", userTerminated: "User Terminated" } as const;

/** `billingPriorityValue`: On-Demand Priority, On-Demand Economy, On-Demand Reserved. */
export const BILLING_PRIORITY_VALUES = ["INSTANT", "ON_DEMAND", "RESERVED"] as const;
export type BillingPriorityValue = (typeof BILLING_PRIORITY_VALUES)[number];

/** `hardware.type`: a batch job, or a workstation (interactive job). */
export const HARDWARE_TYPES = ["compute", "interactive"] as const;
export type HardwareType = (typeof HARDWARE_TYPES)[number];

/** The one message for a walltime outside 1..MAX_WALLTIME_HOURS whole hours. */
export const WALLTIME_RANGE_MESSAGE = `Must be between 1 and ${MAX_WALLTIME_HOURS} hours.`;

const REQUIRED = "This field is required.";
const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An optional field: absent or null reads as `fallback`. */
const orDefault = <S extends z.ZodTypeAny>(schema: S, fallback: z.output<S>) =>
  schema.nullish().transform((value): z.output<S> => value ?? fallback);
/** An optional field: absent reads as null. */
const orNull = <S extends z.ZodTypeAny>(schema: S) =>
  schema.nullish().transform((value): z.output<S> | null => value ?? null);

const isDictionary = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Walltime in whole HOURS (never seconds); the ceiling is the platform's (see WALLTIME_RANGE_MESSAGE). */
const walltimeHoursField = z
  .number({
    errorMap: (issue, ctx) => ({
      message:
        issue.code === "invalid_type" && (ctx.data === undefined || ctx.data === null)
          ? "This field is required (hours)."
          : "A valid integer is required (whole hours).",
    }),
  })
  .int("A valid integer is required (whole hours).")
  .min(1, WALLTIME_RANGE_MESSAGE);

const jobHardwareBodySchema = z.object({
  coreType: z.string(),
  /** Cores per node: one of the core type's `cores`. */
  coresPerSlot: z.number().int().positive("Ensure this value is greater than or equal to 1."),
  /** Nodes. */
  slots: orDefault(z.number().int().positive("Ensure this value is greater than or equal to 1."), 1),
  walltime: walltimeHoursField,
  type: orDefault(z.enum(HARDWARE_TYPES), "compute"),
});

const jobAnalysisBodySchema = z
  .object({
    /** `version` is the analysis `versionCode`, not its display version. */
    analysis: z.object({ code: z.string(), version: z.union([z.string(), z.number()]).transform(String) }),
    command: orDefault(z.string(), ""),
    hardware: jobHardwareBodySchema,
    /** Zip inputs are unpacked in the working directory unless `decompress` is false. */
    inputFiles: orDefault(
      z.array(z.object({ id: z.string(), decompress: orDefault(z.boolean(), true) })),
      [],
    ),
    envVars: orDefault(
      z.custom<Record<string, string>>(
        (value) =>
          isDictionary(value) &&
          Object.entries(value).every(([name, v]) => ENV_VAR_NAME.test(name) && typeof v === "string"),
        { message: "Must map variable names to string values." },
      ),
      {},
    ),
    flags: orDefault(z.record(z.unknown()), {}),
  })
  .superRefine((entry, ctx) => {
    if (entry.hardware.type === "compute" && entry.command.trim() === "") {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["command"],
        message: "This field may not be blank.",
      });
    }
  });

/** The body of `POST /api/v2/jobs/`, Rescale's casing (docs/cli.md shows one). */
export const jobBodySchema = z
  .object({
    name: z.string().refine((name) => name.trim() !== "", REQUIRED),
    jobanalyses: z.array(jobAnalysisBodySchema).min(1, REQUIRED),
    billingPriorityValue: orNull(z.enum(BILLING_PRIORITY_VALUES)),
    isLowPriority: orDefault(z.boolean(), false),
    projectId: orNull(z.string()),
    /** Who may connect, e.g. "203.0.113.7/32". */
    cidrRule: orNull(z.string()),
    publicKey: orNull(z.string()),
    sshPort: orNull(z.number().int()),
  })
  .superRefine((body, ctx) => {
    const first = body.jobanalyses[0]?.hardware;
    body.jobanalyses.forEach((entry, index) => {
      if (entry.hardware.coreType !== first?.coreType || entry.hardware.coresPerSlot !== first.coresPerSlot) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["jobanalyses", index, "hardware", "coreType"],
          message: "Every analysis of a job runs on the same hardware.",
        });
      }
    });
  });

/** A job body as a client writes it. */
export type JobBody = z.input<typeof jobBodySchema>;
/** A job body after validation: defaults filled in, unknown fields dropped. */
export type ValidJobBody = z.output<typeof jobBodySchema>;

/** One thing wrong with a body: the field's path (Rescale's keys and list indexes) and its message. */
export interface BodyProblem {
  path: string[];
  message: string;
}

/** Django REST Framework's words for a value of the wrong type. */
const bodyErrorMap: z.ZodErrorMap = (issue, ctx) => {
  if (issue.code === z.ZodIssueCode.invalid_type) {
    if (issue.received === "undefined" || issue.received === "null") return { message: REQUIRED };
    if (issue.expected === "number" || issue.expected === "integer")
      return { message: "A valid integer is required." };
    if (issue.expected === "object") return { message: "Invalid data. Expected a dictionary." };
    if (issue.expected === "array") return { message: "Expected a list of items." };
    if (issue.expected === "boolean") return { message: "Must be a valid boolean." };
    return { message: "Not a valid string." };
  }
  if (issue.code === z.ZodIssueCode.invalid_enum_value) {
    return { message: `"${String(issue.received)}" is not a valid choice.` };
  }
  return { message: ctx.defaultError };
};

/**
 * Checks a job body against the wire description: the validated body, or the problems found (one per field). A problem with a
 * whole object (the body, one of `jobanalyses`) is filed under `non_field_errors`, as Django REST Framework does.
 */
export function checkJobBody(
  body: unknown,
): { ok: true; body: ValidJobBody } | { ok: false; problems: BodyProblem[] } {
  const result = jobBodySchema.safeParse(body, { errorMap: bodyErrorMap });
  if (result.success) return { ok: true, body: result.data };
  // Like Django REST Framework: every field's problem, but only the first of each field (0.5 h is "not whole
  // hours", not also "under 1 hour").
  const problems: BodyProblem[] = [];
  const seen = new Set<string>();
  for (const issue of result.error.issues) {
    const path = issue.path.map(String);
    const wholeObject = path.length === 0 || typeof issue.path[issue.path.length - 1] === "number";
    const key = path.join("\u0000");
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ path: wholeObject ? [...path, "non_field_errors"] : path, message: issue.message });
  }
  return { ok: false, problems };
}

/**
 * The 400 body for these problems in Rescale's nested shape, e.g.
 * `{"jobanalyses": [{"hardware": {"coresPerSlot": ["..."]}}]}` (earlier list entries without problems are `{}`).
 */
export function fieldErrorBody(problems: readonly BodyProblem[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const { path, message } of problems) {
    let node = root as Record<string, unknown>;
    path.forEach((key, depth) => {
      if (depth === path.length - 1) {
        node[key] = [...((node[key] as string[] | undefined) ?? []), message];
        return;
      }
      const nextIsIndex = /^\d+$/.test(path[depth + 1] ?? "");
      node[key] ??= nextIsIndex ? [] : {};
      node = node[key] as Record<string, unknown>;
    });
  }
  return fillListHoles(root) as Record<string, unknown>;
}

function fillListHoles(value: unknown): unknown {
  if (Array.isArray(value))
    return Array.from(value, (item) => (item === undefined ? {} : fillListHoles(item)));
  if (isDictionary(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillListHoles(v)]));
  return value;
}
