/**
 * Jobs: create (idempotent through a client token), submit (checked before any repeat), get, list,
 * statuses, cluster statuses, stop, delete, output files, runs, tail, instances.
 */
import { randomBytes } from "node:crypto";
import { BILLING_PRIORITY_VALUE } from "../compare.js";
import {
  ConnectionError,
  flattenFieldErrors,
  RateLimitError,
  RescaleError,
  ServerError,
  TimeoutError,
  ValidationError,
} from "../errors.js";
import { collect, ListResource, type PageOptions, paginate, type Query } from "../paginate.js";
import {
  type ClusterStatusEntry,
  clusterStatusSchema,
  type DirectoryEntry,
  desktopPasswordSchema,
  directoryEntrySchema,
  type Instance,
  instanceSchema,
  type Job,
  type JobStatusEntry,
  jobSchema,
  jobStatusSchema,
  type RescaleFile,
  type Run,
  rescaleFileSchema,
  runSchema,
  type TailResult,
  tailSchema,
} from "../schemas.js";
import { abortableSleep } from "../sleep.js";
import type { Transport } from "../transport.js";
import { type Walltime, walltimeHours } from "../walltime.js";
import { checkJobBody, fieldErrorBody, type JobBody } from "../wire.js";

export type PriorityTierName = keyof typeof BILLING_PRIORITY_VALUE;

export interface SoftwareSpec {
  /** Analysis code, e.g. `user_included`, `miniconda_e2e`. */
  code: string;
  /** The analysis `versionCode` (not the display version; see `analyses.resolveVersion`). */
  version: string;
}

export interface JobHardware {
  /** Core type code, e.g. `emerald`. */
  coreType: string;
  /** Cores per node (`coresPerSlot`): must be one of the core type's `cores`. */
  cores: number;
  /** Nodes; default 1. */
  slots?: number;
  /** Whole hours (a number) or a parsed walltime. Sent in HOURS. */
  walltime: Walltime | number;
  /** "compute" (batch, default) or "interactive" (a workstation). */
  type?: "compute" | "interactive";
}

export interface JobInputFile {
  id: string;
  /** Zip inputs are unpacked in the working directory unless false. */
  decompress?: boolean;
}

export interface CreateJobRequest {
  name: string;
  /** One software tile, or several (e.g. a workstation with a browser and Miniconda). */
  analysis: SoftwareSpec | SoftwareSpec[];
  command?: string;
  hardware: JobHardware;
  /** File ids (decompressed by default) or `{id, decompress}`. */
  inputFiles?: Array<string | JobInputFile>;
  envVars?: Record<string, string>;
  flags?: Record<string, unknown>;
  /** Default "onDemandPriority" (`billingPriorityValue: INSTANT`). */
  priority?: PriorityTierName;
  /** Who may connect, e.g. "203.0.113.7/32". */
  cidrRule?: string;
  projectId?: string;
  publicKey?: string;
  sshPort?: number;
}

export interface CreateJobOptions {
  signal?: AbortSignal;
  /**
   * Token appended to the job name (` [rr-…]`) so that a create whose answer was lost can be found instead of
   * repeated. Default: a fresh random token. `false` disables the tag (and any repeat after a lost answer).
   */
  clientToken?: string | false;
  /** Attempts after a lost answer. Default 3. */
  retries?: number;
  /** Delay between those attempts. Default 1 s (doubling). */
  retryDelayMs?: number;
}

export interface JobListOptions extends PageOptions {
  state?: "completed" | "not_completed";
  /** A status name ("Executing") or the API's upper snake form ("EXECUTING"). */
  jobStatus?: string;
}

const JOBS = "/api/v2/jobs/";
const TOKEN_TAG = /\s\[(rr-[0-9a-f]{10,32})\]$/;
/**
 * Statuses a job may show before `submit` took effect. On Rescale a saved, unsubmitted job has NO status and
 * `Pending` is the first status after submit, so `Pending` means submitted. "Created"/"Saved" are tolerated
 * as unsubmitted in case a platform lists them (UNCONFIRMED, see docs/sdk.md).
 */
const UNSUBMITTED_STATUSES = new Set(["created", "saved"]);

export function newClientToken(): string {
  return `rr-${randomBytes(8).toString("hex")}`;
}

/** The client token a job name carries, if any. */
export function clientTokenOf(name: string): string | undefined {
  return TOKEN_TAG.exec(name)?.[1];
}

/** The job name without its client-token tag. */
export function stripClientToken(name: string): string {
  return name.replace(TOKEN_TAG, "");
}

/**
 * The wire body of `POST /api/v2/jobs/` for a typed request (walltime in whole hours), checked against the wire
 * description (wire.ts) before it is sent: a body the platform would refuse is refused here, with its words.
 */
export function toJobBody(request: CreateJobRequest, clientToken?: string): JobBody {
  if (!request.name?.trim())
    throw new ValidationError("A job needs a name.", {
      fieldErrors: [{ path: "name", message: "required" }],
    });
  const { hardware } = request;
  if (!Number.isInteger(hardware.cores) || hardware.cores <= 0) {
    throw new ValidationError(`Cores must be a positive whole number, got ${hardware.cores}.`, {
      fieldErrors: [{ path: "hardware.cores", message: "positive integer required" }],
    });
  }
  const slots = hardware.slots ?? 1;
  if (!Number.isInteger(slots) || slots <= 0) {
    throw new ValidationError(`Slots must be a positive whole number, got ${slots}.`, {
      fieldErrors: [{ path: "hardware.slots", message: "positive integer required" }],
    });
  }
  const analyses = Array.isArray(request.analysis) ? request.analysis : [request.analysis];
  if (analyses.length === 0) throw new ValidationError("A job needs at least one analysis (software).");
  const wireHardware = {
    coreType: hardware.coreType,
    coresPerSlot: hardware.cores,
    slots,
    walltime: walltimeHours(hardware.walltime),
    type: hardware.type ?? "compute",
  };
  const inputFiles = (request.inputFiles ?? []).map((file) =>
    typeof file === "string"
      ? { id: file, decompress: true }
      : { id: file.id, decompress: file.decompress ?? true },
  );
  const jobanalyses = analyses.map((software, index) => ({
    analysis: { code: software.code, version: software.version },
    command: request.command ?? "",
    hardware: wireHardware,
    inputFiles: index === 0 ? inputFiles : [],
    envVars: request.envVars ?? {},
    ...(request.flags ? { flags: request.flags } : {}),
  }));
  const priority = request.priority ?? "onDemandPriority";
  const body: JobBody = {
    name: clientToken ? `${request.name} [${clientToken}]` : request.name,
    jobanalyses,
    billingPriorityValue: BILLING_PRIORITY_VALUE[priority],
    isLowPriority: priority === "onDemandEconomy",
  };
  if (request.cidrRule !== undefined) body.cidrRule = request.cidrRule;
  if (request.projectId !== undefined) body.projectId = request.projectId;
  if (request.publicKey !== undefined) body.publicKey = request.publicKey;
  if (request.sshPort !== undefined) body.sshPort = request.sshPort;
  const checked = checkJobBody(body);
  if (!checked.ok) {
    // The same field errors a platform's 400 would carry (errorFromResponse flattens the same nested body).
    const fieldErrors = flattenFieldErrors(fieldErrorBody(checked.problems));
    const summary = fieldErrors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join("; ");
    throw new ValidationError(`The job body is invalid: ${summary}`, { fieldErrors });
  }
  return body;
}

interface SendOnceOptions<T> {
  send: () => Promise<T>;
  /** Whether the lost request took effect: `{ value }` when it did, undefined when it provably did not. */
  lookUp: () => Promise<{ value: T } | undefined>;
  retries?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/**
 * Sends a non-idempotent request at most once per confirmed failure: after a lost answer (timeout, reset, 5xx)
 * it looks the effect up, and sends again only when the lookup proves nothing happened. A lookup that itself
 * fails is repeated, never taken as "nothing happened".
 */
async function sendOnce<T>(options: SendOnceOptions<T>): Promise<T> {
  const maxSends = (options.retries ?? 3) + 1;
  let delay = options.retryDelayMs ?? 1000;
  let lookupFailures = 0;
  for (let sends = 1; ; sends++) {
    let lastError: unknown;
    try {
      return await options.send();
    } catch (error) {
      if (!outcomeUnknown(error)) throw error;
      lastError = error;
    }
    for (;;) {
      await abortableSleep(delay, options.signal);
      delay = Math.min(delay * 2, 30_000);
      try {
        const found = await options.lookUp();
        if (found) return found.value;
        break;
      } catch (lookupError) {
        if (!outcomeUnknown(lookupError) && !(lookupError instanceof RateLimitError)) throw lookupError;
        if (++lookupFailures > maxSends * 2) throw lastError;
      }
    }
    if (sends >= maxSends) throw lastError;
  }
}

/** Failures after which the server may or may not have acted (the answer was lost). */
function outcomeUnknown(error: unknown): boolean {
  return error instanceof TimeoutError || error instanceof ServerError || error instanceof ConnectionError;
}

/** Upper snake status filter: "Waiting for Queue" -> "WAITING_FOR_QUEUE". */
export function toStatusFilter(status: string): string {
  return status
    .trim()
    .replace(/[\s-]+/g, "_")
    .toUpperCase();
}

/** Newest first by `statusDate` (entries without a date keep their place after dated ones). */
export function newestFirst<T extends { statusDate?: Date | null }>(entries: readonly T[]): T[] {
  return entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => {
      const ta = a.entry.statusDate?.getTime();
      const tb = b.entry.statusDate?.getTime();
      if (ta === undefined || tb === undefined || ta === tb) return a.index - b.index;
      return tb - ta;
    })
    .map(({ entry }) => entry);
}

/** A directory-contents entry's path relative to the run's directory (`path`, else the tail `resource` URL). */
function entryPath(entry: DirectoryEntry): string | undefined {
  const raw = typeof entry.path === "string" ? entry.path : undefined;
  if (raw) return raw.replace(/^\/+/, "");
  const resource = typeof entry.resource === "string" ? entry.resource : undefined;
  const m = resource ? /\/tail\/(.+?)\/?(\?.*)?$/.exec(resource) : null;
  return m?.[1] ? decodeURIComponent(m[1]) : undefined;
}

export class JobsResource extends ListResource<typeof jobSchema, JobListOptions> {
  constructor(transport: Transport) {
    super(transport, JOBS, jobSchema);
  }

  protected override pageOptions(options: JobListOptions): PageOptions {
    const query: Query = { ...options.query };
    if (options.state) query.state = options.state;
    if (options.jobStatus) query.job_status = toStatusFilter(options.jobStatus);
    return { ...options, query };
  }

  /**
   * Creates (saves, does not start) a job. Never blindly repeated: when the answer is lost (timeout, reset,
   * 5xx) the job is looked up by its client token, and only re-sent if it does not exist.
   */
  async create(request: CreateJobRequest, options: CreateJobOptions = {}): Promise<Job> {
    const token = options.clientToken === false ? undefined : (options.clientToken ?? newClientToken());
    const body = toJobBody(request, token);
    const send = () =>
      this.transport.requestAs(jobSchema, {
        method: "POST",
        path: JOBS,
        body,
        idempotent: false,
        signal: options.signal,
      });
    if (!token) return send();
    return sendOnce({
      send,
      lookUp: async () => {
        const job = await this.findByClientToken(token, { signal: options.signal });
        return job ? { value: job } : undefined;
      },
      retries: options.retries,
      retryDelayMs: options.retryDelayMs,
      signal: options.signal,
    });
  }

  /** The not-completed job whose name carries `token`, if any. */
  async findByClientToken(token: string, options: { signal?: AbortSignal } = {}): Promise<Job | undefined> {
    for await (const job of this.iterate({ state: "not_completed", pageSize: 100, signal: options.signal })) {
      if (clientTokenOf(job.name) === token) return job;
    }
    return undefined;
  }

  /**
   * Starts a created job. After a lost answer it checks the job's statuses and only sends again when the
   * job is provably not submitted.
   */
  async submit(
    jobId: string,
    options: { signal?: AbortSignal; retries?: number; retryDelayMs?: number } = {},
  ): Promise<void> {
    const path = `${this.jobPath(jobId)}submit/`;
    await sendOnce({
      send: async () => {
        await this.transport.request({ method: "POST", path, idempotent: false, signal: options.signal });
      },
      lookUp: async () => {
        const statuses = await this.statuses(jobId, { signal: options.signal });
        const submitted = statuses.some((entry) => !UNSUBMITTED_STATUSES.has(entry.status.toLowerCase()));
        return submitted ? { value: undefined } : undefined;
      },
      retries: options.retries,
      retryDelayMs: options.retryDelayMs,
      signal: options.signal,
    });
  }

  async get(jobId: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    const path = this.jobPath(jobId);
    return await this.transport.requestAs(jobSchema, { method: "GET", path, signal: options.signal });
  }

  /** All status entries, newest first. */
  async statuses(jobId: string, options: { signal?: AbortSignal } = {}): Promise<JobStatusEntry[]> {
    const items = paginate(this.transport, `${this.jobPath(jobId)}statuses/`, jobStatusSchema, {
      signal: options.signal,
    });
    return newestFirst(await collect(items));
  }

  /** All cluster status entries, newest first. */
  async clusterStatuses(
    jobId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<ClusterStatusEntry[]> {
    const items = paginate(this.transport, `${this.jobPath(jobId)}cluster_statuses/`, clusterStatusSchema, {
      signal: options.signal,
    });
    return newestFirst(await collect(items));
  }

  /** Requests a stop (SIGTERM, then outputs are synced). Repeating a stop is harmless, so it is retried. */
  async stop(jobId: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.transport.request({
      method: "POST",
      path: `${this.jobPath(jobId)}stop/`,
      idempotent: true,
      signal: options.signal,
    });
  }

  /** Deletes a job (the API answers 400 while its cluster is still running). */
  async delete(jobId: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.transport.request({ method: "DELETE", path: this.jobPath(jobId), signal: options.signal });
  }

  /** Output files of a job (paged; `search` filters by name). */
  iterateFiles(jobId: string, options: PageOptions & { search?: string } = {}): AsyncGenerator<RescaleFile> {
    return paginate(this.transport, `${this.jobPath(jobId)}files/`, rescaleFileSchema, {
      ...options,
      query: { ...options.query, search: options.search },
    });
  }

  files(jobId: string, options: PageOptions & { search?: string } = {}): Promise<RescaleFile[]> {
    return collect(this.iterateFiles(jobId, options));
  }

  runs(jobId: string, options: { signal?: AbortSignal } = {}): Promise<Run[]> {
    return collect(paginate(this.transport, `${this.jobPath(jobId)}runs/`, runSchema, options));
  }

  /** Files in a running run's working directory. */
  directoryContents(
    jobId: string,
    runId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<DirectoryEntry[]> {
    const path = `${this.jobPath(jobId)}runs/${encodeURIComponent(runId)}/directory-contents/`;
    return collect(paginate(this.transport, path, directoryEntrySchema, options));
  }

  /**
   * Last lines of a file of a running job, e.g. `tail(id, "1", "shared/process_output.log", { lines: 50 })`.
   * Called WITHOUT a trailing slash (`.../tail/<path>?lines=N`), as every Rescale client found does. Find the
   * file's path with `directoryContents` (or `findRunFile`): a workstation's files live under `shared/`.
   */
  async tail(
    jobId: string,
    runId: string,
    filePath: string,
    options: { lines?: number; signal?: AbortSignal } = {},
  ): Promise<TailResult> {
    const encoded = filePath.split("/").filter(Boolean).map(encodeURIComponent).join("/");
    const path = `${this.jobPath(jobId)}runs/${encodeURIComponent(runId)}/tail/${encoded}`;
    return await this.transport.requestAs(tailSchema, {
      method: "GET",
      path,
      exactPath: true,
      query: { lines: options.lines },
      signal: options.signal,
    });
  }

  /**
   * The path (as `tail` wants it) of the file called `name` in a running run's working directory, found through
   * `directory-contents`; undefined when it is not there (yet). The shortest matching path wins (the job's own
   * `process_output.log` over a copy deeper down).
   */
  async findRunFile(
    jobId: string,
    runId: string,
    name: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<string | undefined> {
    const entries = await this.directoryContents(jobId, runId, options);
    const paths = entries
      .map(entryPath)
      .filter((p): p is string => p !== undefined)
      .filter((p) => p === name || p.endsWith(`/${name}`))
      .sort((a, b) => a.length - b.length);
    return paths[0];
  }

  /** Nodes of an executing job (host, ip, user, ssh port, role). */
  instances(jobId: string, options: { signal?: AbortSignal } = {}): Promise<Instance[]> {
    return collect(paginate(this.transport, `${this.jobPath(jobId)}instances/`, instanceSchema, options));
  }

  /** Password of a cluster's in-browser desktop. */
  async desktopPassword(clusterId: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const path = `/api/v2/clusters/${encodeURIComponent(clusterId)}/remote_viz_hardware_settings/password/`;
    const answer = await this.transport.requestAs(desktopPasswordSchema, {
      method: "POST",
      path,
      idempotent: true,
      signal: options.signal,
    });
    return answer.data;
  }

  /** URL of a cluster's in-browser desktop page on this platform. */
  desktopUrl(clusterId: string): string {
    return this.transport.url(`/in-browser-desktops/${encodeURIComponent(clusterId)}/`);
  }

  private jobPath(jobId: string): string {
    if (!jobId) throw new RescaleError("A job id is required.");
    return `${JOBS}${encodeURIComponent(jobId)}/`;
  }
}
