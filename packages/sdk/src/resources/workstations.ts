/**
 * Workstations: an interactive job (hardware.type "interactive", flags igCv + runForever) with attachments,
 * software tiles and an optional IP allow-list. The workstation id IS the job id.
 */
import { isIP } from "node:net";
import { RescaleError, ValidationError } from "../errors.js";
import type { ProgressEvent } from "../multipart.js";
import type { Instance, Job, RescaleFile } from "../schemas.js";
import {
  type ActiveResult,
  classifyJobOutcome,
  type JobOutcome,
  type WaitOptions,
  type WaitResult,
  waitUntilActive,
  waitUntilFinished,
} from "../waiters.js";
import type { Walltime } from "../walltime.js";
import type { AnalysesResource } from "./analyses.js";
import type { FilesResource } from "./files.js";
import type { JobInputFile, JobsResource, PriorityTierName, SoftwareSpec } from "./jobs.js";

export type Attachment = string | { path: string; decompress?: boolean } | JobInputFile;

export interface WorkstationCreateOptions {
  name: string;
  /** Core type code or display name as the API knows it (code), e.g. "ruby". */
  coreType: string;
  cores: number;
  /** Whole hours or a parsed walltime. */
  walltime: Walltime | number;
  /** Software tiles; `version` may be a display version ("4.8.4") or a versionCode ("4.8.4_e2ed"). */
  software: SoftwareSpec[];
  /** Local paths (uploaded first) or existing file ids. Zips are decompressed unless `decompress: false`. */
  attachments?: Attachment[];
  /** Only this address (or CIDR) may connect; a bare IP becomes /32 (/128 for IPv6). */
  allowIp?: string;
  /** Default "onDemandPriority". */
  priority?: PriorityTierName;
  command?: string;
  envVars?: Record<string, string>;
  publicKey?: string;
  /** Resolve display versions through the analyses catalog. Default true. */
  resolveVersions?: boolean;
  /** Submit right after creating. Default true. */
  submit?: boolean;
  onUploadProgress?: (file: string, event: ProgressEvent) => void;
  signal?: AbortSignal;
}

export type WorkstationState = "starting" | "active" | "stopping" | "stopped" | "failed";

export interface WorkstationStatus {
  state: WorkstationState;
  jobStatus: string | undefined;
  clusterStatus: string | undefined;
  statusReason: string | undefined;
  outcome: JobOutcome;
}

export interface WorkstationConnection {
  host: string;
  ip: string | undefined;
  user: string | undefined;
  /** undefined when the node reports no SSH (e.g. the local platform). */
  sshPort: number | undefined;
  clusterId: string | undefined;
  /** `ssh -p <port> <user>@<host>`, when SSH is offered. */
  sshCommand: string | undefined;
  /** In-browser desktop page on the platform (its password: `desktopPassword()`). */
  desktopUrl: string | undefined;
}

/** `203.0.113.7` -> `203.0.113.7/32`; CIDRs pass through; anything else is a ValidationError. */
export function toCidrRule(allowIp: string): string {
  const [address = "", prefix, extra] = allowIp.trim().split("/");
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const bits = prefix === undefined ? max : Number(prefix);
  if (!family || extra !== undefined || !Number.isInteger(bits) || bits < 0 || bits > max) {
    throw new ValidationError(
      `"${allowIp}" is not an IP address or CIDR range (e.g. 203.0.113.7 or 203.0.113.0/24).`,
      {
        fieldErrors: [{ path: "allowIp", message: "invalid IP or CIDR" }],
      },
    );
  }
  return `${address}/${bits}`;
}

export class Workstation {
  constructor(
    readonly job: Job,
    private readonly jobs: JobsResource,
  ) {}

  get id(): string {
    return this.job.id;
  }

  get name(): string {
    return this.job.name;
  }

  /** Waits until the job is Executing with its cluster Started. */
  async waitUntilActive(options: WaitOptions = {}): Promise<ActiveResult> {
    return waitUntilActive(this.jobs, this.id, options);
  }

  /** Waits until it has ended (stopped, out of walltime, or failed); outputs are synced by then. */
  async waitUntilFinished(options: WaitOptions = {}): Promise<WaitResult> {
    return waitUntilFinished(this.jobs, this.id, options);
  }

  async status(options: { signal?: AbortSignal } = {}): Promise<WorkstationStatus> {
    const outcome = classifyJobOutcome(await this.jobs.statuses(this.id, options));
    const clusterStatus =
      outcome.phase === "running"
        ? (await this.jobs.clusterStatuses(this.id, options))[0]?.status
        : undefined;
    const state: WorkstationState =
      outcome.phase === "running"
        ? clusterStatus === undefined || clusterStatus === "Started"
          ? "active"
          : "starting"
        : outcome.phase === "stopping"
          ? "stopping"
          : outcome.phase === "failed"
            ? "failed"
            : outcome.terminal
              ? "stopped"
              : "starting";
    return { state, jobStatus: outcome.status, clusterStatus, statusReason: outcome.statusReason, outcome };
  }

  /** How to reach the running workstation (host, user, ssh port, desktop URL). */
  async connection(options: { signal?: AbortSignal } = {}): Promise<WorkstationConnection> {
    const instances = await this.jobs.instances(this.id, options);
    const node = pickHead(instances);
    const host = node?.publicHostname || node?.publicIp;
    if (!node || !host) {
      throw new RescaleError(`Workstation ${this.id} has no reachable node yet; wait until it is active.`);
    }
    // An absent port means the default (22); an explicit null means the node offers no SSH.
    const sshPort = node.sshPort === undefined ? (this.job.sshPort ?? 22) : (node.sshPort ?? undefined);
    const user = node.username ?? undefined;
    return {
      host,
      ip: node.publicIp ?? undefined,
      user,
      sshPort,
      clusterId: node.clusterId,
      sshCommand: sshPort === undefined ? undefined : `ssh -p ${sshPort} ${user ? `${user}@` : ""}${host}`,
      desktopUrl: node.clusterId ? this.jobs.desktopUrl(node.clusterId) : undefined,
    };
  }

  /** Password of the in-browser desktop. */
  async desktopPassword(options: { signal?: AbortSignal } = {}): Promise<string> {
    const { clusterId } = await this.connection(options);
    if (!clusterId) throw new RescaleError(`Workstation ${this.id} reports no cluster id.`);
    return this.jobs.desktopPassword(clusterId, options);
  }

  /** Stops it (a workstation cannot be restarted). */
  stop(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.jobs.stop(this.id, options);
  }

  /** Files the workstation produced (synced after it stops). */
  outputs(options: { search?: string; signal?: AbortSignal } = {}): Promise<RescaleFile[]> {
    return this.jobs.files(this.id, options);
  }
}

function pickHead(instances: Instance[]): Instance | undefined {
  return instances.find((node) => /master|head/i.test(node.role ?? "")) ?? instances[0];
}

export class WorkstationsResource {
  constructor(
    private readonly jobs: JobsResource,
    private readonly files: FilesResource,
    private readonly analyses: AnalysesResource,
  ) {}

  /** Uploads attachments, resolves software versions, creates the interactive job and (by default) submits it. */
  async create(options: WorkstationCreateOptions): Promise<Workstation> {
    const { signal } = options;
    if (options.software.length === 0)
      throw new ValidationError("A workstation needs at least one software tile.");
    const cidrRule = options.allowIp ? toCidrRule(options.allowIp) : undefined;
    const software: SoftwareSpec[] = [];
    for (const tile of options.software) {
      if (options.resolveVersions === false) software.push(tile);
      else {
        const resolved = await this.analyses.resolveVersion(tile.code, tile.version, { signal });
        software.push({ code: tile.code, version: resolved.versionCode });
      }
    }
    const inputFiles: JobInputFile[] = [];
    for (const attachment of options.attachments ?? []) {
      inputFiles.push(await this.attach(attachment, options));
    }
    const job = await this.jobs.create(
      {
        name: options.name,
        analysis: software,
        command: options.command,
        hardware: {
          coreType: options.coreType,
          cores: options.cores,
          walltime: options.walltime,
          type: "interactive",
        },
        inputFiles,
        envVars: options.envVars,
        flags: { igCv: true, runForever: true },
        priority: options.priority,
        cidrRule,
        publicKey: options.publicKey,
      },
      { signal },
    );
    if (options.submit !== false) await this.jobs.submit(job.id, { signal });
    return new Workstation(job, this.jobs);
  }

  /** A handle on an existing workstation (its job id). */
  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Workstation> {
    return new Workstation(await this.jobs.get(id, options), this.jobs);
  }

  private async attach(attachment: Attachment, options: WorkstationCreateOptions): Promise<JobInputFile> {
    if (typeof attachment !== "string" && "id" in attachment) return attachment;
    const path = typeof attachment === "string" ? attachment : attachment.path;
    const decompress = typeof attachment === "string" ? undefined : attachment.decompress;
    const file = await this.files.upload(path, {
      signal: options.signal,
      onProgress: options.onUploadProgress && ((event) => options.onUploadProgress?.(path, event)),
    });
    return { id: file.id, decompress: decompress ?? true };
  }
}
