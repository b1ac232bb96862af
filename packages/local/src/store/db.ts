import { createHash } from "node:crypto";
import { type ClusterStatusName, type JobStatusName, STOPPING_REASONS } from "@rescale-run/sdk";
import Database from "better-sqlite3";
import { newId, nowIso } from "./ids.js";

/** The status names are the wire description's (the SDK's), so the platform cannot spell one differently. */
export type JobStatus = JobStatusName;
export type ClusterStatus = ClusterStatusName;

/** Statuses during which the job's process exists (or existed when the platform last ran). */
export const RUNNING_STATUSES: readonly JobStatus[] = ["Started", "Validated", "Executing", "Stopping"];

export interface StatusRow {
  status: string;
  statusDate: string;
  statusReason: string | null;
}

export interface FileRow {
  id: string;
  name: string;
  typeId: number;
  dateUploaded: string;
  size: number;
  md5: string;
  sha256: string;
  isDeleted: boolean;
  jobId: string | null;
  relativePath: string | null;
}

export interface JobRow {
  id: string;
  name: string;
  /** The normalised create request (jobanalyses, flags, ...), as JSON. */
  spec: unknown;
  dateInserted: string;
  /** null until submitted. */
  status: JobStatus | null;
  statusReason: string | null;
  clusterStatus: ClusterStatus;
  submitted: boolean;
  cores: number;
  pid: number | null;
  workDir: string | null;
  exitCode: number | null;
}

interface RawJob {
  id: string;
  name: string;
  spec: string;
  date_inserted: string;
  status: JobStatus | null;
  status_reason: string | null;
  cluster_status: ClusterStatus;
  submitted: number;
  cores: number;
  pid: number | null;
  work_dir: string | null;
  exit_code: number | null;
}

interface RawFile {
  id: string;
  name: string;
  type_id: number;
  date_uploaded: string;
  size: number;
  md5: string;
  sha256: string;
  is_deleted: number;
  job_id: string | null;
  relative_path: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  spec TEXT NOT NULL,
  date_inserted TEXT NOT NULL,
  status TEXT,
  status_reason TEXT,
  cluster_status TEXT NOT NULL,
  submitted INTEGER NOT NULL DEFAULT 0,
  cores INTEGER NOT NULL,
  pid INTEGER,
  work_dir TEXT,
  exit_code INTEGER
);
CREATE TABLE IF NOT EXISTS job_statuses (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  status TEXT NOT NULL,
  status_date TEXT NOT NULL,
  status_reason TEXT
);
CREATE INDEX IF NOT EXISTS job_statuses_job ON job_statuses(job_id, seq);
CREATE TABLE IF NOT EXISTS cluster_statuses (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  status TEXT NOT NULL,
  status_date TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cluster_statuses_job ON cluster_statuses(job_id, seq);
CREATE TABLE IF NOT EXISTS files (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  type_id INTEGER NOT NULL,
  date_uploaded TEXT NOT NULL,
  size INTEGER NOT NULL,
  md5 TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  is_deleted INTEGER NOT NULL DEFAULT 0,
  job_id TEXT,
  relative_path TEXT
);
CREATE INDEX IF NOT EXISTS files_job ON files(job_id, seq);
CREATE TABLE IF NOT EXISTS job_keys (
  key_hash TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1
);
`;

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export interface Page<T> {
  count: number;
  rows: T[];
}

/** The platform's state: one SQLite database (WAL), every write a short synchronous transaction. */
/**
 * The reason Rescale writes on the Stopping entry for how a job ends: "A run failed" (the command failed),
 * "User Terminated" (a user's stop), null for other ends (success, walltime, platform), undefined when the
 * job never ran (no Stopping entry at all: stopped before it started).
 */
export function rescaleStoppingReason(reason: string | null): string | null | undefined {
  if (reason === null) return null;
  if (reason.startsWith(STOPPING_REASONS.runFailed)) return STOPPING_REASONS.runFailed;
  if (/before the job started/i.test(reason)) return undefined;
  if (/^Stopped by user|^User Terminated/i.test(reason)) return STOPPING_REASONS.userTerminated;
  return null;
}

export class Store {
  readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  // ---- jobs

  insertJob(job: { name: string; spec: unknown; cores: number }): JobRow {
    const id = this.uniqueId("jobs");
    const now = nowIso();
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO jobs (id, name, spec, date_inserted, status, cluster_status, cores)
           VALUES (?, ?, ?, ?, NULL, 'Not Started', ?)`,
        )
        .run(id, job.name, JSON.stringify(job.spec), now, job.cores);
      this.db
        .prepare("INSERT INTO cluster_statuses (job_id, status, status_date) VALUES (?, 'Not Started', ?)")
        .run(id, now);
    })();
    return this.job(id)!;
  }

  job(id: string): JobRow | undefined {
    const raw = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as RawJob | undefined;
    return raw && toJob(raw);
  }

  /** Jobs newest first, optionally only those whose status is (or is not) in `statuses`. */
  listJobs(filter: { statuses?: string[]; exclude?: boolean }, limit: number, offset: number): Page<JobRow> {
    let where = "";
    const params: unknown[] = [];
    if (filter.statuses) {
      const list = filter.statuses.map(() => "?").join(",");
      where = filter.exclude
        ? `WHERE status IS NULL OR status NOT IN (${list})`
        : `WHERE status IN (${list})`;
      params.push(...filter.statuses);
    }
    const count = (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs ${where}`).get(...params) as { n: number })
      .n;
    const rows = this.db
      .prepare(`SELECT * FROM jobs ${where} ORDER BY seq DESC LIMIT ? OFFSET ?`)
      .all(...params, limit, offset) as RawJob[];
    return { count, rows: rows.map(toJob) };
  }

  jobsWithStatus(statuses: readonly string[]): JobRow[] {
    const rows = this.db
      .prepare(`SELECT * FROM jobs WHERE status IN (${statuses.map(() => "?").join(",")}) ORDER BY seq`)
      .all(...statuses) as RawJob[];
    return rows.map(toJob);
  }

  updateJob(
    id: string,
    fields: Partial<Pick<JobRow, "name" | "submitted" | "pid" | "workDir" | "exitCode">>,
  ): void {
    const columns: Record<string, string> = {
      name: "name",
      submitted: "submitted",
      pid: "pid",
      workDir: "work_dir",
      exitCode: "exit_code",
    };
    for (const [key, value] of Object.entries(fields)) {
      const column = columns[key];
      if (!column) continue;
      const stored = typeof value === "boolean" ? Number(value) : value;
      this.db.prepare(`UPDATE jobs SET ${column} = ? WHERE id = ?`).run(stored, id);
    }
  }

  deleteJob(id: string): void {
    this.db.transaction(() => {
      this.db.prepare("UPDATE files SET is_deleted = 1 WHERE job_id = ?").run(id);
      this.db.prepare("DELETE FROM job_keys WHERE job_id = ?").run(id);
      this.db.prepare("DELETE FROM jobs WHERE id = ?").run(id);
    })();
  }

  /**
   * Appends a job status (the history keeps every one) and makes it the job's current status. As on Rescale,
   * how a run ended is told on a **Stopping** entry before Completed: "A run failed" for a failed command,
   * "User Terminated" for a user's stop (rescale-api.md, from nf-rescale-hpc). A Completed that follows no
   * Stopping entry gets one; a Stopping entry for a user's stop carries Rescale's reason.
   */
  setJobStatus(id: string, status: JobStatus, reason: string | null = null): void {
    const now = nowIso();
    this.db.transaction(() => {
      const insert = this.db.prepare(
        "INSERT INTO job_statuses (job_id, status, status_date, status_reason) VALUES (?, ?, ?, ?)",
      );
      if (status === "Completed") {
        const current = this.db.prepare("SELECT status FROM jobs WHERE id = ?").get(id) as
          | { status: string | null }
          | undefined;
        const stoppingReason = rescaleStoppingReason(reason);
        if (current?.status && current.status !== "Stopping" && stoppingReason !== undefined)
          insert.run(id, "Stopping", now, stoppingReason);
      }
      const recorded = status === "Stopping" ? (rescaleStoppingReason(reason) ?? reason) : reason;
      insert.run(id, status, now, recorded);
      this.db.prepare("UPDATE jobs SET status = ?, status_reason = ? WHERE id = ?").run(status, recorded, id);
    })();
  }

  setClusterStatus(id: string, status: ClusterStatus): void {
    const now = nowIso();
    this.db.transaction(() => {
      this.db
        .prepare("INSERT INTO cluster_statuses (job_id, status, status_date) VALUES (?, ?, ?)")
        .run(id, status, now);
      this.db.prepare("UPDATE jobs SET cluster_status = ? WHERE id = ?").run(status, id);
    })();
  }

  /** Job status history, newest first (as Rescale answers it). */
  jobStatuses(id: string, limit: number, offset: number): Page<StatusRow> {
    return this.history("job_statuses", "status_reason", id, limit, offset);
  }

  /** Cluster status history, newest first (these carry no reason). */
  clusterStatuses(id: string, limit: number, offset: number): Page<StatusRow> {
    return this.history("cluster_statuses", "NULL", id, limit, offset);
  }

  private history(
    table: "job_statuses" | "cluster_statuses",
    reason: string,
    id: string,
    limit: number,
    offset: number,
  ): Page<StatusRow> {
    const count = (
      this.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE job_id = ?`).get(id) as { n: number }
    ).n;
    const rows = this.db
      .prepare(
        `SELECT status, status_date AS statusDate, ${reason} AS statusReason FROM ${table}
         WHERE job_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?`,
      )
      .all(id, limit, offset) as StatusRow[];
    return { count, rows };
  }

  statusDate(id: string, status: JobStatus): string | undefined {
    const row = this.db
      .prepare(
        "SELECT status_date AS d FROM job_statuses WHERE job_id = ? AND status = ? ORDER BY seq LIMIT 1",
      )
      .get(id, status) as { d: string } | undefined;
    return row?.d;
  }

  // ---- job-scoped API keys

  addJobKey(jobId: string, key: string): void {
    this.db
      .prepare("INSERT INTO job_keys (key_hash, job_id, active) VALUES (?, ?, 1)")
      .run(hashKey(key), jobId);
  }

  revokeJobKeys(jobId: string): void {
    this.db.prepare("UPDATE job_keys SET active = 0 WHERE job_id = ?").run(jobId);
  }

  jobKey(key: string): { jobId: string; active: boolean } | undefined {
    const row = this.db.prepare("SELECT job_id, active FROM job_keys WHERE key_hash = ?").get(hashKey(key)) as
      | { job_id: string; active: number }
      | undefined;
    return row && { jobId: row.job_id, active: row.active === 1 };
  }

  // ---- files

  insertFile(file: Omit<FileRow, "id" | "dateUploaded" | "isDeleted">): FileRow {
    const id = this.uniqueId("files");
    this.db
      .prepare(
        `INSERT INTO files (id, name, type_id, date_uploaded, size, md5, sha256, job_id, relative_path)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        file.name,
        file.typeId,
        nowIso(),
        file.size,
        file.md5,
        file.sha256,
        file.jobId,
        file.relativePath,
      );
    return this.file(id)!;
  }

  file(id: string): FileRow | undefined {
    const raw = this.db.prepare("SELECT * FROM files WHERE id = ? AND is_deleted = 0").get(id) as
      | RawFile
      | undefined;
    return raw && toFile(raw);
  }

  /** Files newest first; `jobId` restricts to one job's outputs, `search` matches the name. */
  listFiles(filter: { jobId?: string; search?: string }, limit: number, offset: number): Page<FileRow> {
    const clauses = ["is_deleted = 0"];
    const params: unknown[] = [];
    if (filter.jobId !== undefined) {
      clauses.push("job_id = ?");
      params.push(filter.jobId);
    }
    if (filter.search) {
      clauses.push("instr(lower(name), lower(?)) > 0");
      params.push(filter.search);
    }
    const where = `WHERE ${clauses.join(" AND ")}`;
    const count = (
      this.db.prepare(`SELECT COUNT(*) AS n FROM files ${where}`).get(...params) as { n: number }
    ).n;
    const order = filter.jobId !== undefined ? "seq ASC" : "seq DESC";
    const rows = this.db
      .prepare(`SELECT * FROM files ${where} ORDER BY ${order} LIMIT ? OFFSET ?`)
      .all(...params, limit, offset) as RawFile[];
    return { count, rows: rows.map(toFile) };
  }

  renameFile(id: string, name: string): void {
    this.db.prepare("UPDATE files SET name = ? WHERE id = ?").run(name, id);
  }

  markFileDeleted(id: string): void {
    this.db.prepare("UPDATE files SET is_deleted = 1 WHERE id = ?").run(id);
  }

  /** Whether any live file still points at a blob (so the blob may be removed when none does). */
  blobInUse(sha256: string): boolean {
    return (
      this.db.prepare("SELECT 1 FROM files WHERE sha256 = ? AND is_deleted = 0 LIMIT 1").get(sha256) !==
      undefined
    );
  }

  private uniqueId(table: "jobs" | "files"): string {
    for (;;) {
      const id = newId();
      if (!this.db.prepare(`SELECT 1 FROM ${table} WHERE id = ?`).get(id)) return id;
    }
  }
}

function toJob(raw: RawJob): JobRow {
  return {
    id: raw.id,
    name: raw.name,
    spec: JSON.parse(raw.spec),
    dateInserted: raw.date_inserted,
    status: raw.status,
    statusReason: raw.status_reason,
    clusterStatus: raw.cluster_status,
    submitted: raw.submitted === 1,
    cores: raw.cores,
    pid: raw.pid,
    workDir: raw.work_dir,
    exitCode: raw.exit_code,
  };
}

function toFile(raw: RawFile): FileRow {
  return {
    id: raw.id,
    name: raw.name,
    typeId: raw.type_id,
    dateUploaded: raw.date_uploaded,
    size: raw.size,
    md5: raw.md5,
    sha256: raw.sha256,
    isDeleted: raw.is_deleted === 1,
    jobId: raw.job_id,
    relativePath: raw.relative_path,
  };
}
