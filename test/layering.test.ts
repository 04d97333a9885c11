// lib/ is the course's map: folders by course part, in a declared order, and a module imports only from its own
// folder or from folders before it (type imports included). This test reads every import of every lib module and
// fails on an import from a later folder, on a cycle between modules, and on a module outside the declared folders.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const LIB = path.resolve(__dirname, "..", "lib");
/** The course's parts, in order: each may import from itself and the ones before it. lib/index.ts sits above all. */
export const LAYERS = ["core", "lm", "train", "reward", "rl", "beyond", "pipeline", "studies", "notebook"] as const;

function libModules(dir = LIB): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? libModules(full) : e.name.endsWith(".ts") ? [full] : [];
  });
}

/** Every relative module a file names: static imports and exports (type-only too), import(), require(). */
export function relativeImports(source: string): string[] {
  const specs: string[] = [];
  source = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, ""); // comments name modules too
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm;
  for (let m = re.exec(source); m; m = re.exec(source)) specs.push(m[1]);
  return specs;
}

function resolveModule(from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [`${base}.ts`, path.join(base, "index.ts")]) if (fs.existsSync(c)) return c;
  throw new Error(`${path.relative(LIB, from)} imports "${spec}", which is not a module under lib/`);
}

/** The layer index of a lib module: its first folder's place in LAYERS; lib/index.ts is above every layer. */
export function layerOf(file: string): number {
  const rel = path.relative(LIB, file).split(path.sep);
  if (rel.length === 1) {
    if (rel[0] === "index.ts") return LAYERS.length;
    throw new Error(`lib/${rel[0]} sits at the top of lib/; put it in one of the folders ${LAYERS.join(", ")}`);
  }
  const i = (LAYERS as readonly string[]).indexOf(rel[0]);
  if (i < 0) throw new Error(`lib/${rel[0]}/ is not a declared folder (${LAYERS.join(", ")})`);
  return i;
}

/** Violations of the layer order and the cycles, as readable lines. */
export function layeringProblems(files: string[] = libModules()): string[] {
  const problems: string[] = [];
  const graph = new Map<string, string[]>();
  for (const f of files) {
    let layer: number;
    try {
      layer = layerOf(f);
    } catch (e) {
      problems.push((e as Error).message);
      continue;
    }
    const deps = relativeImports(fs.readFileSync(f, "utf8")).map((s) => resolveModule(f, s));
    graph.set(f, deps);
    for (const d of deps) {
      if (layerOf(d) > layer) problems.push(`lib/${path.relative(LIB, f)} (${LAYERS[layer]}) imports lib/${path.relative(LIB, d)} (${LAYERS[layerOf(d)] ?? "index"}), a later folder`);
    }
  }
  // cycles: depth-first search with colours
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 1);
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 1) {
        const cycle = stack.slice(stack.indexOf(d)).concat(d).map((x) => path.relative(LIB, x));
        problems.push(`import cycle: ${cycle.join(" -> ")}`);
      } else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return problems;
}

test("lib/: every module imports only from its own folder or an earlier one, and no import cycle", () => {
  const problems = layeringProblems();
  assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
});

test("the layering check catches a later-folder import and a cycle (synthetic modules)", () => {
  const tmp = fs.mkdtempSync(path.join(LIB, "core", ".layering-"));
  try {
    const a = path.join(tmp, "a.ts"), b = path.join(tmp, "b.ts");
    fs.writeFileSync(a, `import type { X } from "./b";\nexport const A = 1;\n`);
    fs.writeFileSync(b, `import { A } from "./a";\nimport { show } from "../../notebook/viz";\nexport type X = number;\n`);
    const problems = layeringProblems([a, b]);
    assert.ok(problems.some((p) => p.includes("a later folder") && p.includes("notebook/viz.ts")), problems.join("\n"));
    assert.ok(problems.some((p) => p.startsWith("import cycle")), problems.join("\n"));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("relativeImports sees type-only, side-effect, dynamic and require imports", () => {
  const src = `import type { A } from "./a";\nimport "./side";\nconst m = await import("../b");\nconst c = require("./c");\nexport { d } from "./d";\nimport * as tf from "@tensorflow/tfjs";`;
  assert.deepEqual(relativeImports(src).sort(), ["../b", "./a", "./c", "./d", "./side"]);
});
