#!/usr/bin/env node
// `npm run export`: executed notebooks -> standalone HTML pages whose charts render offline.
//   node tools/export-html.js [runs/notebooks/x.ipynb ...] [--out exports]
// Default input: the executed copies in runs/notebooks/ (written by `npm test` / `npm run test:notebooks`; run those
// first). Output: exports/<name>.html.
// nbconvert's HTML exporter drops the plotly MIME type and keeps each chart's text/html fallback (lib/notebook/viz.ts: a div
// and a script calling Plotly.react), so this script inlines plotly.js ONCE per page, in <head>, before those scripts
// run. plotly.js comes from the plotly pip package in .venv (minified, 4.8 MB), else npm plotly.js-dist (same version).
// Equations use MathJax from a CDN, so they need a network; the charts do not.
"use strict";

const fs = require("fs");
const path = require("path");
const cp = require("child_process");

const ROOT = path.resolve(__dirname, "..");
const JUPYTER = path.join(ROOT, ".venv", "bin", "jupyter");

function plotlyJsPath() {
  const lib = path.join(ROOT, ".venv", "lib");
  if (fs.existsSync(lib)) {
    for (const py of fs.readdirSync(lib)) {
      const f = path.join(lib, py, "site-packages", "plotly", "package_data", "plotly.min.js");
      if (fs.existsSync(f)) return f;
    }
  }
  return path.join(path.dirname(require.resolve("plotly.js-dist/package.json", { paths: [ROOT] })), "plotly.js");
}

/** Inlines plotly.js in <head> when the page has charts; returns the new HTML. */
function inlinePlotly(html) {
  if (!html.includes("rlhf-plot")) return html;
  const js = fs.readFileSync(plotlyJsPath(), "utf8").replace(/<\/script/gi, "<\\/script");
  const tag = `<script type="text/javascript">/* plotly.js, inlined by tools/export-html.js */\n${js}\n</script>\n`;
  const i = html.indexOf("</head>");
  return i >= 0 ? html.slice(0, i) + tag + html.slice(i) : tag + html;
}

/** Exports one notebook; returns the HTML file's path. */
function exportNotebook(file, outDir) {
  fs.mkdirSync(outDir, { recursive: true });
  const name = path.basename(file, ".ipynb");
  const r = cp.spawnSync(JUPYTER, ["nbconvert", "--to", "html", "--output-dir", outDir, "--output", name, file], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, JUPYTER_PLATFORM_DIRS: "1" },
  });
  if (r.status !== 0) throw new Error(`nbconvert failed for ${file}:\n${(r.stderr || "").split("\n").slice(-8).join("\n")}`);
  const out = path.join(outDir, `${name}.html`);
  fs.writeFileSync(out, inlinePlotly(fs.readFileSync(out, "utf8")));
  return out;
}

module.exports = { exportNotebook, inlinePlotly, plotlyJsPath };

if (require.main === module) {
  const USAGE = `usage: npm run export -- [runs/notebooks/<name>.ipynb ...] [--out <folder>]
  --out   where the HTML pages go (default exports/)
  --help  this text
Without notebooks, every executed notebook in runs/notebooks/ is exported.
exit codes: 0 done; 1 nothing to export or the export failed; 2 bad arguments`;
  let parsed;
  try {
    parsed = require("util").parseArgs({ args: process.argv.slice(2), options: { out: { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: true });
  } catch (e) {
    console.error(`export: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  if (parsed.values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const stray = parsed.positionals.filter((a) => !a.endsWith(".ipynb"));
  if (stray.length) {
    console.error(`export: unexpected argument(s) ${stray.join(" ")}; expected notebook files (.ipynb)\n${USAGE}`);
    process.exit(2);
  }
  const outDir = path.resolve(ROOT, parsed.values.out || "exports");
  let files = parsed.positionals;
  if (!files.length) {
    const dir = path.join(ROOT, "runs", "notebooks");
    files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".ipynb")).sort().map((f) => path.join(dir, f)) : [];
  }
  if (!files.length) {
    console.error("no executed notebooks in runs/notebooks/: run `npm run test:notebooks` (or npm test) first");
    process.exit(1);
  }
  if (!fs.existsSync(JUPYTER)) {
    console.error(".venv is missing: run `npm run setup`");
    process.exit(1);
  }
  let failed = 0;
  for (const f of files) {
    try {
      const out = exportNotebook(path.resolve(f), outDir);
      console.log(`${path.relative(ROOT, path.resolve(f))} -> ${path.relative(ROOT, out)} (${(fs.statSync(out).size / 1e6).toFixed(1)} MB)`);
    } catch (e) {
      failed++;
      console.error(e.message);
    }
  }
  process.exit(failed ? 1 : 0);
}
