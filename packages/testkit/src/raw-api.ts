import { openAsBlob } from "node:fs";
import { basename } from "node:path";
import { assertLoopbackUrl } from "./loopback.js";

/**
 * A deliberately thin client for a Rescale-compatible server on loopback, written against the wire contract
 * and independent of @rescale-run/sdk, so tests of the server do not depend on the client under test.
 */
export interface RawResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export interface StatusEntry {
  status: string;
  statusDate: string;
  statusReason?: string | null;
}

export class RawApi {
  readonly base: string;
  constructor(
    base: string,
    private readonly apiKey: string | undefined,
  ) {
    this.base = assertLoopbackUrl(base).origin;
  }

  withKey(apiKey: string | undefined): RawApi {
    return new RawApi(this.base, apiKey);
  }

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<RawResponse<T>> {
    const headers: Record<string, string> = {};
    if (this.apiKey !== undefined) headers.authorization = `Token ${this.apiKey}`;
    let payload: FormData | string | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${this.base}${path}`, { method, headers, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // non-JSON body (file contents): keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  private async ok<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request<T>(method, path, body);
    if (res.status >= 300) throw new Error(`${method} ${path} -> ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  async upload(file: string, name = basename(file)): Promise<{ id: string; decryptedSize: number }> {
    const form = new FormData();
    form.set("file", await openAsBlob(file), name);
    return this.ok("POST", "/api/v2/files/contents/", form);
  }

  createJob(body: unknown): Promise<{ id: string }> {
    return this.ok("POST", "/api/v2/jobs/", body);
  }

  submit(jobId: string): Promise<unknown> {
    return this.ok("POST", `/api/v2/jobs/${jobId}/submit/`);
  }

  job(
    jobId: string,
  ): Promise<{ id: string; name: string; jobStatus: { status: string; statusReason: string } }> {
    return this.ok("GET", `/api/v2/jobs/${jobId}/`);
  }

  async statuses(jobId: string): Promise<StatusEntry[]> {
    return (await this.ok<{ results: StatusEntry[] }>("GET", `/api/v2/jobs/${jobId}/statuses/?page_size=100`))
      .results;
  }

  async jobFiles(jobId: string): Promise<{ id: string; relativePath: string; decryptedSize: number }[]> {
    return (
      await this.ok<{ results: { id: string; relativePath: string; decryptedSize: number }[] }>(
        "GET",
        `/api/v2/jobs/${jobId}/files/?page_size=1000`,
      )
    ).results;
  }

  async download(fileId: string): Promise<Buffer> {
    const headers: Record<string, string> = this.apiKey ? { authorization: `Token ${this.apiKey}` } : {};
    const res = await fetch(`${this.base}/api/v2/files/${fileId}/contents/`, { headers });
    if (res.status !== 200) throw new Error(`download ${fileId} -> ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** Polls the newest status until it is one of `wanted` (default Completed); returns the newest entry. */
  async waitForStatus(
    jobId: string,
    wanted: string[] = ["Completed"],
    timeoutMs = 60_000,
  ): Promise<StatusEntry> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const newest = (await this.statuses(jobId))[0];
      if (newest && wanted.includes(newest.status)) return newest;
      if (Date.now() > deadline)
        throw new Error(`job ${jobId} not in ${wanted.join("/")} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * A one-analysis job body in Rescale's shape (walltime in hours). Written out by hand, not built by the SDK's
 * `toJobBody`, on purpose: the local platform's API tests send what any client might, independent of our own
 * (packages/local/test/wire.test.ts checks that the bodies the SDK builds are accepted).
 */
export function jobBody(options: {
  name: string;
  command: string;
  coreType?: string;
  cores?: number;
  walltimeHours?: number;
  inputFiles?: { id: string; decompress?: boolean }[];
  analysis?: { code: string; version: string };
  envVars?: Record<string, string>;
}): unknown {
  return {
    name: options.name,
    jobanalyses: [
      {
        analysis: options.analysis ?? { code: "user_included", version: "0" },
        command: options.command,
        hardware: {
          coreType: options.coreType ?? "local",
          coresPerSlot: options.cores ?? 1,
          slots: 1,
          walltime: options.walltimeHours ?? 1,
          type: "compute",
        },
        inputFiles: (options.inputFiles ?? []).map((f) => ({ id: f.id, decompress: f.decompress ?? true })),
        envVars: options.envVars ?? {},
      },
    ],
  };
}
