// The order of the course's stages, and the one place that knows it (as nanochat keeps its order in one run script):
//
//   pretrain --> sft --> rm (pairs sampled from the SFT policy; own base: its own pretrain) --> ppo | dpo
//
// Each ensure* loads its stage's checkpoint when it was trained with this config (lib/pipeline/stage.ts compares the
// config hash), else trains it from the stages before it, loading each of those once and passing it on. The stage
// modules beside this one (pretrain, sft, reward-model, ppo, dpo) train from the models they are given and never
// load or train another stage. tools/pipeline.ts, the notebooks and the studies ask for their inputs here.
import * as fs from "node:fs";
import * as path from "node:path";
import { type Config, repoPath } from "../core/config";
import { runDir } from "../core/metrics";
import { consoleLog } from "../core/progress";
import { readPairsCsv } from "../reward/preferences";
import { rewardModelFns } from "../reward/reward-fns";
import { type DpoOptions, type DpoRun, trainDpo } from "../beyond/dpo";
import { type StageCallbacks, type StageResult, checkpointDir, checkpointMismatch, loadStage } from "./stage";
import { type PretrainSummary, trainPretrain } from "./pretrain";
import { curvePointRecorder } from "./curve";
import { loadShippedBase } from "./base";
import { type SftSummary, trainSft } from "./sft";
import { type RewardModelStage, type RewardStageOptions, type RmSummary, loadCheckpointExtra, ownBaseConfig, trainRewardStage } from "./reward-model";
import { type PpoRun, type PpoSummary, type RunPpoOptions, trainPpo } from "./ppo";
import { dpoConfig } from "./dpo";

/**
 * The pretrained model: the shipped base (data/base/) with pretrain.base: shipped; else loaded from checkpoints/pretrain
 * when it was trained with this config, else trained now (with its compute curve when pretrain.curve_points are set).
 */
export async function ensurePretrained(cfg: Config, cb: StageCallbacks = {}): Promise<StageResult<PretrainSummary>> {
  const log = cb.log ?? consoleLog;
  if (cfg.pretrain.base === "shipped") {
    const r = loadShippedBase(cfg);
    log(`pretrain: the shipped base (${r.checkpointDir}: ${r.summary.params} parameters, ${r.summary.steps} steps, ` +
      `${(r.summary.tokens / 1e6).toFixed(1)} M tokens, val_loss ${r.summary.val_loss.toFixed(3)})`);
    return r;
  }
  const why = checkpointMismatch(cfg, "pretrain");
  if (!why) {
    const r = loadStage<PretrainSummary>(cfg, "pretrain");
    log(`pretrain: loaded ${r.checkpointDir} (val_loss ${r.summary?.val_loss?.toFixed(3)}, unigram ${r.summary?.unigram_val_loss?.toFixed(3)})`);
    return r;
  }
  log(`pretrain: training (${why})`);
  const curve = cfg.pretrain.curve_points.length ? { onCurvePoint: curvePointRecorder(cfg, log) } : {};
  return trainPretrain(cfg, { ...cb, ...curve });
}

/** The SFT policy: loaded from checkpoints/sft when it was trained with this config, else trained now from the pretrained model. */
export async function ensureSft(cfg: Config, cb: StageCallbacks = {}): Promise<StageResult<SftSummary>> {
  const log = cb.log ?? consoleLog;
  const why = checkpointMismatch(cfg, "sft");
  if (!why) {
    const r = loadStage<SftSummary>(cfg, "sft");
    log(`sft: loaded ${r.checkpointDir} (held-out loss ${r.summary?.val_loss_before?.toFixed(3)} -> ${r.summary?.val_loss_after?.toFixed(3)})`);
    return r;
  }
  log(`sft: training (${why})`);
  const base = await ensurePretrained(cfg, cb);
  try {
    return await trainSft(cfg, base, cb);
  } finally {
    base.model.dispose();
  }
}

/**
 * The reward model for this config: loaded from checkpoints/rm when it was trained with the same seed and config
 * sections (tokenizer, model, pretrain, sft, rm), else trained now from the SFT policy (cb.sft when the caller holds
 * it, else loaded here once) and, with rm.base: own, its own pretrained base. The checkpoint's extra.json holds the
 * score statistics PPO normalises with; runs/rm/pairs.csv the pairs.
 */
export async function ensureRewardModel(cfg: Config, cb: RewardStageOptions & { force?: boolean } = {}): Promise<RewardModelStage> {
  const log = cb.log ?? consoleLog;
  const why = cb.force ? "force" : checkpointMismatch(cfg, "rm");
  if (!why) {
    const r = loadStage<RmSummary>(cfg, "rm");
    const extra = loadCheckpointExtra(checkpointDir(cfg, "rm"));
    const pairsFile = path.join(runDir(cfg, "rm"), "pairs.csv");
    log(`rm: loaded ${r.checkpointDir} (heldout_accuracy ${r.summary?.heldout_accuracy?.toFixed(3)}, ceiling ${r.summary?.labeller_ceiling?.toFixed(3)})`);
    return { ...r, scoreStats: extra.score_stats, data: fs.existsSync(pairsFile) ? readPairsCsv(pairsFile, cfg.rm.labeller_beta) : undefined };
  }
  log(`rm: training (${why})`);
  // the SFT policy is needed to sample pairs, and as the starting point with rm.base: sft
  const needSft = !cb.sft && !(cb.pairs && cfg.rm.base === "own");
  const sft = needSft ? await ensureSft(cfg, { log }) : undefined;
  const ownBase = cfg.rm.base === "own" ? await ensurePretrained(ownBaseConfig(cfg), { log }) : undefined;
  try {
    return await trainRewardStage(cfg, { sft: cb.sft ?? sft, ownBase, pairs: cb.pairs }, cb);
  } finally {
    sft?.model.dispose();
    ownBase?.model.dispose();
  }
}

/**
 * The pipeline's stage ppo: the SFT policy and the reward model (loaded when they match this config, else trained,
 * the SFT policy loaded once for both), then PPO, always trained (ensurePpo reuses a checkpoint).
 */
export async function runPpo(cfg: Config, opts: RunPpoOptions = {}): Promise<PpoRun> {
  const log = opts.log ?? consoleLog;
  const sft = await ensureSft(cfg, { log });
  let rm: RewardModelStage | undefined;
  try {
    rm = await ensureRewardModel(cfg, { log, sft });
    return await trainPpo(cfg, { sft: sft.model, rm: rm.model, tok: sft.tokenizer, rmTokenizer: rm.tokenizer }, opts);
  } finally {
    sft.model.dispose();
    rm?.model.dispose();
  }
}

/**
 * The PPO policy for this config: checkpoints/ppo when it was trained with the same seed and sections (tokenizer,
 * model, pretrain, sft, rm, ppo), else runPpo. A loaded run has no evaluations in memory (summary.json has them).
 */
export async function ensurePpo(cfg: Config, opts: RunPpoOptions = {}): Promise<PpoRun> {
  const log = opts.log ?? consoleLog;
  const why = checkpointMismatch(cfg, "ppo");
  if (!why) {
    const r = loadStage<PpoSummary>(cfg, "ppo");
    log(`ppo: loaded ${r.checkpointDir} (held-out gold ${r.summary?.gold_sft?.toFixed(3)} -> ${r.summary?.gold_policy?.toFixed(3)}, KL ${r.summary?.kl?.toFixed(2)})`);
    return { ...r, sftEval: undefined, policyEval: undefined };
  }
  log(`ppo: training (${why})`);
  return runPpo(cfg, opts);
}

/**
 * DPO with the overrides on cfg's SFT model and the reward model's pairs (runs/rm/pairs.csv; both loaded, or trained
 * first into cfg's paths), evaluated with the reward model as PPO is. Writes <runs>/dpo/<name>/dpo/{metrics.csv,
 * summary.json} and overrides.json, and the policy to <checkpoints>/dpo/<name>/dpo.
 */
export async function runDpo(cfg: Config, name: string, overrides: string[], opts: DpoOptions = {}): Promise<DpoRun> {
  const variant = dpoConfig(cfg, name, overrides);
  const log = opts.log ?? consoleLog;
  const sft = await ensureSft(cfg, { log });
  try {
    const rm = await ensureRewardModel(cfg, { log, sft });
    try {
      if (!rm.data) throw new Error(`runDpo: the reward model's pairs are missing (${path.join(cfg.paths.runs, "rm", "pairs.csv")}); retrain the reward model (npm run pipeline)`);
      if (rm.tokenizer.vocabSize !== sft.tokenizer.vocabSize) throw new Error("runDpo: the SFT and reward-model checkpoints use different tokenizers");
      fs.mkdirSync(repoPath(variant.paths.runs), { recursive: true });
      fs.writeFileSync(path.join(repoPath(variant.paths.runs), "overrides.json"), JSON.stringify({ name, overrides, dpo: variant.dpo }, null, 2) + "\n");
      return await trainDpo(variant, { sft: sft.model, tok: sft.tokenizer, data: rm.data, reward: rewardModelFns(rm.model) }, opts);
    } finally {
      rm.model.dispose();
    }
  } finally {
    sft.model.dispose();
  }
}
