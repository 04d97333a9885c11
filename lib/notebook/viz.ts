// Plotly charts shown inline in a tslab notebook, and live charts a training loop updates while it runs.
//
//   import { show, lineFigure, liveChart } from "./lib/notebook/viz";
//   show(lineFigure({ title: "loss", x: steps, series: { loss: losses } }));
//
//   const chart = liveChart({ title: "pretraining", series: ["loss", "val_loss"], xTitle: "step" });
//   train(cfg, { onStep: (step, m) => chart.push(step, m) });   // lib loops take an optional StepCallback (lib/core/progress.ts)
//   chart.done();
//
// How it renders: each chart is one Jupyter display_data output carrying two representations:
//   application/vnd.plotly.v1+json  drawn by JupyterLab's plotly renderer (the `plotly` pip package in .venv)
//   text/html                       a <div> plus a script calling Plotly.newPlot: used where the plotly MIME type is
//                                   not understood, e.g. `nbconvert --to html` (tools/export-html.js inlines plotly.js
//                                   once per page so these render offline).
// Live updates use the Jupyter display_id mechanism (tslab's newDisplay() uses it too): the first draw sends
// display_data with a display_id, later draws send update_display_data, which JupyterLab and nbclient apply in place,
// so the executed notebook keeps the final chart. (JupyterLab's plotly renderer ignores updates to a drawn graph, so
// each redraw first swaps in a same-height placeholder: see ChartHandle.redraw.) tslab's public display.raw() sends one
// MIME type per message, so
// this module writes the message through tslab's kernel-side writer to send both at once.
// Outside a tslab kernel (CLI, tests) show() draws nothing; figures can still be saved as HTML with saveHtml().
// A training loop that never awaits still updates the chart (zeromq sends from its own thread), but an occasional
// `await` (e.g. `await loss.data()`) keeps the kernel responsive to interrupts.
import * as fs from "fs";
import * as path from "path";
import { randomBytes } from "crypto";
import { guardKernelSends } from "../core/iopub";

// ---- a small typed subset of plotly's figure schema -------------------------------------------------------------

export interface Trace {
  type?: "scatter" | "bar" | "histogram" | "heatmap" | "box";
  mode?: "lines" | "markers" | "lines+markers" | "text" | "none";
  name?: string;
  x?: (number | string)[];
  y?: (number | string | null)[];
  z?: number[][];
  text?: string[] | string;
  line?: { color?: string; width?: number; dash?: "solid" | "dot" | "dash" };
  marker?: { color?: string | string[]; size?: number };
  opacity?: number;
  yaxis?: "y" | "y2";
  showlegend?: boolean;
  nbinsx?: number;
  [key: string]: unknown;
}

export interface Axis {
  title?: { text: string };
  type?: "linear" | "log";
  range?: [number, number];
  overlaying?: "y";
  side?: "left" | "right";
  [key: string]: unknown;
}

export interface Layout {
  title?: { text: string };
  xaxis?: Axis;
  yaxis?: Axis;
  yaxis2?: Axis;
  height?: number;
  width?: number;
  margin?: { l?: number; r?: number; t?: number; b?: number };
  legend?: { orientation?: "h" | "v"; x?: number; y?: number };
  [key: string]: unknown;
}

export interface Figure {
  data: Trace[];
  layout?: Layout;
}

// ---- tslab plumbing ------------------------------------------------------------------------------------------------

interface DisplayMessage {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}
type Writer = (msg: DisplayMessage, update: boolean) => void;

/**
 * tslab's kernel keeps the writer of the executing cell in dist/jupyter.js (`lastWriteDisplayData`). We look the
 * module up in require's cache rather than importing tslab, so a CLI or test never loads zeromq and TypeScript.
 */
function kernelWriter(): Writer | undefined {
  if (!(globalThis as { __tslab__?: unknown }).__tslab__) return undefined;
  const suffix = path.join("tslab", "dist", "jupyter.js");
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!file.endsWith(suffix) || !mod) continue;
    const w = (mod.exports as { lastWriteDisplayData?: Writer | null }).lastWriteDisplayData;
    if (typeof w === "function") return w;
  }
  return undefined;
}

// A chart's redraw is two sends in a row, and a training cell makes hundreds: see lib/core/iopub.ts for why the
// kernel's
// socket must be guarded first (initBackend does it too; a second call is a no-op).
if ((globalThis as { __tslab__?: unknown }).__tslab__) guardKernelSends();

/** True inside a tslab (Jupyter) kernel, where charts render inline. */
export function inKernel(): boolean {
  return kernelWriter() !== undefined;
}

const DEFAULT_LAYOUT: Layout = {
  height: 360,
  margin: { l: 60, r: 20, t: 50, b: 50 },
  legend: { orientation: "h", y: -0.2 },
};

function withDefaults(fig: Figure): Figure {
  return { data: fig.data, layout: { ...DEFAULT_LAYOUT, ...(fig.layout ?? {}) } };
}

/** JSON safe to put inside a <script> element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

/**
 * The text/html representation: a div and a script that draws it with window.Plotly when present (an exported page
 * inlines plotly.js in its <head>), and otherwise says how to see it.
 */
export function figureHtml(fig: Figure, id = `rlhf-plot-${randomBytes(6).toString("hex")}`): string {
  const f = withDefaults(fig);
  const h = f.layout?.height ?? 360;
  return (
    `<div id="${id}" class="rlhf-plot" style="width:100%;height:${h}px;">` +
    `<noscript>chart: needs JavaScript and plotly.js</noscript></div>\n` +
    `<script type="text/javascript">(function(){var fig=${scriptJson(f)};var el=document.getElementById("${id}");` +
    `if(window.Plotly){window.Plotly.react(el,fig.data,fig.layout,{responsive:true,displaylogo:false});}` +
    `else{el.textContent="(plotly.js is not loaded on this page: open the notebook in JupyterLab or export it with npm run export)";}})();</script>`
  );
}

function bundle(fig: Figure, htmlId: string): Record<string, unknown> {
  const f = withDefaults(fig);
  const title = f.layout?.title?.text ?? "chart";
  return {
    "application/vnd.plotly.v1+json": { data: f.data, layout: f.layout, config: { displaylogo: false, responsive: true } },
    "text/html": figureHtml(f, htmlId),
    "text/plain": `<plotly figure: ${title}; ${f.data.map((t) => `${t.name ?? t.type ?? "trace"} (${t.y?.length ?? 0} points)`).join(", ")}>`,
  };
}

/** A handle on one output area; redraw() replaces the chart in place. */
export interface ChartHandle {
  readonly id: string;
  redraw(fig: Figure): boolean;
}

/** Displays a figure in a new output; returns a handle to replace it later. Outside a kernel nothing is shown. */
export function display(fig: Figure): ChartHandle {
  const id = randomBytes(8).toString("hex");
  const htmlId = `rlhf-plot-${id}`;
  let shown = false;
  const handle: ChartHandle = {
    id,
    redraw(next: Figure): boolean {
      const write = kernelWriter();
      if (!write) return false;
      if (shown) {
        // JupyterLab reuses an output's renderer when the MIME type is unchanged, and the plotly renderer ignores new
        // data once its graph exists (renderModel returns early). A placeholder of another MIME type first makes
        // JupyterLab replace the renderer, so the next message draws afresh. Same height, so the page does not jump.
        const h = withDefaults(next).layout?.height ?? 360;
        const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="${h}"></svg>`;
        write({ data: { "image/svg+xml": svg, "text/plain": "(redrawing)" }, metadata: {}, transient: { display_id: id } }, true);
      }
      write({ data: bundle(next, htmlId), metadata: {}, transient: { display_id: id } }, shown);
      shown = true;
      return true;
    },
  };
  handle.redraw(fig);
  return handle;
}

/** Shows a figure inline (nothing outside a tslab kernel: see inKernel()). Returns nothing, so a cell ending with
 * show(...) prints no stray value. */
export function show(fig: Figure): void {
  if (inKernel()) display(fig);
}

/** Shows Markdown inline (a text/plain copy for nbconvert's text outputs); prints it outside a kernel. */
export function showMarkdown(md: string): void {
  const write = kernelWriter();
  if (write) write({ data: { "text/markdown": md, "text/plain": md }, metadata: {}, transient: {} }, false);
  else console.log(md);
}

// ---- figure builders -----------------------------------------------------------------------------------------------

export interface LineOptions {
  title: string;
  x: number[];
  series: Record<string, (number | null)[]>;
  xTitle?: string;
  yTitle?: string;
  logY?: boolean;
  /** Series drawn against a second y axis on the right (e.g. KL next to reward). */
  rightAxis?: string[];
  rightTitle?: string;
  height?: number;
}

/** Lines sharing one x axis; nulls leave gaps (e.g. a validation loss measured every k steps). */
export function lineFigure(o: LineOptions): Figure {
  const right = new Set(o.rightAxis ?? []);
  const data: Trace[] = Object.entries(o.series).map(([name, y]) => ({
    type: "scatter",
    mode: y.filter((v) => v !== null).length === 1 ? "markers" : "lines",
    name,
    x: o.x.slice(0, y.length),
    y,
    connectgaps: true,
    ...(right.has(name) ? { yaxis: "y2" as const } : {}),
  }));
  const layout: Layout = {
    title: { text: o.title },
    xaxis: { title: { text: o.xTitle ?? "step" } },
    yaxis: { title: { text: o.yTitle ?? "" }, type: o.logY ? "log" : "linear" },
    ...(o.height ? { height: o.height } : {}),
  };
  // automargin: plotly widens the right margin to fit the axis's tick labels and title (the default 20 px cut them off)
  if (right.size > 0) layout.yaxis2 = { title: { text: o.rightTitle ?? "" }, overlaying: "y", side: "right", automargin: true };
  return { data, layout };
}

/** A bar chart of labelled values (e.g. summary numbers side by side). */
export function barFigure(title: string, labels: string[], values: number[], yTitle = ""): Figure {
  return { data: [{ type: "bar", x: labels, y: values }], layout: { title: { text: title }, yaxis: { title: { text: yTitle } } } };
}

/** A histogram per named sample set, overlaid (e.g. rewards of SFT vs policy samples). */
export function histogramFigure(title: string, samples: Record<string, number[]>, xTitle = "", nbins = 30): Figure {
  return {
    data: Object.entries(samples).map(([name, x]) => ({ type: "histogram", name, x, opacity: 0.6, nbinsx: nbins })),
    layout: { title: { text: title }, barmode: "overlay", xaxis: { title: { text: xTitle } } },
  };
}

// ---- live charts ---------------------------------------------------------------------------------------------------

export interface LiveChartOptions {
  title: string;
  /** Metric names to plot; push() ignores other keys, and a missing key leaves a gap at that step. */
  series: string[];
  xTitle?: string;
  yTitle?: string;
  logY?: boolean;
  rightAxis?: string[];
  rightTitle?: string;
  /** Redraw after every `every` pushes (default 1)... */
  every?: number;
  /** ...and at most once per `minIntervalMs` (default 300 ms) so a fast loop does not flood the browser. */
  minIntervalMs?: number;
}

export interface LiveChart {
  /** Records the metrics at `step`; redraws when due. Accepts a whole metrics object (extra keys are ignored). */
  push(step: number, values: Partial<Record<string, number>>): void;
  /** Draws the final state (always); call when the loop ends. */
  done(): void;
  /** The recorded data as a figure (to show again, or to save). */
  figure(): Figure;
  /** The recorded values by series name (null where a step had no value). */
  readonly data: { x: number[]; series: Record<string, (number | null)[]> };
}

/**
 * A chart a training loop updates as it runs: in a notebook, the same output is redrawn in place every `every`
 * steps; outside a kernel it only records (so lib code may take a LiveChart or StepCallback without caring where it runs).
 */
export function liveChart(o: LiveChartOptions): LiveChart {
  const every = Math.max(1, Math.floor(o.every ?? 1));
  const minInterval = o.minIntervalMs ?? 300;
  const x: number[] = [];
  const series: Record<string, (number | null)[]> = Object.fromEntries(o.series.map((s) => [s, []]));
  let handle: ChartHandle | undefined;
  let pushes = 0;
  let lastDraw = 0;
  const figure = (): Figure =>
    lineFigure({
      title: o.title,
      x,
      series,
      xTitle: o.xTitle,
      yTitle: o.yTitle,
      logY: o.logY,
      rightAxis: o.rightAxis,
      rightTitle: o.rightTitle,
    });
  const draw = (): void => {
    if (!inKernel()) return;
    lastDraw = Date.now();
    if (handle) handle.redraw(figure());
    else handle = display(figure());
  };
  draw(); // an empty chart right away, so the learner sees where the curve will appear
  return {
    push(step, values) {
      x.push(step);
      for (const name of o.series) {
        const v = values[name];
        series[name].push(typeof v === "number" && Number.isFinite(v) ? v : null);
      }
      pushes++;
      if (pushes % every === 0 && Date.now() - lastDraw >= minInterval) draw();
    },
    done() {
      draw();
    },
    figure,
    data: { x, series },
  };
}

// ---- standalone HTML -----------------------------------------------------------------------------------------------

/**
 * plotly.js 4.1.1 source to inline: the minified copy (4.8 MB) inside the `plotly` pip package in .venv when
 * present, else npm plotly.js-dist's (10 MB, same version). It cannot be imported in Node, only read as a file.
 */
export function plotlyJsPath(root = path.resolve(__dirname, "../..")): string {
  const libDir = path.join(root, ".venv", "lib");
  if (fs.existsSync(libDir)) {
    for (const py of fs.readdirSync(libDir)) {
      const f = path.join(libDir, py, "site-packages", "plotly", "package_data", "plotly.min.js");
      if (fs.existsSync(f)) return f;
    }
  }
  return path.join(path.dirname(require.resolve("plotly.js-dist/package.json")), "plotly.js");
}

/** Writes figures to one self-contained HTML page (plotly.js inlined once) that renders offline. */
export function saveHtml(file: string, figs: Figure[], title = "charts"): void {
  const js = fs.readFileSync(plotlyJsPath(), "utf8");
  const body = figs.map((f) => figureHtml(f)).join("\n");
  const html =
    `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title.replace(/</g, "&lt;")}</title>` +
    `<script type="text/javascript">${js.replace(/<\/script/gi, "<\\/script")}</script></head><body>\n${body}\n</body></html>\n`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, html);
}
