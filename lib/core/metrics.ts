// Per-step training metrics and each stage's headline figures, as files a learner (or a test) can open:
//   runs/<stage>/metrics.csv   one row per step: step, then one column per metric (empty cell = not logged)
//   runs/<stage>/summary.json  the stage's headline figures (written after the checkpoint they describe)
// Rows are kept in plain arrays (logging is a push, ~free per step) and turned into a danfojs DataFrame on demand:
// requiring danfojs-node costs ~2.5 s, which a CLI stage that only writes CSV should not pay.
import * as fs from "node:fs";
import * as path from "node:path";
import type { DataFrame } from "danfojs-node";
import { repoPath } from "./config";

/** A metric value: a number (NaN and +-Infinity kept: a diverged loss is a finding), or null when not logged. */
export type MetricValue = number | null;
export type MetricRow = { step: number } & Record<string, MetricValue>;

/** Writes a file so that a reader (or a crash) sees the old content or the new, never half of it. */
export function atomicWrite(file: string, content: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file); // atomic within one file system
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

type Danfo = typeof import("danfojs-node");
let danfo: Danfo | undefined;

/**
 * danfojs-node, loaded on first use. Its only TensorFlow.js import is `@tensorflow/tfjs-node`, whose module code
 * calls tf.setBackend("tensorflow") when loaded: in a process running on wasm or cpu that would silently switch
 * the backend, and next to @tensorflow/tfjs-node-gpu it would load a second native TensorFlow. So while danfojs
 * loads, that one import is resolved to the project's own @tensorflow/tfjs (same tfjs-core, same engine;
 * danfojs uses only core tensor ops), which is what package.json's override intends.
 */
export function loadDanfo(): Danfo {
  if (danfo) return danfo;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Module = require("node:module") as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = Module._resolveFilename;
  Module._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
    return original.call(this, request === "@tensorflow/tfjs-node" ? "@tensorflow/tfjs" : request, ...rest);
  };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    danfo = require("danfojs-node") as Danfo;
  } finally {
    Module._resolveFilename = original;
  }
  return danfo;
}

/**
 * The metrics of one stage, one row per step. `log(step, {...})` adds a row, or completes the current one when
 * `step` equals the last row's step (so a train loss and an eval loss at step 100 share a row). Columns appear
 * in the order first logged, after `step`.
 */
export class MetricsLog {
  private readonly rowsData: MetricRow[] = [];
  private readonly names: string[] = [];

  constructor(readonly stage: string) {}

  log(step: number, values: Record<string, number | null | undefined>): void {
    if (!Number.isFinite(step)) throw new Error(`MetricsLog(${this.stage}): step must be a finite number, got ${step}`);
    let row = this.rowsData[this.rowsData.length - 1];
    if (row && step < row.step) {
      throw new Error(`MetricsLog(${this.stage}): step ${step} logged after step ${row.step}; steps must not decrease (start a new log to rerun)`);
    }
    if (!row || step > row.step) {
      row = { step };
      this.rowsData.push(row);
    }
    for (const [k, v] of Object.entries(values)) {
      if (k === "step") throw new Error(`MetricsLog(${this.stage}): "step" is the row key, not a metric`);
      if (v === undefined) continue;
      if (v !== null && typeof v !== "number") throw new Error(`MetricsLog(${this.stage}): ${k} must be a number or null, got ${typeof v}`);
      if (k in row && row[k] !== null) throw new Error(`MetricsLog(${this.stage}): step ${step} already has ${k}`);
      if (!this.names.includes(k)) this.names.push(k);
      row[k] = v;
    }
  }

  get length(): number {
    return this.rowsData.length;
  }

  /** "step" and then every metric name, in the order first logged. */
  get columns(): string[] {
    return ["step", ...this.names];
  }

  /** Copies of the rows, with null for a metric not logged at that step. */
  rows(): MetricRow[] {
    return this.rowsData.map((r) => {
      const out: MetricRow = { step: r.step };
      for (const n of this.names) out[n] = r[n] ?? null;
      return out;
    });
  }

  /** One column aligned with the rows (null where not logged). */
  column(name: string): MetricValue[] {
    if (name === "step") return this.rowsData.map((r) => r.step);
    return this.rowsData.map((r) => r[name] ?? null);
  }

  /** The steps at which `name` was logged and its values there: what a line chart needs. */
  series(name: string): { x: number[]; y: number[] } {
    const x: number[] = [];
    const y: number[] = [];
    for (const r of this.rowsData) {
      const v = r[name];
      if (v !== undefined && v !== null) {
        x.push(r.step);
        y.push(v);
      }
    }
    return { x, y };
  }

  /** The latest logged value of a metric, or undefined if it never was. */
  last(name: string): number | undefined {
    for (let i = this.rowsData.length - 1; i >= 0; i--) {
      const v = this.rowsData[i][name];
      if (v !== undefined && v !== null) return v;
    }
    return undefined;
  }

  /** A danfojs DataFrame of the rows (missing values as NaN, danfojs's missing marker). Loads danfojs. */
  toDataFrame(): DataFrame {
    const dfd = loadDanfo();
    const cols = this.columns;
    const data = this.rowsData.map((r) => cols.map((c) => r[c] ?? NaN));
    return new dfd.DataFrame(data, { columns: cols });
  }

  /** CSV text: a header, then one line per row; empty cell = not logged; numbers in shortest round-trip form. */
  toCsvString(): string {
    const cols = this.columns;
    const lines = [cols.join(",")];
    for (const r of this.rowsData) lines.push(cols.map((c) => formatCell(r[c])).join(","));
    return lines.join("\n") + "\n";
  }

  /** Writes the CSV atomically (runs/<stage>/metrics.csv by convention: see runDir). */
  toCsv(file: string): void {
    atomicWrite(file, this.toCsvString());
  }

  /** Reads a CSV written by toCsv (e.g. to plot a run whose checkpoint a notebook loaded instead of training). */
  static readCsv(file: string, stage = path.basename(path.dirname(file))): MetricsLog {
    return MetricsLog.fromCsvString(fs.readFileSync(file, "utf8"), stage, file);
  }

  static fromCsvString(text: string, stage: string, file = "<csv>"): MetricsLog {
    const lines = text.split("\n").filter((l) => l.length > 0);
    if (lines.length === 0) throw new Error(`${file}: empty metrics CSV`);
    const cols = lines[0].split(",");
    if (cols[0] !== "step") throw new Error(`${file}: the first column must be "step", got "${cols[0]}"`);
    const log = new MetricsLog(stage);
    log.names.push(...cols.slice(1));
    lines.slice(1).forEach((line, i) => {
      const cells = line.split(",");
      if (cells.length !== cols.length) throw new Error(`${file}:${i + 2}: ${cells.length} cells, expected ${cols.length}`);
      const values: Record<string, MetricValue> = {};
      cols.slice(1).forEach((c, j) => (values[c] = parseCell(cells[j + 1], `${file}:${i + 2}`)));
      log.log(Number(cells[0]), values);
    });
    return log;
  }

  /** One console line for a row, e.g. "step 100 | loss 3.2105 | lr 0.0019". */
  static formatRow(row: Record<string, MetricValue | undefined>, digits = 4): string {
    return Object.entries(row)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${k} ${k === "step" ? v : formatNumber(v as number, digits)}`)
      .join(" | ");
  }
}

function formatCell(v: MetricValue | undefined): string {
  return v === undefined || v === null ? "" : String(v);
}

function parseCell(s: string, where: string): MetricValue {
  if (s === "") return null;
  const v = Number(s); // also parses "NaN", "Infinity", "-Infinity"
  if (Number.isNaN(v) && s !== "NaN") throw new Error(`${where}: "${s}" is not a number`);
  return v;
}

function formatNumber(v: number, digits: number): string {
  if (!Number.isFinite(v) || v === 0) return String(v);
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e6 ? String(Number(v.toPrecision(digits + 1))) : v.toExponential(digits - 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Stage outputs

/** The runs/<stage>/ folder of a config (cfg.paths.runs, relative to the repo root), created if needed. */
export function runDir(cfg: { paths: { runs: string } }, stage: string): string {
  const dir = path.join(repoPath(cfg.paths.runs), stage);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes <stageDir>/summary.json atomically; returns its path. */
export function writeSummary(stageDir: string, summary: Record<string, unknown>): string {
  const file = path.join(stageDir, "summary.json");
  atomicWrite(file, JSON.stringify(summary, null, 2) + "\n");
  return file;
}

/** Reads <stageDir>/summary.json, or undefined when the stage has not written one. */
export function readSummary(stageDir: string): Record<string, unknown> | undefined {
  const file = path.join(stageDir, "summary.json");
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>) : undefined;
}
