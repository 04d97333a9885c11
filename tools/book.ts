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
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import plaintext from "highlight.js/lib/languages/plaintext";
import python from "highlight.js/lib/languages/python";
import typescript from "highlight.js/lib/languages/typescript";
import yaml from "highlight.js/lib/languages/yaml";
import katex from "katex";
import MarkdownIt from "markdown-it";

hljs.registerLanguage("typescript", typescript);
hljs.registerLanguage("javascript", javascript);
hljs.registerLanguage("json", json);
hljs.registerLanguage("bash", bash);
hljs.registerLanguage("python", python);
hljs.registerLanguage("yaml", yaml);
hljs.registerLanguage("plaintext", plaintext);

export const ROOT = path.resolve(__dirname, "..");

/** A build problem the author has to fix: the message names the notebook (or file) and the cell. */
export class BookError extends Error {}

// ---- notebooks ---------------------------------------------------------------------------------------------------

export interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
  execution_count?: number | null;
}
export interface Cell {
  cell_type: string;
  id?: string;
  source: string | string[];
  outputs?: Output[];
  execution_count?: number | null;
}
export interface Notebook {
  cells: Cell[];
  metadata?: { rlhf_course?: { variant?: string; exercises?: string[] } };
}

export const joinText = (t: string | string[] | undefined): string => (Array.isArray(t) ? t.join("") : (t ?? ""));

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

// ---- math: cut out, typeset, put back ----------------------------------------------------------------------------

export interface MathPiece {
  tex: string;
  display: boolean;
}

// Placeholders from Unicode's private use area: markdown-it passes them through untouched, and no source uses them.
const PH_OPEN = "\uE000";
const PH_CLOSE = "\uE001";
const PH_RE = /\uE000(\d+)\uE001/g;

/**
 * Replaces the equations of a Markdown text with placeholders, so the Markdown parser never sees their underscores,
 * asterisks, backslashes or pipes. Delimiters: $$...$$ and \[...\] (display), $...$ and \(...\) (inline). Fenced code
 * blocks and code spans are left alone; so is an escaped \$. An inline $ opens only before a non-space and closes only
 * after a non-space, not before a digit, within its paragraph (pandoc's rule); a $ that does not pair stays text.
 */
export function extractMath(md: string): { text: string; math: MathPiece[] } {
  const math: MathPiece[] = [];
  const put = (tex: string, display: boolean): string => {
    math.push({ tex, display });
    return `${PH_OPEN}${math.length - 1}${PH_CLOSE}`;
  };
  let out = "";
  const lines = md.split("\n");
  let prose: string[] = [];
  const flush = (): void => {
    if (prose.length) out += extractInProse(prose.join("\n"), put) + "\n";
    prose = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const fence = /^ {0,3}(`{3,}|~{3,})/.exec(lines[i]);
    if (!fence) {
      prose.push(lines[i]);
      continue;
    }
    flush();
    const mark = fence[1];
    out += lines[i] + "\n";
    for (i++; i < lines.length; i++) {
      out += lines[i] + "\n";
      if (new RegExp(`^ {0,3}${mark[0] === "`" ? "`" : "~"}{${mark.length},}\\s*$`).test(lines[i])) break;
    }
  }
  flush();
  return { text: out.slice(0, -1), math };
}

function extractInProse(s: string, put: (tex: string, display: boolean) => string): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "`") {
      // a code span: a run of backticks up to the next run of the same length
      let n = 1;
      while (s[i + n] === "`") n++;
      const run = "`".repeat(n);
      let j = s.indexOf(run, i + n);
      while (j >= 0 && s[j + n] === "`") {
        let k = j;
        while (s[k] === "`") k++;
        j = s.indexOf(run, k);
      }
      if (j < 0) {
        out += run;
        i += n;
      } else {
        out += s.slice(i, j + n);
        i = j + n;
      }
      continue;
    }
    if (c === "\\") {
      const next = s[i + 1];
      if (next === "(" || next === "[") {
        const close = next === "(" ? "\\)" : "\\]";
        const j = s.indexOf(close, i + 2);
        if (j >= 0) {
          out += put(s.slice(i + 2, j).trim(), next === "[");
          i = j + 2;
          continue;
        }
      }
      out += s.slice(i, i + 2); // an escape, \$ included: the Markdown parser unescapes it
      i += 2;
      continue;
    }
    if (c === "$") {
      if (s[i + 1] === "$") {
        const j = findUnescaped(s, "$$", i + 2);
        if (j >= 0) {
          out += put(s.slice(i + 2, j).trim(), true);
          i = j + 2;
          continue;
        }
        out += "$$";
        i += 2;
        continue;
      }
      const j = closingDollar(s, i);
      if (j >= 0) {
        out += put(s.slice(i + 1, j), false);
        i = j + 1;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}

function findUnescaped(s: string, what: string, from: number): number {
  for (let j = s.indexOf(what, from); j >= 0; j = s.indexOf(what, j + 1)) {
    let bs = 0;
    while (s[j - 1 - bs] === "\\") bs++;
    if (bs % 2 === 0) return j;
  }
  return -1;
}

function closingDollar(s: string, open: number): number {
  if (open + 1 >= s.length || /\s/.test(s[open + 1])) return -1;
  for (let j = open + 1; j < s.length; j++) {
    const c = s[j];
    if (c === "\\") {
      j++;
      continue;
    }
    if (c === "\n" && /^\n[ \t]*(\n|$)/.test(s.slice(j))) return -1; // a blank line ends the paragraph
    if (c === "$") {
      if (/\s/.test(s[j - 1]) || /\d/.test(s[j + 1] ?? "")) continue;
      return j;
    }
  }
  return -1;
}

/** Where an equation comes from, for error messages: "06_gae, cell 12". */
export interface Where {
  file: string;
  cell?: number;
}
const whereText = (w: Where): string => (w.cell === undefined ? w.file : `${w.file}, cell ${w.cell}`);

/** KaTeX's HTML for one equation; throws a BookError naming where it comes from. `macros` persists \newcommand. */
export function typeset(piece: MathPiece, where: Where, macros: Record<string, string> = {}): string {
  try {
    return katex.renderToString(piece.tex, { displayMode: piece.display, throwOnError: true, strict: "ignore", macros, globalGroup: true, output: "htmlAndMathml" });
  } catch (e) {
    const d = piece.display ? "$$" : "$";
    throw new BookError(`${whereText(where)}: cannot typeset ${d}${piece.tex.length > 120 ? piece.tex.slice(0, 117) + "..." : piece.tex}${d}: ${(e as Error).message}`);
  }
}

// ---- links -------------------------------------------------------------------------------------------------------

/** The site's pages: repository path (POSIX, e.g. "notebooks/06_gae.ipynb") -> site path ("notebooks/06_gae.html"). */
export type PageMap = Map<string, string>;

export type LinkResult = { href: string } | { unbuilt: string } | { error: string };

/**
 * Rewrites a link of a page whose source is the repository file `fromRepo` and which is written to `fromSite`.
 * External links (a scheme: https:, mailto:) and same-page anchors stay. A relative link to a file that has a page
 * becomes a relative link to that page, its #anchor kept. A notebook of the course that is not in this build (a
 * --notebooks subset) is `unbuilt`; any other file of the repository is an error (it has no page: link to the
 * notebook or doc that explains it, or to an external address).
 */
export function rewriteLink(href: string, fromRepo: string, fromSite: string, pages: PageMap, coursePages: PageMap = pages): LinkResult {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//") || href.startsWith("#") || href === "") return { href };
  const hash = href.indexOf("#");
  const target = decodeURI(hash >= 0 ? href.slice(0, hash) : href);
  const anchor = hash >= 0 ? href.slice(hash) : "";
  const repo = path.posix.normalize(path.posix.join(path.posix.dirname(fromRepo), target.split("?")[0]));
  const site = pages.get(repo);
  if (site !== undefined) {
    if (site === fromSite) return { href: anchor || "#" };
    return { href: encodeURI(path.posix.relative(path.posix.dirname(fromSite), site)) + anchor };
  }
  if (coursePages.has(repo)) return { unbuilt: repo };
  return { error: `link to ${repo || href} (${href}): not a page of the book (link a notebook, docs/*.md, or an external address)` };
}

/** Heading ids as GitHub makes them: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2. */
export function slugify(text: string, used: Set<string>): string {
  const base =
    text
      .replace(PH_RE, "")
      .toLowerCase()
      .trim()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-") || "section";
  let slug = base;
  for (let n = 1; used.has(slug); n++) slug = `${base}-${n}`;
  used.add(slug);
  return slug;
}

// ---- Markdown ----------------------------------------------------------------------------------------------------

interface MdEnv {
  fromRepo: string;
  fromSite: string;
  pages: PageMap;
  coursePages: PageMap;
  slugs: Set<string>;
  errors: string[];
}

function highlight(code: string, lang: string): string {
  const l = lang === "ts" ? "typescript" : lang === "js" ? "javascript" : lang === "sh" || lang === "shell" ? "bash" : lang;
  if (l && hljs.getLanguage(l)) return hljs.highlight(code, { language: l, ignoreIllegals: true }).value;
  return escapeHtml(code);
}

type Token = ReturnType<InstanceType<typeof MarkdownIt>["parse"]>[number];
const mdEnv = (e: unknown): MdEnv => e as MdEnv;

/** Rewrites the href (or src) of a link (or image) token in place, recording errors in env. */
function fixLink(t: Token, attr: "href" | "src", env: MdEnv): void {
  const raw = t.attrGet(attr);
  if (raw === null) return;
  const href = String(raw);
  const r = rewriteLink(href, env.fromRepo, env.fromSite, env.pages, env.coursePages);
  if ("error" in r) env.errors.push(r.error);
  else if ("unbuilt" in r) {
    t.attrs = (t.attrs ?? []).filter((a) => a[0] !== attr);
    t.attrSet("class", "not-built");
    t.attrSet("title", `${r.unbuilt} is not part of this build`);
  } else {
    t.attrSet(attr, r.href);
    if (/^[a-z][a-z0-9+.-]*:/i.test(r.href)) t.attrSet("rel", "noopener");
  }
}

function markdownIt() {
  const md = new MarkdownIt({ html: true, linkify: false, typographer: false, highlight: (code, lang) => highlight(code, lang) });
  md.renderer.rules.heading_open = (tokens, idx, options, env, self) => {
    const inline = tokens[idx + 1];
    const text = (inline.children ?? []).filter((t) => t.type === "text" || t.type === "code_inline").map((t) => t.content).join("");
    tokens[idx].attrSet("id", slugify(text, mdEnv(env).slugs));
    return self.renderToken(tokens, idx, options);
  };
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    fixLink(tokens[idx], "href", mdEnv(env));
    return self.renderToken(tokens, idx, options);
  };
  const image = md.renderer.rules.image!;
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    fixLink(tokens[idx], "src", mdEnv(env));
    return image(tokens, idx, options, env, self);
  };
  return md;
}

const MD = markdownIt();

export interface MdContext {
  where: Where;
  fromRepo: string;
  fromSite: string;
  pages: PageMap;
  coursePages?: PageMap;
  slugs?: Set<string>;
  macros?: Record<string, string>;
}

/** Markdown -> HTML with its equations typeset by KaTeX and its links rewritten; errors name the notebook and cell. */
export function renderMarkdown(src: string, ctx: MdContext): string {
  const { text, math } = extractMath(src);
  const env: MdEnv = { fromRepo: ctx.fromRepo, fromSite: ctx.fromSite, pages: ctx.pages, coursePages: ctx.coursePages ?? ctx.pages, slugs: ctx.slugs ?? new Set(), errors: [] };
  const html = MD.render(text, env as unknown as Record<string, unknown>);
  if (env.errors.length) throw new BookError(`${whereText(ctx.where)}: ${env.errors.join("; ")}`);
  const macros = ctx.macros ?? {};
  const rendered = math.map((m) => typeset(m, ctx.where, macros));
  // a paragraph that is only a display equation loses its <p> (KaTeX's display block is a span; this keeps margins tidy)
  return html
    .replace(/<p>\s*\uE000(\d+)\uE001\s*<\/p>/g, (all: string, i: string) => (math[Number(i)].display ? `<div class="math-block">${rendered[Number(i)]}</div>` : all))
    .replace(PH_RE, (_: string, i: string) => rendered[Number(i)]);
}

// ---- code cells and outputs --------------------------------------------------------------------------------------

/** Terminal text as shown: ANSI colour codes dropped, a carriage return overwrites its line (progress bars). */
export function terminalText(s: string): string {
  return s
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")
    .split("\n")
    .map((l) => l.split("\r").filter((p) => p !== "").pop() ?? "")
    .join("\n");
}

export interface RenderState {
  plots: number;
  equations: number;
  where: Where;
  pages: PageMap;
  fromRepo: string;
  fromSite: string;
  macros: Record<string, string>;
}

function renderOutput(o: Output, st: RenderState): string {
  if (o.output_type === "stream") return `<pre class="output stream ${o.name === "stderr" ? "stderr" : "stdout"}">${escapeHtml(terminalText(joinText(o.text)))}</pre>`;
  if (o.output_type === "error") {
    const tb = o.traceback?.length ? o.traceback.join("\n") : `${o.ename}: ${o.evalue}`;
    return `<pre class="output error">${escapeHtml(terminalText(tb))}</pre>`;
  }
  const data = o.data ?? {};
  const plotly = data["application/vnd.plotly.v1+json"] as { data?: unknown[]; layout?: { height?: number }; config?: unknown } | undefined;
  if (plotly) {
    const id = `plot-${++st.plots}`;
    const h = Number(plotly.layout?.height) || 360;
    const fig = JSON.stringify({ data: plotly.data ?? [], layout: plotly.layout ?? {}, config: plotly.config ?? {} }).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
    return `<div class="output chart"><div id="${id}" class="rlhf-plot" style="height:${h}px"></div><script type="application/json" class="plot-data" data-for="${id}">${fig}</script></div>`;
  }
  if (typeof data["text/html"] !== "undefined") return `<div class="output html">${joinText(data["text/html"] as string | string[])}</div>`;
  for (const mime of ["image/png", "image/jpeg", "image/gif"]) {
    if (data[mime]) return `<div class="output image"><img alt="output" src="data:${mime};base64,${joinText(data[mime] as string | string[]).replace(/\s/g, "")}"></div>`;
  }
  if (data["image/svg+xml"]) return `<div class="output image">${joinText(data["image/svg+xml"] as string | string[])}</div>`;
  if (data["text/markdown"] !== undefined) {
    return `<div class="output markdown">${renderMarkdown(joinText(data["text/markdown"] as string | string[]), { where: st.where, fromRepo: st.fromRepo, fromSite: st.fromSite, pages: st.pages, macros: st.macros })}</div>`;
  }
  if (data["text/latex"] !== undefined) {
    const { text, math } = extractMath(joinText(data["text/latex"] as string | string[]));
    return `<div class="output latex">${escapeHtml(text).replace(PH_RE, (_: string, i: string) => typeset(math[Number(i)], st.where, st.macros))}</div>`;
  }
  if (data["text/plain"] !== undefined) return `<pre class="output text">${escapeHtml(terminalText(joinText(data["text/plain"] as string | string[])))}</pre>`;
  return "";
}

/**
 * The In [n] of each code cell (undefined for the others): the run's execution_count where the kernel reported one;
 * tslab does not, so otherwise the cell's place among the notebook's non-empty code cells, which is the count a
 * fresh kernel running them top to bottom gives (nbclient skips empty cells). A notebook without any output was not
 * executed: that is an error.
 */
export function executionNumbers(nb: Notebook, name: string): (number | undefined)[] {
  const code = nb.cells.filter((c) => c.cell_type === "code" && joinText(c.source).trim() !== "");
  if (code.length && !code.some((c) => (c.outputs ?? []).length > 0 || typeof c.execution_count === "number")) {
    throw new BookError(`${name}: no code cell has an output or an execution count: the notebook was not executed (run it, or drop --from)`);
  }
  const reported = code.every((c) => typeof c.execution_count === "number");
  let n = 0;
  return nb.cells.map((c) => {
    if (c.cell_type !== "code" || joinText(c.source).trim() === "") return undefined;
    n++;
    return reported ? (c.execution_count as number) : n;
  });
}

function renderCode(cell: Cell, count: number | undefined, st: RenderState): string {
  const src = joinText(cell.source);
  const outputs = (cell.outputs ?? []).map((o) => renderOutput(o, st)).join("\n");
  return (
    `<div class="input"><div class="prompt">In&nbsp;[${count}]:</div><pre class="code"><code class="hljs language-typescript">${highlight(src, "typescript")}</code></pre></div>` +
    (outputs ? `\n<div class="outputs"><div class="prompt out">Out:</div><div class="output-area">${outputs}</div></div>` : "")
  );
}

// ---- exercises ---------------------------------------------------------------------------------------------------

// the verdict line of lib/exercise.ts (tools/run-notebooks.js keeps the same pattern)
const VERDICT = /^exercise (\d\d[a-z]?\.\d+) .*?: (PASS|FAIL|NOT DONE) \(/m;

export interface PageCell {
  /** 1-based position in the notebook, as error messages and the page's cell anchors name it */
  n: number;
  cell: Cell;
  /** the same cell of the solution notebook, when it is folded under this one */
  solution?: Cell;
  /** "code": the solution's code differs (an exercise); "output": only its output (the check cell of an exercise) */
  fold?: "code" | "output";
}

const outputsText = (c: Cell): string => (c.outputs ?? []).map((o) => joinText(o.text) + joinText(o.data?.["text/plain"] as string | string[] | undefined)).join("\n");

/**
 * Pairs the learner's cells with the solution notebook's (tools/nb.js writes both from one source, cell for cell). A
 * code cell whose source differs is an exercise: its solution is folded under it with the solution's output. A cell
 * with the same code whose output prints an exercise verdict (the check cell) gets the solution's output folded.
 */
export function foldExercises(learner: Notebook, solution: Notebook | undefined, name: string): PageCell[] {
  if (solution && solution.cells.length !== learner.cells.length) {
    throw new BookError(`${name}: the solution notebook has ${solution.cells.length} cells, the notebook ${learner.cells.length}: regenerate both (node tools/nb.js build) and run them again`);
  }
  return learner.cells.map((cell, i) => {
    const sol = solution?.cells[i];
    const pc: PageCell = { n: i + 1, cell };
    if (!sol || cell.cell_type !== "code") return pc;
    if (sol.cell_type !== "code") throw new BookError(`${name}, cell ${i + 1}: a code cell in the notebook but ${sol.cell_type} in its solution`);
    if (joinText(sol.source) !== joinText(cell.source)) return { ...pc, solution: sol, fold: "code" };
    if (VERDICT.test(outputsText(cell)) && outputsText(sol) !== outputsText(cell)) return { ...pc, solution: sol, fold: "output" };
    return pc;
  });
}

// ---- pages -------------------------------------------------------------------------------------------------------

export interface Neighbours {
  prev?: string;
  next?: string;
}

/** Previous and next of each name in reading order (names sort as the course runs: 08_ before 08b_). */
export function prevNext(names: string[]): Map<string, Neighbours> {
  const order = [...names].sort();
  return new Map(order.map((n, i) => [n, { prev: order[i - 1], next: order[i + 1] }]));
}

export interface Heading {
  level: number;
  id: string;
  html: string;
}

/** h1/h2 headings of rendered HTML, for the contents. */
export function headings(html: string): Heading[] {
  const hs: Heading[] = [];
  for (const m of html.matchAll(/<h([12]) id="([^"]*)">([\s\S]*?)<\/h\1>/g)) hs.push({ level: Number(m[1]), id: m[2], html: m[3] });
  return hs;
}

const stripTags = (html: string): string =>
  html
    .replace(/<span class="katex-mathml">[\s\S]*?<\/math><\/span>/g, "")
    .replace(/<[^>]+>/g, "")
    .replace(/&amp;/g, "&")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"');

interface PageArgs {
  title: string;
  siteFile: string;
  body: string;
  charts: boolean;
  nav?: string;
}

function page(a: PageArgs): string {
  const up = "../".repeat(a.siteFile.split("/").length - 1);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(a.title)}</title>
<link rel="stylesheet" href="${up}assets/katex/katex.min.css">
<link rel="stylesheet" href="${up}assets/highlight.css">
<link rel="stylesheet" href="${up}assets/book.css">
${a.charts ? `<script src="${up}assets/plotly.min.js"></script>\n` : ""}</head>
<body>
<header class="top"><a class="home" href="${up}index.html">RLHF with PPO · contents</a>${a.nav ?? ""}</header>
<main>
${a.body}
</main>
${a.nav ? `<footer class="bottom">${a.nav}</footer>\n` : ""}<script src="${up}assets/book.js"></script>
</body>
</html>
`;
}

export interface NotebookPage {
  name: string;
  title: string;
  siteFile: string;
  html: string;
  headings: Heading[];
  charts: number;
  equations: number;
  exercises: number;
}

export interface NotebookInput {
  name: string;
  learner: Notebook;
  solution?: Notebook;
}

/** One notebook's page. `titles` maps notebook names to their titles (for the previous/next links). */
export function renderNotebook(input: NotebookInput, pages: PageMap, coursePages: PageMap, nav: Neighbours, titles: Map<string, string>): NotebookPage {
  const { name } = input;
  const fromRepo = `notebooks/${name}.ipynb`;
  const siteFile = pages.get(fromRepo)!;
  const slugs = new Set<string>();
  const macros: Record<string, string> = {};
  const st: RenderState = { plots: 0, equations: 0, where: { file: name }, pages, fromRepo, fromSite: siteFile, macros };
  const parts: string[] = [];
  let exercises = 0;
  const learnerCounts = executionNumbers(input.learner, name);
  const solutionCounts = input.solution ? executionNumbers(input.solution, `${name} (solution)`) : [];
  for (const pc of foldExercises(input.learner, input.solution, name)) {
    const where = { file: name, cell: pc.n };
    st.where = where;
    const c = pc.cell;
    const src = joinText(c.source);
    if (c.cell_type === "markdown") {
      parts.push(`<section class="cell md" id="cell-${pc.n}">${renderMarkdown(src, { where, fromRepo, fromSite: siteFile, pages, coursePages, slugs, macros })}</section>`);
      continue;
    }
    if (c.cell_type !== "code" || src.trim() === "") continue;
    let html = renderCode(c, learnerCounts[pc.n - 1], st);
    if (pc.solution && pc.fold === "code") {
      exercises++;
      html += `\n<details class="solution"><summary>Solution</summary>${renderCode(pc.solution, solutionCounts[pc.n - 1], st)}</details>`;
    } else if (pc.solution && pc.fold === "output") {
      const outs = (pc.solution.outputs ?? []).map((o) => renderOutput(o, st)).join("\n");
      html += `\n<details class="solution"><summary>Output with the solution</summary><div class="outputs"><div class="prompt out">Out:</div><div class="output-area">${outs}</div></div></details>`;
    }
    parts.push(`<section class="cell code" id="cell-${pc.n}">${html}</section>`);
  }
  const body = parts.join("\n");
  const hs = headings(body);
  const title = stripTags(hs.find((h) => h.level === 1)?.html ?? name);
  const link = (n: string | undefined, rel: "prev" | "next"): string => {
    if (!n) return `<span class="${rel} none"></span>`;
    const href = path.posix.relative(path.posix.dirname(siteFile), pages.get(`notebooks/${n}.ipynb`)!);
    return `<a class="${rel}" rel="${rel}" href="${encodeURI(href)}">${rel === "prev" ? "← " : ""}${escapeHtml(titles.get(n) ?? n)}${rel === "next" ? " →" : ""}</a>`;
  };
  const navHtml = `<nav class="prevnext">${link(nav.prev, "prev")}${link(nav.next, "next")}</nav>`;
  const equations = (body.match(/class="katex"/g) ?? []).length;
  return { name, title, siteFile, html: page({ title: `${title} · RLHF with PPO`, siteFile, body, charts: st.plots > 0, nav: navHtml }), headings: hs, charts: st.plots, equations, exercises };
}

/** A Markdown file of the repository (docs/*.md) as a page. */
export function renderDoc(repoFile: string, text: string, pages: PageMap, coursePages: PageMap): { title: string; html: string } {
  const siteFile = pages.get(repoFile)!;
  const body = renderMarkdown(text, { where: { file: repoFile }, fromRepo: repoFile, fromSite: siteFile, pages, coursePages });
  const title = stripTags(headings(body).find((h) => h.level === 1)?.html ?? path.basename(repoFile));
  return { title, html: page({ title: `${title} · RLHF with PPO`, siteFile, body: `<section class="cell md doc">${body}</section>`, charts: false }) };
}

/** The README's course table: notebook name -> its description (Markdown), when the README has one. */
export function readmeDescriptions(readme: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readme.split("\n")) {
    const r = /^\|\s*`([0-9][0-9a-z]*_[a-z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (r) m.set(r[1], r[2].trim());
  }
  return m;
}

export interface IndexArgs {
  readme: string;
  notebooks: NotebookPage[];
  docs: { repoFile: string; title: string }[];
  pages: PageMap;
  coursePages: PageMap;
  label: string;
}

/** The index: the README's introduction, the course map (each notebook, what it builds, its sections), the docs. */
export function renderIndex(a: IndexArgs): string {
  const siteFile = "index.html";
  const ctx = (where: string) => ({ where: { file: where }, fromRepo: "README.md", fromSite: siteFile, pages: a.pages, coursePages: a.coursePages, slugs: new Set<string>() });
  const lines = a.readme.split("\n");
  const h2 = lines.findIndex((l) => /^## /.test(l));
  const title = (/^# (.*)$/m.exec(a.readme) ?? [])[1] ?? "RLHF with PPO";
  const intro = lines.slice(lines.findIndex((l) => /^# /.test(l)) + 1, h2 < 0 ? lines.length : h2).join("\n");
  const desc = readmeDescriptions(a.readme);
  const items = a.notebooks
    .map((nb) => {
      const href = encodeURI(nb.siteFile);
      const d = desc.get(nb.name);
      const sections = nb.headings
        .filter((h) => h.level === 2)
        .map((h) => `<li><a href="${href}#${h.id}">${h.html}</a></li>`)
        .join("");
      const facts = [nb.exercises ? `${nb.exercises} exercise${nb.exercises === 1 ? "" : "s"}` : "", nb.charts ? `${nb.charts} chart${nb.charts === 1 ? "" : "s"}` : ""].filter(Boolean).join(", ");
      return (
        `<li class="nb"><a class="nb-title" href="${href}">${escapeHtml(nb.title)}</a>${facts ? ` <span class="facts">${facts}</span>` : ""}` +
        (d ? `<div class="desc">${renderMarkdown(d, ctx(`README.md (${nb.name})`)).replace(/^<p>|<\/p>\s*$/g, "")}</div>` : "") +
        (sections ? `<ol class="sections">${sections}</ol>` : "") +
        `</li>`
      );
    })
    .join("\n");
  const docs = a.docs.map((d) => `<li><a href="${encodeURI(a.pages.get(d.repoFile)!)}">${escapeHtml(d.title)}</a></li>`).join("");
  const body =
    `<section class="cell md intro"><h1 id="top">${escapeHtml(title)}</h1>${renderMarkdown(intro, ctx("README.md"))}</section>\n` +
    `<section class="cell md"><h2 id="course-map">Course map</h2><ol class="course-map">${items}</ol></section>\n` +
    (docs ? `<section class="cell md"><h2 id="reference">Reference</h2><ul class="docs">${docs}</ul></section>\n` : "") +
    `<p class="built">${escapeHtml(a.label)}</p>`;
  return page({ title, siteFile, body, charts: false });
}

// ---- checking the written site -----------------------------------------------------------------------------------

/** Internal links of the site that do not resolve: a missing file, or an #anchor no element of the target has. */
export function brokenLinks(files: Map<string, string>): string[] {
  const ids = new Map<string, Set<string>>();
  for (const [f, html] of files) ids.set(f, new Set([...html.matchAll(/\sid="([^"]*)"/g)].map((m) => m[1])));
  const bad: string[] = [];
  for (const [f, html] of files) {
    for (const m of html.matchAll(/<(?:a|link|script|img)\s[^>]*?(?:href|src)="([^"]*)"/g)) {
      const href = m[1].replace(/&amp;/g, "&");
      if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//") || href.startsWith("data:")) continue;
      const hash = href.indexOf("#");
      const rel = decodeURI(hash >= 0 ? href.slice(0, hash) : href);
      const anchor = hash >= 0 ? decodeURIComponent(href.slice(hash + 1)) : "";
      const target = rel === "" ? f : path.posix.normalize(path.posix.join(path.posix.dirname(f), rel));
      if (!files.has(target)) {
        if (!target.startsWith("assets/")) bad.push(`${f}: link to ${href}: no such page`);
        continue;
      }
      if (anchor && !ids.get(target)!.has(anchor)) bad.push(`${f}: link to ${href}: ${target} has no id "${anchor}"`);
    }
  }
  return bad;
}

// ---- the build ---------------------------------------------------------------------------------------------------

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
