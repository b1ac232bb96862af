import { writeFile } from "node:fs/promises";

/** A JSON output file of the run (two-space indented, newline-terminated). */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}
