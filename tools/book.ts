// `npm run book`: the course as a static site under book/, readable offline from file:// or any static server.
//
//   npm run book -- [--config config/course.yaml] [--from runs/notebooks] [--notebooks 00_setup,06_gae] [--out book]
//                   [--timeout 600] [--force]
//
// 1. Executed notebooks. By default every notebooks/*.ipynb and its solution (notebooks/solutions/) is executed with
//    tools/run-notebooks.js on --config (default config/course.yaml, whose notebooks reuse the checkpoints under
//    checkpoints/) into runs/book/<config name>/. An executed copy is reused while its key is unchanged: the notebook,
//    the config, lib/, data/, package-lock.json and the sizes and times of the files under the config's checkpoint
//    folder (--force executes again). So a second build only renders. With --from <folder>, nothing is executed:
//    <folder>/<name>.ipynb and <folder>/solutions/<name>.ipynb are used as they are (e.g. runs/notebooks, which
//    `npm test` writes on config/smoke.yaml).
// 2. Rendering, in Node, from the .ipynb JSON: Markdown with markdown-it; equations ($...$, $$...$$, \(...\), \[...\])
//    cut out before the Markdown parser sees them and typeset with KaTeX at build time (an equation KaTeX cannot
//    typeset fails the build, naming the notebook and the cell); code highlighted with highlight.js; outputs (text,
//    HTML, images, plotly charts from their application/vnd.plotly.v1+json data); the execution counts of the run.
//    Each exercise cell is shown as the learner sees it (the stub and its NOT DONE verdict), with the worked solution
//    and its output folded under it in <details><summary>Solution</summary>.
// 3. The site: book/index.html (the course map: each notebook with its description and sections), one page per
//    notebook (book/notebooks/<name>.html, previous/next links), docs/*.md as book/docs/<name>.html, and book/assets/
//    (KaTeX's CSS and fonts, highlight.js's theme, the site's CSS and script, and one plotly.min.js for every page
//    with charts, loaded by relative path). No page needs a network. Links between notebooks, docs and the README are
//    rewritten to the pages; a link to any other file of the repository fails the build, and every internal link and
//    anchor is checked once the site is written.
// tools/book-test.ts opens every page in headless chromium with the network cut off; `npm test` builds a two-notebook
// book on config/smoke.yaml and runs it (step "book").
//
// Its parts live in tools/book/: notebooks, math, links, markdown, cells, exercises, pages, site-check, common.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import katex from "katex";
import { ROOT, BookError } from "./book/common";
import { Notebook, joinText } from "./book/notebooks";
import { PageMap } from "./book/links";
import { highlight, renderMarkdown } from "./book/markdown";
import { prevNext, stripTags, page, NotebookInput, renderNotebook, renderDoc, renderIndex } from "./book/pages";
import { brokenLinks } from "./book/site-check";


export function plotlyJsPath(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("./export-html.js") as { plotlyJsPath(): string }).plotlyJsPath();
}

/** The course's notebooks in reading order (notebooks/*.ipynb). */
export function courseNotebooks(root = ROOT): string[] {
  const dir = path.join(root, "notebooks");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb") && !f.endsWith(".nbconvert.ipynb"))
    .map((f) => f.slice(0, -".ipynb".length))
    .sort();
}

/** Picks notebooks by name or unique prefix ("06" or "06_gae"). */
export function pickNotebooks(all: string[], wanted: string[]): string[] {
  return wanted.map((w) => {
    const name = w.replace(/\.ipynb$/, "").replace(/^.*\//, "");
    if (all.includes(name)) return name;
    const hits = all.filter((n) => n.startsWith(name));
    if (hits.length === 1) return hits[0];
    throw new BookError(`--notebooks: ${w} ${hits.length ? `is ambiguous (${hits.join(", ")})` : `is not a notebook (${all.join(", ")})`}`);
  });
}

function hashFiles(h: crypto.Hash, dir: string, contents: boolean): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) hashFiles(h, f, contents);
    else if (e.isFile()) {
      h.update(path.relative(ROOT, f));
      if (contents) h.update(fs.readFileSync(f));
      else {
        const s = fs.statSync(f);
        h.update(`${s.size}:${s.mtimeMs}`);
      }
    }
  }
}

/** What an executed notebook depends on: its file, the config, lib/, data/, the lockfile, the checkpoints' stats. */
export function executionKey(nbFile: string, configFile: string): string {
  const h = crypto.createHash("sha256");
  h.update(fs.readFileSync(nbFile));
  h.update(fs.readFileSync(configFile));
  hashFiles(h, path.join(ROOT, "lib"), true);
  hashFiles(h, path.join(ROOT, "data"), false);
  if (fs.existsSync(path.join(ROOT, "package-lock.json"))) h.update(fs.readFileSync(path.join(ROOT, "package-lock.json")));
  const ck = /^\s*checkpoints:\s*(\S+)/m.exec(fs.readFileSync(configFile, "utf8"));
  if (ck) hashFiles(h, path.resolve(ROOT, ck[1]), false);
  return h.digest("hex");
}

interface RunResult {
  name: string;
  file: string;
  ok: boolean;
  seconds: number;
  problems: string[];
  output: string;
}

/** Executes what is stale into runDir (runs/book/<config>); returns nothing, throws when a notebook fails. */
async function execute(names: string[], configFile: string, runDir: string, timeout: number, force: boolean): Promise<void> {
  const cacheFile = path.join(runDir, "executed.json");
  const cache: Record<string, string> = fs.existsSync(cacheFile) ? JSON.parse(fs.readFileSync(cacheFile, "utf8")) : {};
  const files: string[] = [];
  for (const n of names) {
    for (const f of [path.join(ROOT, "notebooks", `${n}.ipynb`), path.join(ROOT, "notebooks", "solutions", `${n}.ipynb`)]) {
      if (!fs.existsSync(f)) continue;
      const rel = path.relative(ROOT, f);
      const out = path.join(runDir, path.relative(path.join(ROOT, "notebooks"), f));
      if (!force && cache[rel] === executionKey(f, configFile) && fs.existsSync(out)) console.log(`reused  ${path.relative(ROOT, out)} (unchanged since it ran)`);
      else files.push(f);
    }
  }
  if (!files.length) return;
  console.log(`executing ${files.length} notebook(s) on ${path.relative(ROOT, configFile)} into ${path.relative(ROOT, runDir)}/ ...`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runNotebooks } = require("./run-notebooks.js") as { runNotebooks(argv: string[], print?: (s: string) => void): Promise<RunResult[]> };
  const results = await runNotebooks([...files, "--config", path.relative(ROOT, configFile), "--out", path.relative(ROOT, runDir), "--timeout", String(timeout)]);
  for (const r of results) {
    const rel = path.relative(ROOT, r.file);
    if (r.ok) cache[rel] = executionKey(r.file, configFile);
    else delete cache[rel];
  }
  fs.writeFileSync(cacheFile, JSON.stringify(cache, null, 1) + "\n");
  const failed = results.filter((r) => !r.ok);
  if (failed.length) throw new BookError(`${failed.length} notebook(s) failed to execute: ${failed.map((r) => path.relative(ROOT, r.file)).join(", ")} (executed copies in ${path.relative(ROOT, runDir)}/)`);
}

function copyDir(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) copyDir(path.join(from, e.name), path.join(to, e.name));
    else fs.copyFileSync(path.join(from, e.name), path.join(to, e.name));
  }
}

function dirSize(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? dirSize(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size;
  return n;
}

const BOOK_CSS = `
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --code:#f6f8fa; --accent:#0969da; --sol:#f0f7ee; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:#fff; }
main { max-width: 980px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
header.top, footer.bottom { display:flex; gap:1rem; align-items:center; justify-content:space-between; max-width:980px; margin:0 auto; padding:.6rem 1.5rem; font-size:.9rem; }
header.top { border-bottom:1px solid var(--line); }
footer.bottom { border-top:1px solid var(--line); }
header.top .home { font-weight:600; white-space:nowrap; }
nav.prevnext { display:flex; gap:1.5rem; justify-content:space-between; flex:1; }
nav.prevnext .next { margin-left:auto; text-align:right; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
a.not-built { color:var(--muted); cursor:help; }
h1 { font-size:1.9rem; margin:1.2rem 0 .6rem; } h2 { font-size:1.4rem; margin-top:2rem; border-bottom:1px solid var(--line); padding-bottom:.2rem; }
h3 { font-size:1.15rem; }
.cell { margin: .8rem 0; }
.cell.md table { border-collapse:collapse; margin:.6rem 0; font-size:.92rem; }
.cell.md th, .cell.md td { border:1px solid var(--line); padding:.25rem .5rem; vertical-align:top; }
.cell.md code, .desc code { background:var(--code); padding:.1em .3em; border-radius:4px; font-size:.88em; }
.cell.md pre code { background:none; padding:0; }
pre { font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; overflow-x:auto; margin:0; }
.cell.md pre { background:var(--code); padding:.6rem .8rem; border-radius:6px; }
.input, .outputs { display:grid; grid-template-columns: 5.2rem minmax(0,1fr); }
.prompt { font:12px/1.45 ui-monospace,Menlo,Consolas,monospace; color:#3f51b5; text-align:right; padding:.55rem .6rem 0 0; white-space:nowrap; }
.prompt.out { color:#b0401b; }
pre.code { background:var(--code); border:1px solid var(--line); border-radius:6px; padding:.5rem .7rem; }
pre.code code.hljs { background:none; padding:0; }
.output-area { min-width:0; padding:.3rem 0; }
pre.output { padding:.25rem .7rem; white-space:pre-wrap; word-break:break-word; }
pre.stderr { background:#fff5f5; }
pre.error { background:#ffebe9; color:#82071e; }
.output.chart { padding:.2rem 0; }
.output.image img { max-width:100%; }
.math-block { overflow-x:auto; overflow-y:hidden; }
.katex-display { overflow-x:auto; overflow-y:hidden; padding:.2rem 0; }
details.solution { margin:.4rem 0 .4rem 5.2rem; border:1px solid #b7dfb9; border-radius:6px; background:var(--sol); }
details.solution > summary { cursor:pointer; padding:.35rem .7rem; font-weight:600; color:#1a7f37; }
details.solution .input, details.solution .outputs { grid-template-columns: 4.4rem minmax(0,1fr); padding-right:.5rem; }
details.solution pre.code { background:#fff; }
ol.course-map { padding-left:1.4rem; } ol.course-map > li { margin:1rem 0; }
a.nb-title { font-weight:600; font-size:1.08rem; }
.facts { color:var(--muted); font-size:.85rem; }
.desc { margin:.2rem 0; }
ol.sections { margin:.3rem 0; padding-left:1.3rem; font-size:.92rem; columns: 2; }
p.built { color:var(--muted); font-size:.85rem; margin-top:2rem; }
@media (max-width:700px) { .input, .outputs { grid-template-columns: minmax(0,1fr); } .prompt { text-align:left; } details.solution { margin-left:0; } ol.sections { columns:1; } }
`;

const BOOK_JS = `// Draws the page's charts with plotly.js (loaded by the page when it has charts) from their JSON.
(function () {
  var blocks = document.querySelectorAll("script.plot-data");
  for (var i = 0; i < blocks.length; i++) {
    var el = document.getElementById(blocks[i].getAttribute("data-for"));
    if (!el) continue;
    if (!window.Plotly) { el.textContent = "(chart: plotly.js did not load: assets/plotly.min.js)"; continue; }
    var fig = JSON.parse(blocks[i].textContent);
    var config = Object.assign({}, fig.config || {}, { responsive: true, displaylogo: false });
    window.Plotly.newPlot(el, fig.data, fig.layout, config);
  }
})();
`;

export interface BuildOptions {
  notebooks: string[];
  config: string;
  from?: string;
  out: string;
  timeout: number;
  force: boolean;
}

export interface BuildSummary {
  pages: number;
  notebooks: number;
  charts: number;
  equations: number;
  exercises: number;
  bytes: number;
  seconds: number;
}

/** Builds the site; throws a BookError on any problem. */
export async function build(o: BuildOptions): Promise<BuildSummary> {
  const t0 = Date.now();
  const all = courseNotebooks();
  const names = o.notebooks.length ? [...new Set(pickNotebooks(all, o.notebooks))].sort() : all;
  const configFile = path.resolve(ROOT, o.config);
  if (!fs.existsSync(configFile)) throw new BookError(`--config ${o.config}: no such file`);
  let srcDir: string;
  if (o.from) {
    srcDir = path.resolve(ROOT, o.from);
    if (!fs.existsSync(srcDir)) throw new BookError(`--from ${o.from}: no such folder`);
  } else {
    srcDir = path.join(ROOT, "runs", "book", path.basename(configFile).replace(/\.ya?ml$/, ""));
    fs.mkdirSync(srcDir, { recursive: true });
    await execute(names, configFile, srcDir, o.timeout, o.force);
  }
  const read = (f: string): Notebook => JSON.parse(fs.readFileSync(f, "utf8")) as Notebook;
  const inputs: NotebookInput[] = names.map((name) => {
    const lf = path.join(srcDir, `${name}.ipynb`);
    if (!fs.existsSync(lf)) throw new BookError(`${name}: no executed notebook ${path.relative(ROOT, lf)}${o.from ? " (run it first: npm run test:notebooks, or drop --from)" : ""}`);
    const hasSolution = fs.existsSync(path.join(ROOT, "notebooks", "solutions", `${name}.ipynb`));
    const sf = path.join(srcDir, "solutions", `${name}.ipynb`);
    if (hasSolution && !fs.existsSync(sf)) throw new BookError(`${name}: no executed solution ${path.relative(ROOT, sf)} (the exercises' solutions are folded into the page)`);
    return { name, learner: read(lf), solution: hasSolution ? read(sf) : undefined };
  });

  // the site's pages, by repository path
  const docs = fs.existsSync(path.join(ROOT, "docs")) ? fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).sort() : [];
  const pages: PageMap = new Map([["README.md", "index.html"]]);
  const coursePages: PageMap = new Map(pages);
  for (const n of all) {
    const site = `notebooks/${n}.html`;
    for (const p of [`notebooks/${n}.ipynb`, `notebooks/solutions/${n}.ipynb`]) {
      coursePages.set(p, site);
      if (names.includes(n)) pages.set(p, site);
    }
  }
  for (const d of docs) {
    pages.set(`docs/${d}`, `docs/${d.replace(/\.md$/, ".html")}`);
    coursePages.set(`docs/${d}`, `docs/${d.replace(/\.md$/, ".html")}`);
  }

  // titles first (previous/next links name their neighbours), then the pages
  const titles = new Map<string, string>();
  for (const inp of inputs) {
    const first = inp.learner.cells.find((c) => c.cell_type === "markdown");
    const h1 = first ? /^#\s+(.*)$/m.exec(joinText(first.source)) : null;
    titles.set(inp.name, h1 ? stripTags(renderMarkdown(h1[1], { where: { file: inp.name, cell: 1 }, fromRepo: `notebooks/${inp.name}.ipynb`, fromSite: "x.html", pages, coursePages }).replace(/<\/?p>/g, "").trim()) : inp.name);
  }
  const order = prevNext(names);
  const files = new Map<string, string>();
  const nbPages = inputs.map((inp) => renderNotebook(inp, pages, coursePages, order.get(inp.name)!, titles));
  for (const p of nbPages) files.set(p.siteFile, p.html);
  const docPages = docs.map((d) => {
    const r = renderDoc(`docs/${d}`, fs.readFileSync(path.join(ROOT, "docs", d), "utf8"), pages, coursePages);
    files.set(pages.get(`docs/${d}`)!, r.html);
    return { repoFile: `docs/${d}`, title: r.title };
  });
  const label = `Built ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC from ${o.from ? `the executed notebooks in ${path.relative(ROOT, srcDir)}/` : `notebooks executed on ${path.relative(ROOT, configFile)}`}${names.length < all.length ? ` (${names.length} of the ${all.length} notebooks)` : ""}.`;
  files.set("index.html", renderIndex({ readme: fs.readFileSync(path.join(ROOT, "README.md"), "utf8"), notebooks: nbPages, docs: docPages, pages, coursePages, label }));

  // assets: placeholders so the link check sees them, copied below
  const assets = ["assets/katex/katex.min.css", "assets/highlight.css", "assets/book.css", "assets/book.js", "assets/plotly.min.js"];
  for (const a of assets) files.set(a, "");
  const broken = brokenLinks(files);
  if (broken.length) throw new BookError(`broken links:\n  ${broken.join("\n  ")}`);

  // write: the output folder is replaced as a whole (only one this tool wrote, or an empty one)
  const out = path.resolve(ROOT, o.out);
  if (fs.existsSync(out)) {
    if (!fs.existsSync(path.join(out, ".book")) && fs.readdirSync(out).length > 0) throw new BookError(`--out ${o.out}: exists and was not written by npm run book; refusing to replace it`);
    fs.rmSync(out, { recursive: true, force: true });
  }
  fs.mkdirSync(path.join(out, "assets"), { recursive: true });
  fs.writeFileSync(path.join(out, ".book"), "written by tools/book.ts (npm run book); replaced on every build\n");
  for (const [f, html] of files) {
    if (f.startsWith("assets/")) continue;
    fs.mkdirSync(path.dirname(path.join(out, f)), { recursive: true });
    fs.writeFileSync(path.join(out, f), html);
  }
  const katexDist = path.join(path.dirname(require.resolve("katex/package.json", { paths: [ROOT] })), "dist");
  fs.mkdirSync(path.join(out, "assets", "katex"), { recursive: true });
  fs.copyFileSync(path.join(katexDist, "katex.min.css"), path.join(out, "assets", "katex", "katex.min.css"));
  // the woff2 fonts are all a current browser loads (the CSS lists woff and ttf after them as fallbacks)
  copyDir(path.join(katexDist, "fonts"), path.join(out, "assets", "katex", "fonts"));
  const hljsDir = path.dirname(require.resolve("highlight.js/package.json", { paths: [ROOT] }));
  fs.copyFileSync(path.join(hljsDir, "styles", "github.min.css"), path.join(out, "assets", "highlight.css"));
  fs.writeFileSync(path.join(out, "assets", "book.css"), BOOK_CSS.trimStart());
  fs.writeFileSync(path.join(out, "assets", "book.js"), BOOK_JS);
  if (nbPages.some((p) => p.charts > 0)) fs.copyFileSync(plotlyJsPath(), path.join(out, "assets", "plotly.min.js"));
  return {
    pages: [...files.keys()].filter((f) => f.endsWith(".html")).length,
    notebooks: nbPages.length,
    charts: nbPages.reduce((s, p) => s + p.charts, 0),
    equations: nbPages.reduce((s, p) => s + p.equations, 0),
    exercises: nbPages.reduce((s, p) => s + p.exercises, 0),
    bytes: dirSize(out),
    seconds: (Date.now() - t0) / 1000,
  };
}

const USAGE = `usage: npm run book -- [--config <file>] [--from <folder>] [--notebooks <name,name>] [--out <folder>] [--timeout <s>] [--force]
  --config     config the notebooks are executed on (default config/course.yaml; its checkpoints are reused)
  --from       use the executed notebooks in this folder (<name>.ipynb and solutions/<name>.ipynb), execute nothing
  --notebooks  only these notebooks (names or unique prefixes, comma-separated; default all)
  --out        where the site goes (default book/; replaced on every build)
  --timeout    seconds per cell when executing (default 600)
  --force      execute again even when an executed copy is up to date
  --help       this text
exit codes: 0 built; 1 a notebook failed or the site has a problem (the message names the notebook and cell); 2 bad arguments`;

async function main(): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: process.argv.slice(2),
      options: {
        config: { type: "string" },
        from: { type: "string" },
        notebooks: { type: "string" },
        out: { type: "string" },
        timeout: { type: "string" },
        force: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    console.error(`book: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const timeout = Number(values.timeout ?? 600);
  if (!(timeout > 0)) {
    console.error(`book: --timeout must be a positive number of seconds\n${USAGE}`);
    return 2;
  }
  const opts: BuildOptions = {
    notebooks: (values.notebooks ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    config: values.config ?? "config/course.yaml",
    from: values.from,
    out: values.out ?? "book",
    timeout,
    force: values.force ?? false,
  };
  try {
    const s = await build(opts);
    const abs = path.resolve(ROOT, opts.out);
    const out = abs.startsWith(ROOT + path.sep) ? path.relative(ROOT, abs) : abs;
    console.log(
      `book: ${s.pages} pages (${s.notebooks} notebooks), ${s.charts} charts, ${s.equations} equations, ${s.exercises} folded solutions; ` +
        `${(s.bytes / 1e6).toFixed(1)} MB in ${out}/ (${s.seconds.toFixed(1)} s). Open ${out}/index.html`,
    );
    return 0;
  } catch (e) {
    if (e instanceof BookError) {
      console.error(`book: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.stack : e);
      process.exit(1);
    },
  );
}
