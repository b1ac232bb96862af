import fs from "node:fs";
import path from "node:path";

/** What `server.json` in the data directory says about the server that owns it. */
export interface ServerRecord {
  pid: number;
  url: string;
  port: number;
  startedAt: string;
  /** true for `rescale-local` (foreground or daemon); false for a platform inside another program, e.g. one CLI command. */
  standalone: boolean;
}

export const serverRecordPath = (dataDir: string) => path.join(dataDir, "server.json");

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function readServerRecord(dataDir: string): ServerRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(serverRecordPath(dataDir), "utf8")) as ServerRecord;
  } catch {
    return undefined;
  }
}

/** Claims the data directory for this process; a live owner means another server already uses it. */
export function claimDataDir(dataDir: string): (record: Omit<ServerRecord, "pid" | "startedAt">) => void {
  const existing = readServerRecord(dataDir);
  if (existing && isAlive(existing.pid)) {
    throw new Error(`${dataDir} is already used by a local platform (pid ${existing.pid}, ${existing.url})`);
  }
  const claim = path.join(dataDir, "server.json.claim");
  // O_EXCL makes two servers starting at the same moment fail cleanly instead of sharing the state.
  let fd: number;
  try {
    fd = fs.openSync(claim, "wx", 0o600);
  } catch {
    const owner = Number(fs.readFileSync(claim, "utf8")) || 0;
    if (owner && isAlive(owner) && owner !== process.pid)
      throw new Error(`${dataDir} is being claimed by pid ${owner}`);
    fs.rmSync(claim, { force: true });
    fd = fs.openSync(claim, "wx", 0o600);
  }
  fs.writeSync(fd, String(process.pid));
  fs.closeSync(fd);
  return (record) => {
    const full: ServerRecord = { pid: process.pid, startedAt: new Date().toISOString(), ...record };
    fs.writeFileSync(serverRecordPath(dataDir), `${JSON.stringify(full)}\n`, { mode: 0o600 });
    fs.rmSync(claim, { force: true });
  };
}

export function releaseDataDir(dataDir: string): void {
  const existing = readServerRecord(dataDir);
  if (existing?.pid === process.pid) fs.rmSync(serverRecordPath(dataDir), { force: true });
  fs.rmSync(path.join(dataDir, "server.json.claim"), { force: true });
}
