#!/usr/bin/env node
// Notebooks are written as plain text and generated into .ipynb, so they diff and review like code.
//
// SOURCE FORMAT: notebooks/src/<name>.nb  ->  notebooks/<name>.ipynb (tslab kernel, no outputs, stable cell ids)
//   A line starting with `%%` starts a new cell:
//     %% md          a Markdown cell (LaTeX: $...$ inline, $$...$$ display; JupyterLab renders it with MathJax)
//     %% code        a TypeScript code cell (tslab: top-level await works; import lib as "./lib/<module>")
//   Blank lines at the start and end of a cell are dropped. Lines before the first `%%` are a comment for authors
//   and are not copied. A literal line starting with `%%` inside a cell can be written as `\%%`.
//   Example:
//     %% md
//     # 01 Pretraining
//     The loss is $\mathcal{L} = -\frac{1}{T}\sum_t \log p(x_t \mid x_{<t})$.
//     %% code
//     import { initBackend, formatBackendReport } from "./lib/backend";
//     console.log(formatBackendReport(await initBackend()));
//
// COMMANDS
//   node tools/nb.js build [src.nb ...]   generate notebooks/<name>.ipynb from notebooks/src/*.nb (default: all)
//   node tools/nb.js check                exit 1 if a generated .ipynb is stale or any notebooks/*.ipynb has outputs
//   node tools/nb.js unpack <x.ipynb>     write notebooks/src/<x>.nb from a notebook (after editing it in JupyterLab)
//   node tools/nb.js strip <x.ipynb ...>  remove outputs and execution counts in place (commit notebooks without outputs)
// Conventions for course notebooks (design.md): the first code cell initialises the backend and prints it with the
// config in use (read from RLHF_CONFIG, default config/course.yaml); `npm test` runs every notebook on
// config/smoke.yaml, so cells must finish in seconds there.
"use strict";

const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

const ROOT = path.resolve(__dirname, "..");
const NB_DIR = path.join(ROOT, "notebooks");
const SRC_DIR = path.join(NB_DIR, "src");

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
    if (cur) cur.lines.push(line.startsWith("\\%%") ? line.slice(1) : line);
  });
  return cells.map((c) => {
    while (c.lines.length && c.lines[0].trim() === "") c.lines.shift();
    while (c.lines.length && c.lines[c.lines.length - 1].trim() === "") c.lines.pop();
    return { kind: c.kind, text: c.lines.join("\n") };
  });
}

/** nbformat splits a cell's source into lines that keep their "\n" (except the last). */
function sourceLines(text) {
  if (text === "") return [];
  const parts = text.split("\n");
  return parts.map((l, i) => (i < parts.length - 1 ? l + "\n" : l));
}

function toNotebook(cells, name) {
  return {
    cells: cells.map((c, i) => {
      // Stable ids: the notebook name and position, so regenerating does not churn the diff.
      const id = crypto.createHash("sha1").update(`${name}:${i}`).digest("hex").slice(0, 8);
      return c.kind === "md"
        ? { cell_type: "markdown", id, metadata: {}, source: sourceLines(c.text) }
        : { cell_type: "code", execution_count: null, id, metadata: {}, outputs: [], source: sourceLines(c.text) };
    }),
    metadata: METADATA,
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

function build(srcs) {
  for (const src of srcs.length ? srcs : sourceFiles()) {
    const name = path.basename(src, ".nb");
    const nb = toNotebook(parseSource(fs.readFileSync(src, "utf8"), src), name);
    const out = targetOf(src);
    fs.writeFileSync(out, serialize(nb));
    console.log(`${path.relative(ROOT, src)} -> ${path.relative(ROOT, out)} (${nb.cells.length} cells)`);
  }
}

/** Problems with the committed notebooks: outputs present, or a .ipynb that differs from its source. */
function check() {
  const problems = [];
  for (const src of sourceFiles()) {
    const out = targetOf(src);
    const want = serialize(toNotebook(parseSource(fs.readFileSync(src, "utf8"), src), path.basename(src, ".nb")));
    if (!fs.existsSync(out)) problems.push(`${path.relative(ROOT, out)} missing: node tools/nb.js build`);
    else if (fs.readFileSync(out, "utf8") !== want) problems.push(`${path.relative(ROOT, out)} differs from ${path.relative(ROOT, src)}: node tools/nb.js build (or unpack, if the .ipynb is newer)`);
  }
  for (const f of fs.readdirSync(NB_DIR).filter((f) => f.endsWith(".ipynb"))) {
    const nb = JSON.parse(fs.readFileSync(path.join(NB_DIR, f), "utf8"));
    if (nb.cells.some((c) => c.cell_type === "code" && c.outputs && c.outputs.length > 0)) problems.push(`notebooks/${f} has outputs: node tools/nb.js strip notebooks/${f}`);
    if (!nb.metadata || !nb.metadata.kernelspec || nb.metadata.kernelspec.name !== "tslab") problems.push(`notebooks/${f}: kernelspec is not tslab`);
  }
  return problems;
}

function unpack(file) {
  const nb = JSON.parse(fs.readFileSync(file, "utf8"));
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

module.exports = { parseSource, toNotebook, serialize, check };

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
