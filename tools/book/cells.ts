// The course book (tools/book.ts), its code cells and outputs.
import hljs from "highlight.js/lib/core";
import json from "highlight.js/lib/languages/json";
import typescript from "highlight.js/lib/languages/typescript";
import { BookError } from "./common";
import { Output, Cell, Notebook, joinText, escapeHtml } from "./notebooks";
import { PH_RE, extractMath, Where, typeset } from "./math";
import { PageMap } from "./links";
import { highlight, renderMarkdown } from "./markdown";


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

export function renderOutput(o: Output, st: RenderState): string {
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

export function renderCode(cell: Cell, count: number | undefined, st: RenderState): string {
  const src = joinText(cell.source);
  const outputs = (cell.outputs ?? []).map((o) => renderOutput(o, st)).join("\n");
  return (
    `<div class="input"><div class="prompt">In&nbsp;[${count}]:</div><pre class="code"><code class="hljs language-typescript">${highlight(src, "typescript")}</code></pre></div>` +
    (outputs ? `\n<div class="outputs"><div class="prompt out">Out:</div><div class="output-area">${outputs}</div></div>` : "")
  );
}
