// Loads and validates the course's YAML config (config/course.yaml, config/smoke.yaml). Work in progress.
import * as fs from "node:fs";
import * as path from "node:path";

let rootCache: string | undefined;

/**
 * The repository root: the first folder at or above this file that holds package.json. Notebooks run with cwd
 * notebooks/ and import lib through the notebooks/lib symlink, so neither cwd nor a fixed "../" is reliable.
 */
export function repoRoot(): string {
  if (rootCache) return rootCache;
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return (rootCache = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`repoRoot: no package.json at or above ${__dirname}`);
    dir = up;
  }
}

/** A path inside the repository; absolute paths pass through unchanged. */
export function repoPath(p: string): string {
  return path.isAbsolute(p) ? p : path.join(repoRoot(), p);
}
