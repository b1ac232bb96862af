/**
 * Response schemas at the boundary. Each keeps unknown fields (`passthrough`) and tolerates the documented
 * variations: prices as strings, missing optional fields, ids as numbers or strings, dates without a zone.
 */
import { z } from "zod";

/** A number that may arrive as a string ("12.000"); empty/null become null. */
const numberish = z.union([z.number(), z.string(), z.null()]).transform((value, ctx): number | null => {
  if (value === null) return null;
  if (typeof value === "number") return value;
  const text = value.trim();
  if (text === "") return null;
  const parsed = Number(text);
  if (Number.isNaN(parsed)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a number, got "${value}"` });
    return z.NEVER;
  }
  return parsed;
});

const id = z.union([z.string(), z.number()]).transform(String);

/**
 * Parses Rescale's date strings. A string without a zone ("2017-01-02T03:04:05.123", "2017-01-02 03:04:05")
 * is taken as UTC. Returns null for empty or unparseable text.
 */
export function parseRescaleDate(text: string): Date | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const isoLike = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(trimmed);
  const normalized = isoLike
    ? `${trimmed.replace(" ", "T")}${trimmed.length > 10 ? "Z" : "T00:00:00Z"}`
    : trimmed;
  const date = new Date(normalized);
  return Number.isNaN(date.getTime()) ? null : date;
}

const lenientDate = z
  .union([z.string(), z.null(), z.undefined()])
  .transform((value) => (typeof value === "string" ? parseRescaleDate(value) : null));

export const pageSchema = <T extends z.ZodTypeAny>(item: T) =>
  z
    .object({
      count: z.number().int().nonnegative().optional(),
      next: z.string().nullable().optional(),
      previous: z.string().nullable().optional(),
      results: z.array(item),
    })
    .passthrough();

export const coreTypeSchema = z
  .object({
    code: z.string(),
    name: z.string(),
    /** Allowed cores per node. */
    cores: z.array(z.coerce.number().int().positive()),
    /** MB (MiB) per core. */
    memory: numberish,
    /** GB per core. */
    storage: numberish,
    /** On-demand (priority) price per core-hour, platform currency. Missing in v3. */
    price: numberish.optional().transform((v) => v ?? null),
    /** On-demand economy price per core-hour; a string in v2. */
    lowPriorityPrice: numberish.optional().transform((v) => v ?? null),
    isDeprecated: z.boolean().optional().default(false),
    isActive: z.boolean().optional(),
    walltimeRequired: z.boolean().optional(),
    hasSsd: z.boolean().optional(),
    remoteVizAllowed: z.boolean().optional(),
    displayOrder: z.number().nullable().optional(),
    io: z.string().nullable().optional(),
    storageIo: z.string().nullable().optional(),
    processorInfo: z.string().nullable().optional(),
    isPrimary: z.boolean().optional(),
    compute: z.union([z.string(), z.number()]).nullable().optional(),
    description: z.string().nullable().optional(),
    /** Shape UNCONFIRMED: a number, or an array aligned with `cores`. */
    gpuCounts: z.union([z.array(z.coerce.number()), z.number(), z.null()]).optional(),
    categoryCodes: z.array(z.string()).optional(),
  })
  .passthrough();
export type CoreType = z.infer<typeof coreTypeSchema>;

export const computePriceSchema = z
  .object({
    coreType: z.union([z.string(), z.object({ code: z.string() }).passthrough()]),
    value: z.object({ amount: numberish }).passthrough(),
    planType: z.string().nullable().optional(),
    os: z.string().nullable().optional(),
    isActive: z.boolean().optional(),
  })
  .passthrough();
export type ComputePrice = z.infer<typeof computePriceSchema>;

export const analysisVersionSchema = z
  .object({
    version: z
      .string()
      .nullable()
      .transform((v) => v ?? ""),
    versionCode: z.union([z.string(), z.number()]).transform(String),
    allowedCoreTypes: z.array(z.string()).optional(),
    stdCommand: z.string().nullable().optional(),
    mpiCommand: z.string().nullable().optional(),
  })
  .passthrough();
export type AnalysisVersion = z.infer<typeof analysisVersionSchema>;

export const analysisSchema = z
  .object({
    code: z.string(),
    name: z.string(),
    description: z.string().nullable().optional(),
    versions: z.array(analysisVersionSchema).optional().default([]),
    vendorName: z.string().nullable().optional(),
    hasRescaleLicense: z.boolean().optional(),
  })
  .passthrough();
export type Analysis = z.infer<typeof analysisSchema>;

export const fileChecksumSchema = z.object({ hashFunction: z.string(), fileHash: z.string() }).passthrough();

export const rescaleFileSchema = z
  .object({
    id,
    name: z.string(),
    typeId: z.number().optional(),
    dateUploaded: lenientDate.optional(),
    /** Bytes. */
    decryptedSize: numberish.optional(),
    md5: z.string().nullable().optional(),
    isUploaded: z.boolean().optional(),
    isDeleted: z.boolean().optional(),
    downloadUrl: z.string().nullable().optional(),
    path: z.string().nullable().optional(),
    relativePath: z.string().nullable().optional(),
    owner: z.unknown().optional(),
    fileChecksums: z.array(fileChecksumSchema).optional(),
  })
  .passthrough();
export type RescaleFile = z.infer<typeof rescaleFileSchema>;

export const fileLinesSchema = z.union([
  z.object({ lines: z.array(z.string()) }).passthrough(),
  z.array(z.string()).transform((lines) => ({ lines })),
]);

const hardwareSchema = z
  .object({
    coreType: z.union([z.string(), z.object({ code: z.string() }).passthrough()]).optional(),
    coresPerSlot: z.coerce.number().optional(),
    slots: z.coerce.number().optional(),
    walltime: z.coerce.number().nullable().optional(),
    type: z.string().nullable().optional(),
  })
  .passthrough();

export const jobAnalysisSchema = z
  .object({
    analysis: z
      .object({ code: z.string(), version: z.union([z.string(), z.number()]).nullable().optional() })
      .passthrough(),
    command: z.string().nullable().optional(),
    hardware: hardwareSchema.optional(),
    inputFiles: z.array(z.object({ id, decompress: z.boolean().optional() }).passthrough()).optional(),
    envVars: z.record(z.unknown()).nullable().optional(),
    flags: z.record(z.unknown()).nullable().optional(),
  })
  .passthrough();

export const jobSchema = z
  .object({
    id,
    name: z.string(),
    jobanalyses: z.array(jobAnalysisSchema).optional().default([]),
    isLowPriority: z.boolean().nullable().optional(),
    billingPriorityValue: z.string().nullable().optional(),
    projectId: z.string().nullable().optional(),
    cidrRule: z.string().nullable().optional(),
    publicKey: z.string().nullable().optional(),
    sshPort: z.coerce.number().nullable().optional(),
    dateInserted: lenientDate.optional(),
    jobStatus: z.unknown().optional(),
  })
  .passthrough();
export type Job = z.infer<typeof jobSchema>;

export const jobStatusSchema = z
  .object({
    status: z.string(),
    statusDate: lenientDate,
    statusReason: z.string().nullable().optional(),
  })
  .passthrough();
export type JobStatusEntry = z.infer<typeof jobStatusSchema>;

export const clusterStatusSchema = z
  .object({
    status: z.string(),
    statusDate: lenientDate.optional(),
    statusReason: z.string().nullable().optional(),
  })
  .passthrough();
export type ClusterStatusEntry = z.infer<typeof clusterStatusSchema>;

export const runSchema = z.object({ id }).passthrough();
export type Run = z.infer<typeof runSchema>;

export const directoryEntrySchema = z.record(z.unknown());
export type DirectoryEntry = z.infer<typeof directoryEntrySchema>;

export const tailSchema = z
  .object({ fileType: z.string().nullable().optional(), lines: z.array(z.string()) })
  .passthrough();
export type TailResult = z.infer<typeof tailSchema>;

export const instanceSchema = z
  .object({
    clusterId: id.optional(),
    publicHostname: z.string().nullable().optional(),
    publicIp: z.string().nullable().optional(),
    username: z.string().nullable().optional(),
    sshPort: z.coerce.number().nullable().optional(),
    role: z.string().nullable().optional(),
  })
  .passthrough();
export type Instance = z.infer<typeof instanceSchema>;

/** A project (`/api/v2/users/me/projects/`); only `id` and `name` are relied on (the rest UNCONFIRMED). */
export const projectSchema = z
  .object({ id, name: z.string().nullable().optional(), code: z.string().nullable().optional() })
  .passthrough();
export type Project = z.infer<typeof projectSchema>;

export const desktopPasswordSchema = z.object({ data: z.string() }).passthrough();

/**
 * The JSON a platform sends for a schema's object: its input side (before the SDK's coercions), without the
 * `passthrough` index signatures, so a platform (the local one) can type what it serves by the same description
 * the SDK parses with. Extra fields stay allowed where the value is not a fresh object literal.
 */
export type Wire<S extends z.ZodTypeAny> = Exact<z.input<S>>;
type Exact<T> = T extends readonly (infer Item)[]
  ? Exact<Item>[]
  : T extends object
    ? { [K in keyof T as string extends K ? never : K]: Exact<T[K]> }
    : T;
