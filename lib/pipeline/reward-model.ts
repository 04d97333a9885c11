// Stage 3, the reward model: preference pairs sampled from the SFT policy and labelled, Bradley-Terry training from the
// SFT model (or the reward model's own base), evaluation, and checkpoints/rm with runs/rm.

import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { checkpointExists, readCheckpointJson, saveCheckpoint } from "../train/checkpoint";
import type { Config } from "../core/config";
import { runDir, writeSummary } from "../core/metrics";
import type { GPT } from "../lm/model";
import { type PreferenceData, describePairs, readPairsCsv, reviewPromptsWithReferences, samplePreferencePairs, policyEosRate, writePairsCsv } from "../reward/preferences";
import { type StageCallbacks, type StageConfigRecord, type StageResult, checkpointDir, stageRecord } from "./stage";
import { progress, consoleLog } from "../core/progress";
import { resumeEnabled, StageResume } from "../train/resume";
import { reencodePreferences } from "../reward/text-reward";
import { Rng } from "../core/rng";
import { type Tokenizer } from "../lm/tokenizer";
import { ScoreStats, scoreStats } from "../reward/postprocess";
import { evaluateRewardModel } from "../reward/evaluate";
import { keepTrainGroups, trainRewardModel } from "../reward/reward-model";

/** runs/rm/summary.json: heldout_accuracy, labeller_ceiling, human_label_agreement, seconds, and extras. */
export interface RmSummary {
  heldout_accuracy: number;
  labeller_ceiling: number;
  human_label_agreement: number;
  seconds: number;
  [key: string]: number;
}

/** What checkpoints/rm/extra.json holds; PPO reads score_stats for its reward normalisation (ppo.reward.normalize). */
export interface RewardCheckpointExtra {
  config_hash: string;
  /** mean / std of the reward model's scores on SFT samples (the held-out completions, never trained on) */
  score_stats: ScoreStats;
  summary: RmSummary;
}

/** The stage's result: the sft/pretrain StageResult fields (model = the reward model) plus what PPO and notebook 03 need. */
export interface RewardModelStage extends StageResult<RmSummary> {
  scoreStats: ScoreStats;
  /** the pairs (read back from runs/rm/pairs.csv when the checkpoint was loaded; undefined if that file is gone) */
  data: PreferenceData | undefined;
}

/** Reads the score statistics PPO needs from a saved reward model without loading its weights (undefined if none). */
export function readRewardScoreStats(cfg: Config): ScoreStats | undefined {
  const dir = checkpointDir(cfg, "rm");
  if (!checkpointExists(dir)) return undefined;
  return (JSON.parse(fs.readFileSync(path.join(dir, "extra.json"), "utf8")) as RewardCheckpointExtra).score_stats;
}

/**
 * With rm.include_reference: how many training pairs hold a reference, and how often the labeller chose it; with
 * rm.review_sentences: how many real sentences and pairs the review groups added.
 */
function sourceStats(data: PreferenceData): Record<string, number> {
  const out: Record<string, number> = {};
  const isRef = (i: number) => data.completions[i].source === "reference";
  const refPairs = data.pairs.filter((q) => isRef(q.chosen) || isRef(q.rejected));
  if (refPairs.length > 0) {
    out.reference_pairs = refPairs.length;
    out.reference_chosen_rate = refPairs.filter((q) => isRef(q.chosen)).length / refPairs.length;
  }
  const reviews = data.completions.filter((x) => x.source === "review").length;
  if (reviews > 0) {
    out.review_sentences = reviews;
    out.review_pairs = data.pairs.filter((q) => data.completions[q.chosen].source === "review").length;
  }
  return out;
}

/** User + system CPU seconds of this process since `since`. */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

export function loadCheckpointExtra(dir: string): RewardCheckpointExtra {
  const extra = readCheckpointJson<RewardCheckpointExtra>(path.join(dir, "extra.json"));
  if (!extra?.score_stats) throw new Error(`ensureRewardModel: ${dir}/extra.json has no score_stats; delete ${dir} to retrain`);
  return extra;
}

export interface RewardStageOptions extends StageCallbacks {
  /** Preference pairs to train on instead of sampling them from the SFT policy (e.g. another reward model's). */
  pairs?: PreferenceData;
  /** The SFT policy to start from (rm.base: sft) when the caller holds it, e.g. a variant config with other paths. */
  sft?: { model: GPT; tokenizer: Tokenizer };
}

/** What the reward-model stage trains from; lib/pipeline/stages.ts loads these. */
export interface RewardInputs {
  /** The SFT policy: samples the pairs (unless given) and, with rm.base: sft, is the reward model's starting point. */
  sft?: { model: GPT; tokenizer: Tokenizer };
  /** With rm.base: own, the reward model's own pretrained trunk and tokenizer (the pretrain stage of ownBaseConfig). */
  ownBase?: { model: GPT; tokenizer: Tokenizer };
  /** Preference pairs to train on instead of sampling them from the SFT policy (e.g. another reward model's). */
  pairs?: PreferenceData;
}

/**
 * Pairs, training, evaluation and the checkpoint, from the given models (none is modified or disposed).
 * rm.base = sft: the reward model starts from the SFT model; own: from its own pretrained trunk and tokenizer
 * (lib/reward/text-reward.ts), trained on the same pairs re-encoded. With given pairs no SFT policy is needed.
 */
export async function trainRewardStage(cfg: Config, inputs: RewardInputs, cb: StageCallbacks = {}): Promise<RewardModelStage> {
  const sft = inputs.sft?.model, tok = inputs.sft?.tokenizer;
  const log = cb.log ?? consoleLog;
  const dir = checkpointDir(cfg, "rm");
  const runs = runDir(cfg, "rm");
  const t0 = performance.now();
  const cpu0 = process.cpuUsage(); // CPU time says what the wall time would be on an idle machine when cores are shared
  const rng = new Rng(cfg.seed).fork("rm");
  const c = cfg.rm;

  // 1. preference pairs
  const drawn = reviewPromptsWithReferences(c.prompts, rng.fork("prompts"), cfg.sft.prompt_words_min, cfg.sft.prompt_words_max);
  const prompts = drawn.map((x) => x.prompt);
  const pairsFile = path.join(runs, "pairs.csv");
  // Resuming: the pairs the interrupted run sampled and trained on (resume.json holds their hash, checked on restore).
  const resuming = resumeEnabled() && new StageResume(cfg, "rm", 0).savedStep() !== undefined && fs.existsSync(pairsFile);
  if (!inputs.pairs && !(sft && tok)) throw new Error("trainRewardStage: needs an SFT policy and its tokenizer, or given pairs");
  const sampling = progress("rm: sampling preference pairs (prompts)", inputs.pairs || resuming ? 0 : c.prompts);
  const allData = inputs.pairs ?? (resuming ? readPairsCsv(pairsFile, c.labeller_beta) : samplePreferencePairs(sft!, tok!, prompts, c, {
    rng: rng.fork("pairs"),
    onProgress: (done) => sampling.update(done),
    references: drawn.map((x) => x.reference),
    promptsPerBatch: Math.max(1, Math.floor(1024 / c.completions_per_prompt)), // 1,024 rows a call: ~1.35x faster than 512 (per-step kernel overhead)
  }));
  sampling.done();
  if (!resuming) writePairsCsv(pairsFile, allData);
  const data = keepTrainGroups(allData, c.pairs_fraction, rng.fork("pairs-fraction"));
  const pairsHash = crypto.createHash("sha256").update(fs.readFileSync(pairsFile)).digest("hex").slice(0, 16);
  const tPairs = performance.now();
  log(`rm: ${describePairs(data)} (${((tPairs - t0) / 1000).toFixed(1)} s)`);

  // 2. training, from the SFT trunk (or the own pretrained trunk, on the pairs re-encoded) with a fresh scalar head
  let base: { model: GPT; tokenizer: Tokenizer; own: boolean };
  if (c.base === "own") {
    if (!inputs.ownBase) throw new Error("trainRewardStage: rm.base is own, so the reward model's own pretrained base is needed");
    base = { ...inputs.ownBase, own: true };
  } else {
    if (!sft || !tok) throw new Error("trainRewardStage: rm.base is sft, so the SFT policy and its tokenizer are needed");
    base = { model: sft, tokenizer: tok, own: false };
  }
  const rmTok = base.tokenizer;
  const rmData = base.own ? reencodePreferences(data, rmTok, base.model.config.context) : { ...data, truncated: 0 };
  if (base.own) log(`rm: own reward model d${base.model.config.d_model} x ${base.model.config.n_layers}, ${rmTok.kind} tokenizer (vocab ${rmTok.vocabSize}); pairs re-encoded, ${rmData.truncated} completions cut to its context`);
  const rm = base.model.clone({ head: "reward", seed: rng.fork("init").nextSeed() });

  let ok = false;
  try {
    const metrics = trainRewardModel(rm, rmData, c, {
      rng: rng.fork("train"),
      resume: { cfg, tokenizer: rmTok, log, state: { pairs_sha256: pairsHash } },
      onStep: (step, row) => {
        cb.onStep?.(step, row);
        if (row.heldout_accuracy !== undefined) cb.onEval?.(step, row);
      },
      log,
    });
    metrics.toCsv(path.join(runs, "metrics.csv"));
    const tTrain = performance.now();

    // 3. evaluation, and the score statistics PPO normalises with
    const ev = evaluateRewardModel(rm, rmTok, rmData);
    const stats = scoreStats([...ev.scores.values()]);
    const tEval = performance.now();
    const summary: RmSummary = {
      heldout_accuracy: ev.heldout_accuracy,
      labeller_ceiling: ev.labeller_ceiling,
      accuracy_over_ceiling: ev.heldout_accuracy / ev.labeller_ceiling,
      human_label_agreement: ev.human.agreement,
      seconds: (tEval - t0) / 1000,
      cpu_seconds: cpuSeconds(cpu0),
      gold_accuracy: ev.gold_accuracy,
      gold_ceiling: ev.gold_ceiling,
      corr_gold: ev.corr_gold,
      vader_human_agreement: ev.human.vaderAgreement,
      human_threshold: ev.human.threshold,
      pairs_train: data.pairs.filter((q) => q.split === "train").length,
      pairs_heldout: data.pairs.filter((q) => q.split === "heldout").length,
      gold_tie_fraction: data.pairs.filter((q) => q.p === 0.5).length / data.pairs.length,
      ...sourceStats(data),
      eos_rate: policyEosRate(data),
      score_mean: stats.mean,
      score_std: stats.std,
      seconds_pairs: (tPairs - t0) / 1000,
      seconds_train: (tTrain - tPairs) / 1000,
      seconds_eval: (tEval - tTrain) / 1000,
    };
    await saveCheckpoint<StageConfigRecord, RewardCheckpointExtra>(dir, {
      model: rm, tokenizer: rmTok, config: stageRecord(cfg, "rm"),
      extra: { config_hash: stageRecord(cfg, "rm").hash, score_stats: stats, summary },
    });
    writeSummary(runs, summary); // after the checkpoint it describes
    new StageResume(cfg, "rm", 0).clear();
    ok = true;
    log(`rm: heldout_accuracy ${ev.heldout_accuracy.toFixed(3)} (labeller ceiling ${ev.labeller_ceiling.toFixed(3)}), ` +
      `human_label_agreement ${ev.human.agreement.toFixed(3)} (VADER ${ev.human.vaderAgreement.toFixed(3)}), ${summary.seconds.toFixed(1)} s; saved ${dir}`);
    return { model: rm, tokenizer: rmTok, summary, metrics, trained: true, checkpointDir: dir, scoreStats: stats, data: allData };
  } finally {
    if (!ok) rm.dispose(); // a failed stage leaves no tensors behind
  }
}

/**
 * The config whose pretrain stage builds the own reward model's trunk: the course's pretrain recipe (section
 * pretrain) with rm.tokenizer and rm.model, saved under <checkpoints>/rm_base/ and <runs>/rm_base/.
 */
export function ownBaseConfig(cfg: Config): Config {
  return {
    ...cfg,
    tokenizer: { ...cfg.rm.tokenizer },
    model: { ...cfg.rm.model, dropout: cfg.model.dropout },
    pretrain: { ...cfg.pretrain, base: "trained" }, // its own tokenizer and size: never the policy's shipped base
    paths: { checkpoints: path.join(cfg.paths.checkpoints, "rm_base"), runs: path.join(cfg.paths.runs, "rm_base") },
  };
}
