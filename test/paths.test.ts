// The course names its own files in prose (README, environment.md, docs/, the notebooks, comments) and shows library
// code by file and name (showSource). A moved or renamed file must not leave a dangling name behind: this test
// reads every such mention and fails on one that points nowhere.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { librarySource } from "../lib/notebook/source";

const ROOT = path.resolve(__dirname, "..");
const files = (dir: string, ext: RegExp): string[] =>
  fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "fixtures" ? [] : files(rel, ext);
    return ext.test(e.name) ? [rel] : [];
  });

/** Repository paths a text names: lib/..., tools/..., test/..., config/..., data/..., docs/..., notebooks/... with an extension. */
export function mentionedPaths(text: string): string[] {
  const re = /(?<![\w@.\/-])((?:lib|tools|test|config|data|docs|notebooks)\/[\w./-]*\.(?:ts|js|py|yaml|md|json|jsonl|txt|nb|ipynb))(?![\w-])/g;
  return [...new Set([...text.matchAll(re)].map((m) => m[1]))];
}

const TEXTS = ["README.md", "environment.md", ...files("docs", /\.md$/), "data/README.md", ...files("notebooks/src", /\.nb$/), ...files("lib", /\.ts$/), ...files("tools", /\.(ts|js)$/)];
// names a reader fills in, and files that runs write (not committed)
const PLACEHOLDER = /<|\*|\bNN\b|\bmine\.yaml|\/x\.ipynb|runs\/|checkpoints\/|\.nbconvert\.|notebooks\/executed\//;

test("every repository path named in the docs, notebooks and comments exists", () => {
  const missing: string[] = [];
  for (const f of TEXTS) {
    for (const p of mentionedPaths(fs.readFileSync(path.join(ROOT, f), "utf8"))) {
      if (PLACEHOLDER.test(p)) continue;
      if (!fs.existsSync(path.join(ROOT, p))) missing.push(`${f}: ${p}`);
    }
  }
  assert.deepEqual(missing, [], `\n${missing.join("\n")}`);
});

test("every showSource(file, name) in the notebooks finds its code in lib/", () => {
  const problems: string[] = [];
  let calls = 0;
  for (const f of files("notebooks/src", /\.nb$/)) {
    for (const m of fs.readFileSync(path.join(ROOT, f), "utf8").matchAll(/showSource\("([^"]+)",\s*"([^"]+)"\)/g)) {
      calls++;
      try {
        librarySource(m[1], m[2]);
      } catch (e) {
        problems.push(`${f}: showSource("${m[1]}", "${m[2]}"): ${(e as Error).message}`);
      }
    }
  }
  assert.ok(calls >= 30, `only ${calls} showSource calls found: did the pattern stop matching?`);
  assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
});

test("the path checks fail on a dangling name", () => {
  assert.deepEqual(mentionedPaths("see lib/rl/gae.ts and `tools/nope.ts`, not highlight.js/lib/core.js"), ["lib/rl/gae.ts", "tools/nope.ts"]);
  assert.throws(() => librarySource("rl/gae", "noSuchFunction"), /exports no "noSuchFunction"/);
  assert.throws(() => librarySource("gae", "gae"), /ENOENT|no such file/);
});
