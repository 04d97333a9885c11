// The compute curve: what more pretraining buys, measured where the course needs it. Each point of the base run
// (lib/pipeline/pretrain.ts, pretrain.curve_points) is a cooled-down copy of the model; this module fine-tunes it with
// the course's SFT recipe and records the SFT model's held-out bits per character (lib/lm/fluency.ts: the frozen 292
// review sentences) and fluency (real words in completions of new prompts), with the training time the copy cost.
//
//   <runs>/pretrain/curve.csv   one row a point: step, steps, tokens, seconds, val_loss, base_bpc, sft_bpc, fluency
import * as fs from "node:fs";
import * as path from "node:path";
import { type Config, InputError, repoPath, withOverrides } from "../core/config";
import { atomicWrite, runDir } from "../core/metrics";
import { consoleLog } from "../core/progress";
import { bitsPerChar, heldoutBpcTexts } from "../lm/fluency";
import type { CurvePoint } from "./pretrain";
import { trainSft } from "./sft";

export const CURVE_FILE = "curve.csv";
export const CURVE_COLUMNS = ["step", "steps", "tokens", "seconds", "val_loss", "base_bpc", "sft_bpc", "fluency", "sft_seconds"] as const;
export type CurveRow = Record<(typeof CURVE_COLUMNS)[number], number>;

/** The curve's rows so far (<runs>/pretrain/curve.csv), by step; [] when there is none. */
export function readCurve(cfg: Pick<Config, "paths">): CurveRow[] {
  const file = path.join(runDir(cfg, "pretrain"), CURVE_FILE);
  return fs.existsSync(file) ? readCurveFile(file) : [];
}

/** A curve.csv: every column of CURVE_COLUMNS, numbers only; a damaged file is an InputError naming the line. */
export function readCurveFile(file: string): CurveRow[] {
  const [head, ...lines] = fs.readFileSync(file, "utf8").trim().split("\n");
  const cols = head.split(",");
  const missing = CURVE_COLUMNS.filter((c) => !cols.includes(c));
  if (missing.length) throw new InputError(`${file}:1: missing column(s) ${missing.join(", ")}; expected ${CURVE_COLUMNS.join(",")}`);
  return lines.map((l, i) => {
    const v = l.split(",").map(Number);
    if (v.length !== cols.length || v.some((x) => Number.isNaN(x))) throw new InputError(`${file}:${i + 2}: expected ${cols.length} numbers, got "${l}"`);
    return Object.fromEntries(cols.map((c, j) => [c, v[j]])) as CurveRow;
  });
}

function formatCell(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

/**
 * The onCurvePoint callback of trainPretrain: fine-tunes the point's copy with cfg.sft (outputs in a scratch folder
 * under <checkpoints> and <runs>, so the course's own SFT stage is left alone), measures it and rewrites curve.csv
 * atomically with this row (a point measured again after a resume replaces its row).
 */
export function curvePointRecorder(cfg: Config, log: (line: string) => void = consoleLog): (p: CurvePoint) => Promise<void> {
  const scratch = withOverrides(cfg, [`paths.checkpoints=${cfg.paths.checkpoints}/curve-scratch`, `paths.runs=${cfg.paths.runs}/curve-scratch`]);
  return async (p: CurvePoint) => {
    const base = bitsPerChar(p.model, p.tokenizer, heldoutBpcTexts());
    const sft = await trainSft(scratch, { model: p.model, tokenizer: p.tokenizer, summary: {}, metrics: undefined, trained: true, checkpointDir: "" }, { log: () => {} });
    sft.model.dispose();
    const row: CurveRow = {
      step: p.step, steps: p.steps, tokens: p.tokens, seconds: p.seconds, val_loss: p.val_loss,
      base_bpc: base.bpc, sft_bpc: sft.summary.heldout_bpc, fluency: sft.summary.fluency, sft_seconds: sft.summary.seconds,
    };
    const rows = [...readCurve(cfg).filter((r) => r.step !== p.step), row].sort((a, b) => a.step - b.step);
    const text = [CURVE_COLUMNS.join(","), ...rows.map((r) => CURVE_COLUMNS.map((c) => formatCell(r[c])).join(","))].join("\n") + "\n";
    atomicWrite(path.join(runDir(cfg, "pretrain"), CURVE_FILE), text);
    log(`curve point: ${p.steps} steps (${(p.tokens / 1e6).toFixed(1)} M tokens, ${p.seconds.toFixed(0)} s) -> base bpc ${base.bpc.toFixed(3)}, ` +
      `SFT bpc ${sft.summary.heldout_bpc.toFixed(3)}, fluency ${sft.summary.fluency.toFixed(3)}`);
  };
}

/** Where the collected compute curves live (npm run compute-curve -- --collect), for notebook 01. */
export const COMPUTE_CURVE_DIR = "data/compute-curve";

export interface ComputeCurveRun {
  name: string;
  label: string;
  file: string;
  params: number;
  /** Milliseconds a pretraining step of this shape took on the machine that collected the curves, idle. */
  idle_ms_per_step: number;
  tokens_per_step: number;
  review_fraction: number;
  command: string;
}

/** The collected curves: each run's description (runs.json) and its rows. */
export function loadComputeCurves(dir = COMPUTE_CURVE_DIR): { run: ComputeCurveRun; rows: CurveRow[] }[] {
  const file = path.join(repoPath(dir), "runs.json");
  let runs: ComputeCurveRun[];
  try {
    runs = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new InputError(`${file}: cannot read (${(e as Error).message}); expected the list npm run compute-curve -- --collect writes`);
  }
  return runs.map((run) => ({ run, rows: readCurveFile(path.join(repoPath(dir), run.file)) }));
}
