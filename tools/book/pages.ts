// The course book (tools/book.ts), its pages.
import * as path from "node:path";
import katex from "katex";
import { Output, Notebook, joinText, escapeHtml } from "./notebooks";
import { PageMap } from "./links";
import { highlight, renderMarkdown } from "./markdown";
import { RenderState, renderOutput, executionNumbers, renderCode } from "./cells";
import { foldExercises } from "./exercises";


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

export const stripTags = (html: string): string =>
  html
    .replace(/<span class="katex-mathml">[\s\S]*?<\/math><\/span>/g, "")
    .replace(/<[^>]+>/g, "")
    .replace(/&amp;/g, "&")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"');

export interface PageArgs {
  title: string;
  siteFile: string;
  body: string;
  charts: boolean;
  nav?: string;
}

export function page(a: PageArgs): string {
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
