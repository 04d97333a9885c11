// tools/book.ts, the pure parts: equations cut out of Markdown and typeset (a bad one names notebook and cell),
// exercise folding, link rewriting and the link check, previous/next order, execution numbers.
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { BookError } from "../tools/book/common";
import { brokenLinks } from "../tools/book/site-check";
import { executionNumbers, terminalText } from "../tools/book/cells";
import { extractMath, typeset } from "../tools/book/math";
import { foldExercises } from "../tools/book/exercises";
import { pickNotebooks } from "../tools/book";
import { prevNext, readmeDescriptions, renderNotebook } from "../tools/book/pages";
import { renderMarkdown } from "../tools/book/markdown";
import { rewriteLink, slugify, type PageMap } from "../tools/book/links";
import { type Cell, type Notebook } from "../tools/book/notebooks";

const pages: PageMap = new Map([
  ["README.md", "index.html"],
  ["notebooks/05_kl_reward.ipynb", "notebooks/05_kl_reward.html"],
  ["notebooks/06_gae.ipynb", "notebooks/06_gae.html"],
  ["notebooks/solutions/06_gae.ipynb", "notebooks/06_gae.html"],
  ["docs/glossary.md", "docs/glossary.html"],
]);
const ctx = (where = { file: "06_gae", cell: 4 }) => ({ where, fromRepo: "notebooks/06_gae.ipynb", fromSite: "notebooks/06_gae.html", pages });

describe("extractMath", () => {
  it("cuts out inline and display equations, with the delimiters Jupyter knows", () => {
    const { text, math } = extractMath("a $x_1$ b $$\\sum_t r_t$$ c \\(y*z\\) d \\[\\frac{a}{b}\\]");
    assert.deepEqual(math, [
      { tex: "x_1", display: false },
      { tex: "\\sum_t r_t", display: true },
      { tex: "y*z", display: false },
      { tex: "\\frac{a}{b}", display: true },
    ]);
    assert.doesNotMatch(text, /[$\\_*]/);
  });
  it("display equations span lines, and aligned environments stay whole", () => {
    const src = "text\n\n$$\n\\begin{aligned}\na &= b_1 \\\\\nc &= d_2\n\\end{aligned}\n$$\n\nafter";
    const { math } = extractMath(src);
    assert.equal(math.length, 1);
    assert.equal(math[0].display, true);
    assert.match(math[0].tex, /\\begin\{aligned\}[\s\S]*\\end\{aligned\}$/);
  });
  it("leaves code spans, fenced code, escaped and unpaired dollars alone", () => {
    const src = "`${a}` and `` $x$ `` \\$5 and $ 3 and 4 $\n\n```ts\nconst s = `$${x}$`;\n```\n";
    const { text, math } = extractMath(src);
    assert.equal(math.length, 0);
    assert.equal(text, src);
  });
  it("an inline $ does not close before a digit or across a blank line", () => {
    assert.equal(extractMath("costs $5 and $6 today").math.length, 0);
    assert.equal(extractMath("a $x\n\ny$ b").math.length, 0);
    assert.deepEqual(extractMath("a $x\ny$ b").math, [{ tex: "x\ny", display: false }]);
  });
});

describe("renderMarkdown and typeset", () => {
  it("keeps underscores, asterisks and pipes in math away from the Markdown parser", () => {
    const html = renderMarkdown("| a | b |\n|---|---|\n| $|x|_1 * y_2 * z$ | 2 |\n\nand $a_1 b_2$ and *$c_3$*", ctx());
    assert.doesNotMatch(html, /<em>1 b/);
    assert.match(html, /<table>/);
    assert.equal((html.match(/class="katex"/g) ?? []).length, 3);
    assert.match(html, /<em><span class="katex">/);
    assert.doesNotMatch(html, /\$/);
  });
  it("a display equation alone in its paragraph becomes a block", () => {
    const html = renderMarkdown("$$\\hat A_t = \\delta_t + \\gamma\\lambda \\hat A_{t+1}$$", ctx());
    assert.match(html, /<div class="math-block"><span class="katex-display">/);
  });
  it("an equation KaTeX cannot typeset throws, naming the notebook and the cell", () => {
    assert.throws(() => renderMarkdown("fine $x$, broken $\\frac{a$", ctx({ file: "06_gae", cell: 12 })), (e: unknown) => {
      assert.ok(e instanceof BookError);
      assert.match((e as Error).message, /06_gae, cell 12: cannot typeset \$\\frac\{a\$/);
      return true;
    });
    assert.throws(() => typeset({ tex: "\\notacommand", display: true }, { file: "docs/glossary.md" }), /docs\/glossary\.md: cannot typeset \$\$\\notacommand\$\$/);
  });
  it("\\newcommand in one cell holds in the next (one macro table per notebook)", () => {
    const macros: Record<string, string> = {};
    renderMarkdown("$\\newcommand{\\KL}{\\mathrm{KL}}$", { ...ctx(), macros });
    assert.match(renderMarkdown("$\\KL$", { ...ctx(), macros }), /class="katex"/);
  });
  it("headings get GitHub-style ids, unique on the page", () => {
    const slugs = new Set<string>();
    const html = renderMarkdown("## 1 · Returns, values\n\n## 1 · Returns, values\n\n## $\\gamma$ and `lam`", { ...ctx(), slugs });
    assert.match(html, /<h2 id="1--returns-values">/);
    assert.match(html, /<h2 id="1--returns-values-1">/);
    assert.match(html, /<h2 id="and-lam">/);
    assert.equal(slugify("Exercise 05.2 · The shaped reward", new Set()), "exercise-052--the-shaped-reward");
  });
});

describe("links", () => {
  it("rewrites links between notebooks, docs and the README to their pages, anchors kept", () => {
    assert.deepEqual(rewriteLink("../docs/glossary.md#kl", "notebooks/06_gae.ipynb", "notebooks/06_gae.html", pages), { href: "../docs/glossary.html#kl" });
    assert.deepEqual(rewriteLink("05_kl_reward.ipynb", "notebooks/06_gae.ipynb", "notebooks/06_gae.html", pages), { href: "05_kl_reward.html" });
    assert.deepEqual(rewriteLink("../README.md", "notebooks/06_gae.ipynb", "notebooks/06_gae.html", pages), { href: "../index.html" });
    assert.deepEqual(rewriteLink("../notebooks/06_gae.ipynb#cell-3", "docs/glossary.md", "docs/glossary.html", pages), { href: "../notebooks/06_gae.html#cell-3" });
    assert.deepEqual(rewriteLink("solutions/06_gae.ipynb", "notebooks/06_gae.ipynb", "notebooks/06_gae.html", pages), { href: "#" });
  });
  it("keeps external links and same-page anchors", () => {
    for (const h of ["https://github.com/yunabe/tslab", "mailto:a@b.c", "#section"]) assert.deepEqual(rewriteLink(h, "README.md", "index.html", pages), { href: h });
  });
  it("a notebook outside this build is unbuilt; any other repository file is an error", () => {
    const course: PageMap = new Map([...pages, ["notebooks/07_ppo_update.ipynb", "notebooks/07_ppo_update.html"]]);
    assert.deepEqual(rewriteLink("07_ppo_update.ipynb", "notebooks/06_gae.ipynb", "notebooks/06_gae.html", pages, course), { unbuilt: "notebooks/07_ppo_update.ipynb" });
    const r = rewriteLink("../lib/gae.ts", "notebooks/06_gae.ipynb", "notebooks/06_gae.html", pages);
    assert.ok("error" in r && /lib\/gae\.ts/.test(r.error));
    assert.throws(() => renderMarkdown("see [the code](../lib/gae.ts)", ctx({ file: "06_gae", cell: 9 })), /06_gae, cell 9: link to lib\/gae\.ts/);
  });
  it("in Markdown, an unbuilt link loses its href and says why", () => {
    const course: PageMap = new Map([...pages, ["notebooks/07_ppo_update.ipynb", "notebooks/07_ppo_update.html"]]);
    const html = renderMarkdown("[next](07_ppo_update.ipynb) and [glossary](../docs/glossary.md)", { ...ctx(), coursePages: course });
    assert.match(html, /<a class="not-built" title="notebooks\/07_ppo_update.ipynb is not part of this build">next<\/a>/);
    assert.match(html, /<a href="\.\.\/docs\/glossary\.html">glossary<\/a>/);
  });
  it("brokenLinks finds missing pages and anchors", () => {
    const files = new Map([
      ["index.html", '<a href="notebooks/a.html#s1">a</a><a href="notebooks/b.html">b</a><link href="assets/book.css">'],
      ["notebooks/a.html", '<h2 id="s1">x</h2><a href="../index.html#nope">i</a><a href="#s1">self</a><a href="https://x.org/">ext</a>'],
    ]);
    assert.deepEqual(brokenLinks(files), ["index.html: link to notebooks/b.html: no such page", 'notebooks/a.html: link to ../index.html#nope: index.html has no id "nope"']);
  });
});

const code = (source: string, outputs: Cell["outputs"] = [], execution_count: number | null = null): Cell => ({ cell_type: "code", source, outputs, execution_count });
const md = (source: string): Cell => ({ cell_type: "markdown", source });
const out = (text: string) => [{ output_type: "stream", name: "stdout", text }];

describe("exercises", () => {
  const learner: Notebook = {
    cells: [
      md("# 06 · GAE\n\n### Exercise 06.1"),
      code("function myGae() {\n  return notDone();\n}", []),
      code("checkGae(myGae);", out("exercise 06.1 gae: NOT DONE (replace the stub)\n")),
      code("console.log(1)", out("1\n")),
    ],
  };
  const solution: Notebook = {
    cells: [
      md("# 06 · GAE\n\n### Exercise 06.1"),
      code("function myGae() {\n  return gae();\n}", []),
      code("checkGae(myGae);", out("exercise 06.1 gae: PASS (8 random cases)\n")),
      code("console.log(1)", out("1\n")),
    ],
  };
  it("folds the solution under the exercise cell, and the solution's verdict under the check cell", () => {
    const f = foldExercises(learner, solution, "06_gae");
    assert.deepEqual(f.map((c) => c.fold), [undefined, "code", "output", undefined]);
    assert.equal(f[1].solution, solution.cells[1]);
    assert.deepEqual(f.map((c) => c.n), [1, 2, 3, 4]);
    assert.deepEqual(foldExercises(learner, undefined, "06_gae").map((c) => c.fold), [undefined, undefined, undefined, undefined]);
  });
  it("notebooks that do not match cell for cell are an error", () => {
    assert.throws(() => foldExercises(learner, { cells: solution.cells.slice(1) }, "06_gae"), /06_gae: the solution notebook has 3 cells, the notebook 4/);
  });
  it("the page shows the stub as the learner sees it, the solution in <details>, and numbered cells", () => {
    const p = renderNotebook({ name: "06_gae", learner, solution }, pages, pages, { prev: "05_kl_reward" }, new Map([["05_kl_reward", "05 · KL"]]));
    assert.equal(p.title, "06 · GAE");
    assert.equal(p.exercises, 1);
    assert.match(p.html, /notDone/);
    assert.match(p.html, /<details class="solution"><summary>Solution<\/summary>[\s\S]*>gae<\/span>\(\)[\s\S]*?<\/details>/);
    assert.match(p.html, /<details class="solution"><summary>Output with the solution<\/summary>[\s\S]*PASS/);
    assert.match(p.html, /NOT DONE/);
    assert.deepEqual([...p.html.matchAll(/In&nbsp;\[(\d+)\]/g)].map((m) => Number(m[1])), [1, 1, 2, 3]); // the solution keeps the number its cell had in its own run
    assert.doesNotMatch(p.html, /In&nbsp;\[ *\]/);
    assert.match(p.html, /<a class="prev" rel="prev" href="05_kl_reward.html">← 05 · KL<\/a>/);
  });
});

describe("order and numbering", () => {
  it("previous/next follow the course order (08_ before 08b_)", () => {
    const m = prevNext(["08b_debugging_ppo", "00_setup", "08_rlhf_loop", "06_gae"]);
    assert.deepEqual(m.get("00_setup"), { prev: undefined, next: "06_gae" });
    assert.deepEqual(m.get("08_rlhf_loop"), { prev: "06_gae", next: "08b_debugging_ppo" });
    assert.deepEqual(m.get("08b_debugging_ppo"), { prev: "08_rlhf_loop", next: undefined });
  });
  it("execution numbers: the kernel's when it reports them, else the place among non-empty code cells", () => {
    assert.deepEqual(executionNumbers({ cells: [md("x"), code("a", out("1")), code("  "), code("b")] }, "nb"), [undefined, 1, undefined, 2]);
    assert.deepEqual(executionNumbers({ cells: [code("a", [], 4), code("b", [], 7)] }, "nb"), [4, 7]);
    assert.throws(() => executionNumbers({ cells: [code("a"), code("b")] }, "06_gae"), /06_gae: no code cell has an output/);
  });
  it("picks notebooks by name or unique prefix", () => {
    const all = ["00_setup", "05_kl_reward", "08_rlhf_loop", "08b_debugging_ppo"];
    assert.deepEqual(pickNotebooks(all, ["05", "00_setup", "notebooks/08b_debugging_ppo.ipynb"]), ["05_kl_reward", "00_setup", "08b_debugging_ppo"]);
    assert.throws(() => pickNotebooks(all, ["08"]), /ambiguous/);
    assert.throws(() => pickNotebooks(all, ["09"]), /not a notebook/);
  });
  it("terminal text: colour codes dropped, a carriage return overwrites its line", () => {
    assert.equal(terminalText("\x1b[31mred\x1b[0m\nstep 1\rstep 2\rstep 3\ndone"), "red\nstep 3\ndone");
    assert.equal(terminalText("kept\r\n\r"), "kept\n");
  });
  it("the README's course table gives each notebook's description", () => {
    const d = readmeDescriptions("| notebook | what |\n|---|---|\n| `06_gae` | TD errors, GAE |\n| `08b_debugging_ppo` | bugs |\n");
    assert.deepEqual([...d], [["06_gae", "TD errors, GAE"], ["08b_debugging_ppo", "bugs"]]);
  });
});
