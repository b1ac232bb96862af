import fs from "node:fs";
import path from "node:path";

/**
 * Every path under `root` with its type, size and mtime, sorted, skipping the directories in `skip` (absolute
 * paths). Two equal snapshots taken around an extraction prove it wrote nothing outside the skipped folders.
 */
export function treeSnapshot(root: string, skip: readonly string[] = []): string[] {
  const skipped = new Set(skip.map((p) => path.resolve(p)));
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (skipped.has(full)) continue;
      const st = fs.lstatSync(full);
      const kind = st.isSymbolicLink() ? `link->${fs.readlinkSync(full)}` : st.isDirectory() ? "dir" : "file";
      out.push(`${path.relative(root, full)} ${kind} ${st.isFile() ? st.size : ""} ${st.mtimeMs}`);
      if (entry.isDirectory()) walk(full);
    }
  };
  walk(root);
  return out.sort();
}
