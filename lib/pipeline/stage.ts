// The stage plumbing every stage shares: what a stage returns, the config record it saves beside its weights, and
// whether a saved checkpoint still matches the config (its hash covers the config sections the stage reads, not paths).

import * as path from "node:path";
import * as fs from "node:fs";
import { Config, STAGE_SECTIONS, Stage, configSource, repoPath, stageConfigHash } from "../core/config";
import { GPT } from "../lm/model";
import { Tokenizer } from "../lm/tokenizer";
import { checkpointExists, loadCheckpoint, readCheckpointConfig, saveCheckpoint } from "../train/checkpoint";
import { MetricsLog, runDir, writeSummary } from "../core/metrics";
import type { StepCallback } from "../core/progress";

export interface StageCallbacks {
  onStep?: StepCallback;
  onEval?: StepCallback;
  /** Progress lines (default console.log); pass () => {} for silence. */
  log?: (line: string) => void;
}

export interface StageResult<S> {
  model: GPT;
  tokenizer: Tokenizer;
  summary: S;
  /** The per-step metrics (read back from runs/<stage>/metrics.csv when the checkpoint was loaded). */
  metrics: MetricsLog | undefined;
  /** true when this call trained the stage, false when it loaded the checkpoint. */
  trained: boolean;
  checkpointDir: string;
}

/** What a stage writes as config.json beside its weights, and compares before reusing a checkpoint. */
export interface StageConfigRecord {
  stage: Stage;
  hash: string;
  source: string | undefined;
  seed: number;
  sections: Record<string, unknown>;
}

export function stageRecord(cfg: Config, stage: Stage): StageConfigRecord {
  const sections: Record<string, unknown> = {};
  for (const s of STAGE_SECTIONS[stage]) sections[s] = cfg[s];
  return { stage, hash: stageConfigHash(cfg, STAGE_SECTIONS[stage]), source: configSource(cfg), seed: cfg.seed, sections };
}

export function checkpointDir(cfg: Config, stage: Stage): string {
  return path.join(repoPath(cfg.paths.checkpoints), stage);
}

/** Why a saved checkpoint cannot be reused for cfg ("" when it can): names the keys that changed. */
export function checkpointMismatch(cfg: Config, stage: Stage): string {
  const dir = checkpointDir(cfg, stage);
  if (!checkpointExists(dir)) return `no checkpoint in ${path.relative(process.cwd(), dir) || dir}`;
  const saved = readCheckpointConfig<StageConfigRecord>(dir);
  const want = stageRecord(cfg, stage);
  if (saved?.hash === want.hash) return "";
  const diffs: string[] = [];
  if (saved?.seed !== want.seed) diffs.push(`seed ${saved?.seed} -> ${want.seed}`);
  const walk = (a: unknown, b: unknown, key: string) => {
    if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
      for (const k of new Set([...Object.keys(a as object), ...Object.keys(b as object)])) {
        walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], key ? `${key}.${k}` : k);
      }
    } else if (JSON.stringify(a) !== JSON.stringify(b)) diffs.push(`${key} ${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
  };
  walk(saved?.sections ?? {}, want.sections, "");
  return `checkpoint config differs (${diffs.slice(0, 6).join(", ") || "hash differs"})`;
}

/** Loads a stage's checkpoint with its summary and metrics (when runs/<stage>/metrics.csv exists). */
export function loadStage<S>(cfg: Config, stage: Stage): StageResult<S> {
  const dir = checkpointDir(cfg, stage);
  const { model, tokenizer, extra } = loadCheckpoint<StageConfigRecord, { summary: S }>(dir);
  const csv = path.join(repoPath(cfg.paths.runs), stage, "metrics.csv");
  const metrics = fs.existsSync(csv) ? MetricsLog.readCsv(csv, stage) : undefined;
  return { model, tokenizer, summary: extra?.summary as S, metrics, trained: false, checkpointDir: dir };
}

/**
 * A trained stage's outputs, in the order that keeps them consistent: the checkpoint (atomic), then
 * runs/<stage>/metrics.csv, then summary.json, which describes the checkpoint and so is written after it.
 */
export async function saveStage<S extends Record<string, unknown>>(cfg: Config, stage: Stage, out: { model: GPT; tokenizer: Tokenizer; summary: S; metrics: MetricsLog }): Promise<string> {
  const dir = checkpointDir(cfg, stage);
  await saveCheckpoint(dir, { model: out.model, tokenizer: out.tokenizer, config: stageRecord(cfg, stage), extra: { summary: out.summary } });
  const rd = runDir(cfg, stage);
  out.metrics.toCsv(path.join(rd, "metrics.csv"));
  writeSummary(rd, out.summary);
  return dir;
}
