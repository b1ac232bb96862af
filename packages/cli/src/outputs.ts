/** Bringing a job's output files to the user's disk, with progress, never writing outside the chosen folder. */
import { mkdir } from "node:fs/promises";
import { dirname, isAbsolute, normalize, resolve, sep } from "node:path";
import type { RescaleClient, RescaleFile } from "@rescale-run/sdk";
import { CliError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";
import type { Output } from "./output.js";

export interface DownloadedFile {
  id: string;
  name: string;
  path: string;
  bytes: number;
}

/** Where a job file goes under `outDir`: its path in the job's working directory, refused if it escapes. */
export function localPathFor(outDir: string, file: Pick<RescaleFile, "name" | "relativePath">): string {
  const rel = normalize(String(file.relativePath || file.name)).replace(/^(\.\.(\/|\\|$))+/, "");
  const target = resolve(outDir, rel);
  const root = resolve(outDir);
  if (isAbsolute(rel) || (target !== root && !target.startsWith(root + sep))) {
    throw new CliError(
      `refusing to write job file "${file.relativePath}" outside ${outDir}`,
      ExitCode.Internal,
    );
  }
  return target;
}

export async function downloadJobOutputs(
  client: RescaleClient,
  jobId: string,
  outDir: string,
  out: Output,
  options: { signal?: AbortSignal; filter?: (file: RescaleFile) => boolean } = {},
): Promise<DownloadedFile[]> {
  const files = (await client.jobs.files(jobId, { signal: options.signal })).filter(
    options.filter ?? (() => true),
  );
  const done: DownloadedFile[] = [];
  for (const file of files) {
    const path = localPathFor(outDir, file);
    await mkdir(dirname(path), { recursive: true });
    const size = typeof file.decryptedSize === "number" ? file.decryptedSize : undefined;
    const bar = out.progress(`download ${file.relativePath || file.name}`, size);
    const result = await client.files.download(String(file.id), {
      to: path,
      file, // resume only this file's .part; check the result against its checksum
      signal: options.signal,
      onProgress: (e) => bar.update(e.loaded),
    });
    bar.finish();
    done.push({ id: String(file.id), name: file.name, path, bytes: result.bytes });
  }
  return done;
}
