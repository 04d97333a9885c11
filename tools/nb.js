#!/usr/bin/env node
// Notebooks are written as plain text and generated into .ipynb, so they diff and review like code.
//
// SOURCE FORMAT: notebooks/src/<name>.nb  ->  notebooks/<name>.ipynb (tslab kernel, no outputs, stable cell ids)
//   A line starting with `%%` starts a new cell:
//     %% md          a Markdown cell (LaTeX: $...$ inline, $$...$$ display; JupyterLab renders it with MathJax)
//     %% code        a TypeScript code cell (tslab: top-level await works; import lib as "./lib/<module>")
//   Blank lines at the start and end of a cell are dropped. Lines before the first `%%` are a comment for authors
//   and are not copied. A literal line starting with `%%` inside a cell can be written as `\%%`.
//
// EXERCISES: inside a code cell, an exercise's body is written twice, between marker lines:
//     //! stub 05.2          what the learner sees (ends in `return notDone();`, see lib/notebook/exercise.ts)
//     //! solution           the worked answer
//     //! end
//   `build` writes two notebooks from one source: notebooks/<name>.ipynb keeps the stubs (the course), and
//   notebooks/solutions/<name>.ipynb keeps the solutions. Both record the exercise ids in their metadata
//   (rlhf_course.exercises), so the notebook runner can demand NOT DONE from every check of the first and PASS from
//   every check of the second.
//   Example:
//     %% md
//     # 01 Pretraining
//     The loss is $\mathcal{L} = -\frac{1}{T}\sum_t \log p(x_t \mid x_{<t})$.
//     %% code
//     import { initBackend, formatBackendReport } from "./lib/core/backend";
//     console.log(formatBackendReport(await initBackend()));
//
// COMMANDS
//   node tools/nb.js build [src.nb ...]   generate notebooks/<name>.ipynb from notebooks/src/*.nb (default: all)
//   node tools/nb.js check                exit 1 if a generated .ipynb is stale or any notebooks/*.ipynb has outputs
//   node tools/nb.js unpack <x.ipynb>     write notebooks/src/<x>.nb from a notebook (after editing it in JupyterLab)
//   node tools/nb.js strip <x.ipynb ...>  remove outputs and execution counts in place (commit notebooks without outputs)
// Conventions for course notebooks: the first code cell initialises the backend and prints it with the
// config in use (read from RLHF_CONFIG, default config/course.yaml); `npm test` runs every notebook on
// config/smoke.yaml, so cells must finish in seconds there.
"use strict";

const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

const ROOT = path.resolve(__dirname, "..");
const NB_DIR = path.join(ROOT, "notebooks");
const SRC_DIR = path.join(NB_DIR, "src");
const SOL_DIR = path.join(NB_DIR, "solutions");
const MARKER = /^\s*\/\/! (stub (\d\d[a-z]?\.\d+)|solution|end)\s*$/; // ids like 06.1, or 08b.1 for a notebook between two numbers

const METADATA = {
  kernelspec: { display_name: "TypeScript", language: "typescript", name: "tslab" },
  language_info: {
    codemirror_mode: { mode: "typescript", name: "javascript", typescript: true },
    file_extension: ".ts",
    mimetype: "text/typescript",
    name: "typescript",
    version: "5.0",
  },
};

/** Parses the text format into [{kind: "md"|"code", text}]. */
function parseSource(text, file = "<source>") {
  const cells = [];
  let cur;
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  lines.forEach((line, i) => {
    const m = /^%%\s*(\S*)\s*$/.exec(line);
    if (m) {
      const kind = m[1] === "" ? "code" : m[1];
      if (kind !== "md" && kind !== "code") throw new Error(`${file}:${i + 1}: unknown cell kind "${m[1]}" (use "%% md" or "%% code")`);
      cur = { kind, lines: [] };
      cells.push(cur);
      return;
    }
    // a control character in a cell is a LaTeX command that lost its backslash on the way in (\frac -> form feed + "rac")
    const ctrl = (cur && cur.kind === "md" ? /[\x00-\x09\x0b-\x1f]/ : /[\x00-\x08\x0b-\x1f]/).exec(line);
    if (cur && ctrl) {
      throw new Error(`${file}:${i + 1}: control character U+${ctrl[0].charCodeAt(0).toString(16).padStart(4, "0")} in a ${cur.kind} cell ` +
        `at column ${ctrl.index + 1} (a \\t, \\f or \\b of a LaTeX command written through an escaping string?)`);
    }
    if (cur) cur.lines.push(line.startsWith("\\%%") ? line.slice(1) : line);
  });
  return cells.map((c) => {
    while (c.lines.length && c.lines[0].trim() === "") c.lines.shift();
    while (c.lines.length && c.lines[c.lines.length - 1].trim() === "") c.lines.pop();
    return { kind: c.kind, text: c.lines.join("\n") };
  });
}

/**
 * One variant of the cells: "learner" keeps the stub lines of each exercise, "solution" the solution lines; marker
 * lines go. Returns the cells and the exercise ids in order. Errors name the file and the exercise.
 */
function variant(cells, which, file = "<source>") {
  const ids = [];
  const out = cells.map((c) => {
    // a solution notebook lives one folder deeper: its Markdown links to the repository go up once more
    if (c.kind !== "code") return which === "solution" ? { kind: c.kind, text: c.text.replace(/\]\(\.\.\//g, "](../../") } : c;
    const kept = [];
    let state = "plain";
    let id;
    for (const line of c.text.split("\n")) {
      const m = MARKER.exec(line);
      if (!m) {
        if (state === "plain" || (state === "stub") === (which === "learner")) kept.push(line);
        continue;
      }
      if (m[2]) {
        if (state !== "plain") throw new Error(`${file}: exercise ${m[2]} starts inside exercise ${id}`);
        if (ids.includes(m[2])) throw new Error(`${file}: exercise ${m[2]} appears twice`);
        state = "stub";
        id = m[2];
        ids.push(id);
      } else if (m[1] === "solution") {
        if (state !== "stub") throw new Error(`${file}: "//! solution" without a "//! stub <id>" before it`);
        state = "solution";
      } else {
        if (state !== "solution") throw new Error(`${file}: "//! end" of exercise ${id ?? "?"} without its "//! solution"`);
        state = "plain";
      }
    }
    if (state !== "plain") throw new Error(`${file}: exercise ${id} is not closed with "//! end"`);
    return { kind: c.kind, text: kept.join("\n") };
  });
  return { cells: out, ids };
}

/** nbformat splits a cell's source into lines that keep their "\n" (except the last). */
function sourceLines(text) {
  if (text === "") return [];
  const parts = text.split("\n");
  return parts.map((l, i) => (i < parts.length - 1 ? l + "\n" : l));
}

function toNotebook(cells, name, extra) {
  return {
    cells: cells.map((c, i) => {
      // Stable ids: the notebook name and position, so regenerating does not churn the diff.
      const id = crypto.createHash("sha1").update(`${name}:${i}`).digest("hex").slice(0, 8);
      return c.kind === "md"
        ? { cell_type: "markdown", id, metadata: {}, source: sourceLines(c.text) }
        : { cell_type: "code", execution_count: null, id, metadata: {}, outputs: [], source: sourceLines(c.text) };
    }),
    metadata: extra ? { ...METADATA, rlhf_course: extra } : METADATA,
    nbformat: 4,
    nbformat_minor: 5,
  };
}

function serialize(nb) {
  return JSON.stringify(nb, null, 1) + "\n";
}

function sourceFiles() {
  return fs.existsSync(SRC_DIR) ? fs.readdirSync(SRC_DIR).filter((f) => f.endsWith(".nb")).sort().map((f) => path.join(SRC_DIR, f)) : [];
}

function targetOf(src) {
  return path.join(NB_DIR, path.basename(src, ".nb") + ".ipynb");
}
function solutionOf(src) {
  return path.join(SOL_DIR, path.basename(src, ".nb") + ".ipynb");
}

/** The generated notebooks of one source: {file: serialized notebook}; a solution notebook only when it has exercises. */
function generate(src) {
  const name = path.basename(src, ".nb");
  const cells = parseSource(fs.readFileSync(src, "utf8"), src);
  const learner = variant(cells, "learner", src);
  if (learner.ids.length === 0) return { [targetOf(src)]: serialize(toNotebook(learner.cells, name)) };
  const solution = variant(cells, "solution", src);
  return {
    [targetOf(src)]: serialize(toNotebook(learner.cells, name, { variant: "learner", exercises: learner.ids })),
    [solutionOf(src)]: serialize(toNotebook(solution.cells, name, { variant: "solution", exercises: solution.ids })),
  };
}

function build(srcs) {
  for (const src of srcs.length ? srcs : sourceFiles()) {
    for (const [out, text] of Object.entries(generate(src))) {
      fs.mkdirSync(path.dirname(out), { recursive: true });
      fs.writeFileSync(out, text);
      console.log(`${path.relative(ROOT, src)} -> ${path.relative(ROOT, out)} (${JSON.parse(text).cells.length} cells)`);
    }
  }
}

/** Problems with the committed notebooks: outputs present, or a .ipynb that differs from its source. */
function check() {
  const problems = [];
  const expected = new Set();
  for (const src of sourceFiles()) {
    for (const [out, want] of Object.entries(generate(src))) {
      expected.add(out);
      if (!fs.existsSync(out)) problems.push(`${path.relative(ROOT, out)} missing: node tools/nb.js build`);
      else if (fs.readFileSync(out, "utf8") !== want) problems.push(`${path.relative(ROOT, out)} differs from ${path.relative(ROOT, src)}: node tools/nb.js build (or unpack, if the .ipynb is newer)`);
    }
  }
  for (const dir of [NB_DIR, SOL_DIR].filter((d) => fs.existsSync(d))) {
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".ipynb"))) {
      const file = path.join(dir, f);
      const rel = path.relative(ROOT, file);
      const nb = JSON.parse(fs.readFileSync(file, "utf8"));
      if (dir === SOL_DIR && !expected.has(file)) problems.push(`${rel} has no source with exercises in notebooks/src: delete it`);
      if (nb.cells.some((c) => c.cell_type === "code" && c.outputs && c.outputs.length > 0)) problems.push(`${rel} has outputs: node tools/nb.js strip ${rel}`);
      if (!nb.metadata || !nb.metadata.kernelspec || nb.metadata.kernelspec.name !== "tslab") problems.push(`${rel}: kernelspec is not tslab`);
    }
  }
  return problems;
}

function unpack(file) {
  if (path.resolve(file).startsWith(SOL_DIR + path.sep)) throw new Error(`${file} is generated; edit notebooks/src/${path.basename(file, ".ipynb")}.nb`);
  const nb = JSON.parse(fs.readFileSync(file, "utf8"));
  // unpacking would drop the solutions, which live only in the source
  if (nb.metadata && nb.metadata.rlhf_course) throw new Error(`${file} has exercises: edit notebooks/src/${path.basename(file, ".ipynb")}.nb instead`);
  const text = nb.cells
    .filter((c) => c.cell_type === "markdown" || c.cell_type === "code")
    .map((c) => {
      const body = (Array.isArray(c.source) ? c.source.join("") : c.source).split("\n").map((l) => (l.startsWith("%%") ? "\\" + l : l)).join("\n");
      return `%% ${c.cell_type === "markdown" ? "md" : "code"}\n${body}\n`;
    })
    .join("\n");
  fs.mkdirSync(SRC_DIR, { recursive: true });
  const out = path.join(SRC_DIR, path.basename(file, ".ipynb") + ".nb");
  fs.writeFileSync(out, text);
  console.log(`${path.relative(ROOT, file)} -> ${path.relative(ROOT, out)}`);
}

function strip(file) {
  const nb = JSON.parse(fs.readFileSync(file, "utf8"));
  for (const c of nb.cells) {
    if (c.cell_type !== "code") continue;
    c.outputs = [];
    c.execution_count = null;
  }
  fs.writeFileSync(file, serialize(nb));
}

module.exports = { parseSource, variant, toNotebook, serialize, check, generate };

if (require.main === module) {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === "build") build(rest);
  else if (cmd === "check") {
    const p = check();
    for (const l of p) console.error(l);
    console.log(p.length ? `${p.length} notebook problem(s)` : "notebooks: sources and .ipynb agree, no outputs committed");
    process.exit(p.length ? 1 : 0);
  } else if (cmd === "unpack" && rest.length) rest.forEach(unpack);
  else if (cmd === "strip" && rest.length) rest.forEach(strip);
  else {
    console.error("usage: node tools/nb.js build [src.nb ...] | check | unpack <x.ipynb ...> | strip <x.ipynb ...>");
    process.exit(2);
  }
}
