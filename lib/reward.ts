// The reward model's math: the Bradley-Terry preference loss, pairwise accuracy, and the post-processing that turns
// a reward-model score into the score PPO adds at the last token (config ppo.reward). Pure functions of tensors.
// Then the reward model itself (below the math): training on preference pairs, evaluation, and the stage `rm`.
import * as tf from "@tensorflow/tfjs";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { checkpointExists, readCheckpointJson, saveCheckpoint } from "./checkpoint";
import type { Config, RmConfig } from "./config";
import { loadReviews } from "./data";
import { labellerCeiling } from "./labeller";
import { MetricsLog, runDir, writeSummary } from "./metrics";
import type { GPT } from "./model";
import { AdamW, lrAt, trainStep } from "./optim";
import { packedLastScores } from "./packing";
import {
  Completion,
  PreferenceData,
  PreferencePair,
  allPairs,
  describePairs,
  readPairsCsv,
  reviewPromptsWithReferences,
  samplePreferencePairs,
  sentenceCompletions,
  policyEosRate,
  writePairsCsv,
} from "./preferences";
import { type StageCallbacks, type StageConfigRecord, type StageResult, checkpointDir, checkpointMismatch, ensurePretrained, loadStage, stageRecord } from "./pretrain";
import { progress } from "./progress";
import { resumeEnabled, StageResume } from "./resume";
import { ownBaseConfig, reencodePreferences } from "./reward_text";
import { Rng } from "./rng";
import { ensureSft } from "./sft";
import { PAD, type Tokenizer } from "./tokenizer";
import type { OnStep } from "./viz";

function assertSameLength(fn: string, a: tf.Tensor1D, b: tf.Tensor1D): void {
  if (a.shape[0] !== b.shape[0]) throw new Error(`${fn}: lengths differ, ${a.shape[0]} vs ${b.shape[0]}`);
}

/**
 * Bradley-Terry loss: the model says P(chosen > rejected) = sigmoid(r_c - r_r); minimise its negative log-likelihood
 *   loss = mean( -log sigmoid(r_c - r_r) ) = mean( softplus(r_r - r_c) )
 * The softplus form never takes the log of an underflowed sigmoid: a margin of -200 costs 200, not Infinity
 * (sigmoid(-200) is 0 in float32).
 */
export function bradleyTerryLoss(chosen: tf.Tensor1D, rejected: tf.Tensor1D): tf.Scalar {
  assertSameLength("bradleyTerryLoss(chosen, rejected)", chosen, rejected);
  return tf.tidy(() => tf.mean(tf.softplus(tf.sub(rejected, chosen))) as tf.Scalar);
}

/** Fraction of pairs the reward model orders correctly (r_c > r_r); a tie counts half, like a coin flip. */
export function pairwiseAccuracy(chosen: tf.Tensor1D, rejected: tf.Tensor1D): tf.Scalar {
  assertSameLength("pairwiseAccuracy(chosen, rejected)", chosen, rejected);
  return tf.tidy(() => {
    const wins = tf.cast(tf.greater(chosen, rejected), "float32");
    const ties = tf.cast(tf.equal(chosen, rejected), "float32");
    return tf.mean(tf.add(wins, tf.mul(0.5, ties))) as tf.Scalar;
  });
}

/** Mean and standard deviation of reward-model scores, measured once on SFT samples (for `normalize`). */
export interface ScoreStats {
  mean: number;
  std: number;
}

/** Mean and (population) standard deviation of a set of scores. */
export function scoreStats(scores: ArrayLike<number>): ScoreStats {
  const n = scores.length;
  if (n < 2) throw new Error(`scoreStats: need at least 2 scores, got ${n}`);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += scores[i];
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (scores[i] - mean) ** 2;
  return { mean, std: Math.sqrt(sq / n) };
}

/** (score - mean) / std with the SFT policy's statistics: the SFT policy then scores 0 on average, with spread 1. */
export function normalizeScores(scores: tf.Tensor1D, stats: ScoreStats): tf.Tensor1D {
  if (!(stats.std > 0)) throw new Error(`normalizeScores: std must be > 0, got ${stats.std}`);
  return tf.tidy(() => tf.div(tf.sub(scores, stats.mean), stats.std) as tf.Tensor1D);
}

/** 2 * tanh(x / 2): the identity near 0 (slope 1), bounded to (-2, 2), so no single score can dominate a batch. */
export function squashScores(scores: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.mul(2, tf.tanh(tf.div(scores, 2))) as tf.Tensor1D);
}

/** Clip to [-limit, limit] (OpenRLHF clips at 10, DeepSpeed-Chat at 5). */
export function clipScores(scores: tf.Tensor1D, limit: number): tf.Tensor1D {
  if (!(limit > 0)) throw new Error(`clipScores: limit must be > 0, got ${limit}`);
  return tf.tidy(() => tf.clipByValue(scores, -limit, limit) as tf.Tensor1D);
}

/**
 * Adds `penalty` (negative, e.g. -1) to the score of every response that never emitted EOS (eos = 0), as TRL's
 * missing_eos_penalty: otherwise a response cut at max_new_tokens is scored as if it were a finished answer.
 */
export function applyMissingEosPenalty(scores: tf.Tensor1D, eos: tf.Tensor1D, penalty: number): tf.Tensor1D {
  assertSameLength("applyMissingEosPenalty(scores, eos)", scores, eos);
  return tf.tidy(() => tf.add(scores, tf.mul(penalty, tf.sub(1, eos))) as tf.Tensor1D);
}

/** config ppo.reward, snake_case as in the YAML. */
export interface RewardOptions {
  normalize: boolean;
  squash: boolean;
  clip: number | null;
  missing_eos_penalty: number | null;
}

/**
 * The score PPO receives, from the reward model's raw score, in this order:
 *   1. normalize:            (s - mean_sft) / std_sft              (needs `stats`)
 *   2. missing_eos_penalty:  + penalty where eos = 0                (in normalised units when normalize is on)
 *   3. squash:               2 * tanh(s / 2)                        (bounds the result, penalty included)
 *   4. clip:                 clip to +-clip                         (a no-op after squash when clip >= 2)
 * eos is 1.0 for responses that emitted EOS, 0.0 for those cut at max_new_tokens.
 */
export function postprocessScores(
  scores: tf.Tensor1D,
  eos: tf.Tensor1D,
  opts: RewardOptions,
  stats?: ScoreStats,
): tf.Tensor1D {
  return tf.tidy(() => {
    let s = scores;
    if (opts.normalize) {
      if (!stats) throw new Error("postprocessScores: ppo.reward.normalize is true but no score stats were given");
      s = normalizeScores(s, stats);
    }
    if (opts.missing_eos_penalty !== null) s = applyMissingEosPenalty(s, eos, opts.missing_eos_penalty);
    if (opts.squash) s = squashScores(s);
    if (opts.clip !== null) s = clipScores(s, opts.clip);
    return s === scores ? tf.clone(scores) : s; // always a new tensor the caller owns
  });
}

// =================================================================================================================
// The reward model: training on preference pairs, evaluation, and the pipeline stage `rm`.
//
//   r_theta(x, y) = w . h_last + b        h_last: the SFT trunk's final hidden state at the LAST REAL token of
//                                         [BOS prompt ; response] (the EOS when the policy emitted one); training
//                                         reads it on packed rows (packedRewardScores), PPO on its padded rollout
//                                         (lib/rollout.ts, rewardScores): the same number (test/reward.test.ts)
//   loss          = mean over pairs of -log sigmoid(r_theta(x, y_chosen) - r_theta(x, y_rejected))   (bradleyTerryLoss)
//
// Batches are whole prompt groups (InstructGPT): the k completions of a prompt are scored once and all their
// k(k-1)/2 pairs enter the loss, so a step costs k forward rows per k(k-1)/2 comparisons.
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * The reward model's scalar at the last token of each completion's [BOS prompt ; response] -> [n], in the given
 * order. The rows are packed several to a batch row (lib/packing.ts): the numbers rewardScores gives on a padded
 * batch (to float rounding), with about half the tokens, since the completions average half the longest one's
 * length. Differentiable in the model's weights; opts.training turns dropout on.
 */
export function packedRewardScores(rm: GPT, completions: Completion[], indices: number[], opts: { training?: boolean } = {}): tf.Tensor1D {
  return packedLastScores(rm, indices.map((i) => [...completions[i].promptIds, ...completions[i].responseIds]), PAD, opts);
}

/** Reward-model scores of some completions (all when indices is omitted), batched and packed, dropout off, no gradients. */
export function scoreCompletions(rm: GPT, completions: Completion[], indices?: number[], batchSize = 256): Float32Array {
  const idx = indices ?? completions.map((_, i) => i);
  const out = new Float32Array(idx.length);
  const bar = progress("rm: scoring completions", idx.length);
  for (let s = 0; s < idx.length; s += batchSize) {
    const scores = packedRewardScores(rm, completions, idx.slice(s, s + batchSize));
    out.set(scores.dataSync(), s);
    scores.dispose();
    bar.tick(Math.min(batchSize, idx.length - s));
  }
  bar.done();
  return out;
}

/**
 * Pairwise accuracy of scores (indexed like data.completions) on the pairs of one split: r_chosen > r_rejected
 * counts 1, a tie 1/2 (the same rule as pairwiseAccuracy).
 */
export function splitAccuracy(data: PreferenceData, scores: Map<number, number> | ArrayLike<number>, split: "train" | "heldout"): number {
  const get = (i: number) => (scores instanceof Map ? scores.get(i)! : scores[i]);
  let n = 0, right = 0;
  for (const q of data.pairs) {
    if (q.split !== split) continue;
    const d = get(q.chosen) - get(q.rejected);
    right += d > 0 ? 1 : d === 0 ? 0.5 : 0;
    n++;
  }
  return n ? right / n : NaN;
}

/** Completions used by the pairs of a split, each once, in index order. */
export function splitCompletions(data: PreferenceData, split: "train" | "heldout"): number[] {
  const s = new Set<number>();
  for (const q of data.pairs) if (q.split === split) { s.add(q.chosen); s.add(q.rejected); }
  return [...s].sort((a, b) => a - b);
}

/** Scores of the held-out completions, as a map from completion index. */
export function heldoutScores(rm: GPT, data: PreferenceData): Map<number, number> {
  const idx = splitCompletions(data, "heldout");
  const s = scoreCompletions(rm, data.completions, idx);
  return new Map(idx.map((i, j) => [i, s[j]]));
}

export interface RewardTrainOptions {
  rng: Rng;
  /** Resumable checkpoints every cfg.checkpoint_every steps (lib/resume.ts); state is saved with them and checked on resume. */
  resume?: { cfg: Config; tokenizer: Tokenizer; log?: (line: string) => void; state?: Record<string, unknown> };
  /** Called after every step with the row logged (heldout_accuracy only at eval steps). */
  onStep?: OnStep;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** The training pairs by prompt group, with the completions they use (each once, in index order). */
export function trainGroups(data: PreferenceData): Map<number, { completions: number[]; pairs: PreferencePair[] }> {
  const out = new Map<number, { completions: number[]; pairs: PreferencePair[] }>();
  for (const q of data.pairs) {
    if (q.split !== "train") continue;
    let g = out.get(q.group);
    if (!g) out.set(q.group, (g = { completions: [], pairs: [] }));
    g.pairs.push(q);
    for (const i of [q.chosen, q.rejected]) if (!g.completions.includes(i)) g.completions.push(i);
  }
  for (const g of out.values()) g.completions.sort((x, y) => x - y);
  return out;
}

/**
 * The data with the training pairs of only a seeded share of the training prompt groups (rm.pairs_fraction; the
 * held-out pairs all kept, so accuracies stay comparable): the "data amount" axis of Gao et al. 2022.
 */
export function keepTrainGroups(data: PreferenceData, fraction: number, rng: Rng): PreferenceData {
  if (fraction >= 1) return data;
  const groups = [...trainGroups(data).keys()];
  rng.shuffle(groups);
  const kept = new Set(groups.slice(0, Math.max(1, Math.round(fraction * groups.length))));
  return { ...data, pairs: data.pairs.filter((q) => q.split !== "train" || kept.has(q.group)) };
}

/**
 * The plan of a run: for each step, the prompt groups it trains on. Every epoch visits every training group once,
 * in a fresh shuffled order; a step takes round(batch_size / pairs per group) groups (at least one), so batch_size
 * counts comparisons, as in the Bradley-Terry loss.
 */
export function rewardBatches(data: PreferenceData, c: Pick<RmConfig, "epochs" | "batch_size" | "completions_per_prompt">, rng: Rng): number[][] {
  const groups = [...trainGroups(data).keys()].sort((a, b) => a - b);
  if (groups.length === 0) throw new Error("rewardBatches: no training pairs");
  const groupsPerStep = Math.max(1, Math.round(c.batch_size / allPairs(c.completions_per_prompt).length));
  const steps: number[][] = [];
  for (let e = 0; e < c.epochs; e++) {
    const order = rng.shuffle(groups.slice());
    for (let s = 0; s < order.length; s += groupsPerStep) steps.push(order.slice(s, s + groupsPerStep));
  }
  return steps;
}

/**
 * Trains rm (a GPT with head "reward") on the train pairs with the Bradley-Terry loss, AdamW and the warmup + cosine
 * schedule; held-out pairwise accuracy every eval_every steps and at the end. Metrics rows: step, loss, accuracy
 * (on the step's batch), lr, grad_norm, heldout_accuracy (at eval steps).
 */
export function trainRewardModel(rm: GPT, data: PreferenceData, c: RmConfig, opts: RewardTrainOptions): MetricsLog {
  if (rm.head !== "reward") throw new Error(`trainRewardModel: the model's head is "${rm.head}", expected "reward"`);
  const groups = trainGroups(data);
  const plan = rewardBatches(data, c, opts.rng.fork("batches"));
  const steps = plan.length;
  const vars = rm.trainableVariables();
  const opt = new AdamW(vars, { weightDecay: c.weight_decay });
  const metrics = new MetricsLog("rm");
  const r = opts.resume;
  const resume = r && new StageResume(r.cfg, "rm", steps, r.log);
  const parts = r && { model: rm, tokenizer: r.tokenizer, opt, rngs: {}, metrics };
  const from = resume?.restore(parts!);
  for (const [k, v] of Object.entries(r?.state ?? {})) {
    if (from && from.state[k] !== v) throw new Error(`${resume!.dir}: saved with ${k} ${String(from.state[k])}, this run has ${String(v)}; delete it to start over`);
  }
  let step = from?.step ?? 0; // the plan is fixed by the seed, so the step is the data-order position
  const bar = progress("rm: training steps", steps - step);
  try {
    for (; step < steps; step++) {
      bar.tick();
      // The step's completions, each scored once, and its pairs as positions in that batch.
      const rows = plan[step].flatMap((g) => groups.get(g)!.completions);
      const row = new Map(rows.map((ci, j) => [ci, j]));
      const pairs = plan[step].flatMap((g) => groups.get(g)!.pairs);
      const ci = tf.tensor1d(pairs.map((q) => row.get(q.chosen)!), "int32");
      const ri = tf.tensor1d(pairs.map((q) => row.get(q.rejected)!), "int32");
      // a run shorter than ten warmups (a small rm.pairs_fraction) warms up over its first tenth instead
      const lr = lrAt(step, { lr: c.lr, steps, warmup_steps: Math.min(c.warmup_steps, Math.floor(steps / 10)), min_lr_ratio: c.min_lr_ratio });
      let margin: tf.Tensor1D | undefined;
      let loss: number, gradNorm: number, m: Float32Array | Int32Array | Uint8Array;
      try {
        ({ loss, gradNorm } = trainStep(vars, () => {
          const s = packedRewardScores(rm, data.completions, rows, { training: true }); // [rows], at each row's last token
          const chosen = tf.gather(s, ci) as tf.Tensor1D, rejected = tf.gather(s, ri) as tf.Tensor1D;
          margin = tf.keep(tf.sub(chosen, rejected)) as tf.Tensor1D; // for the batch accuracy
          return bradleyTerryLoss(chosen, rejected);
        }, opt, { lr, gradClip: c.grad_clip }));
        m = margin!.dataSync();
      } finally {
        tf.dispose([ci, ri, ...(margin ? [margin] : [])]); // also when the step throws
      }
      let right = 0;
      for (const v of m) right += v > 0 ? 1 : v === 0 ? 0.5 : 0;
      const values: Record<string, number> = { loss, accuracy: right / m.length, lr, grad_norm: gradNorm };
      if ((step + 1) % c.eval_every === 0 || step === steps - 1) {
        values.heldout_accuracy = splitAccuracy(data, heldoutScores(rm, data), "heldout");
        opts.log?.(`rm step ${step + 1}/${steps} | loss ${loss.toFixed(4)} | heldout_accuracy ${values.heldout_accuracy.toFixed(4)} | lr ${lr.toExponential(2)}`);
      }
      metrics.log(step + 1, values);
      resume?.save(step + 1, parts!, r?.state);
      opts.onStep?.(step + 1, values);
    }
  } catch (e) {
    throw resume ? resume.failure(step, e) : e;
  } finally {
    opt.dispose();
  }
  bar.done();
  return metrics;
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

export interface CalibrationBin {
  lo: number;
  hi: number;
  count: number;
  /** mean predicted P(a > b) = sigmoid(r_a - r_b) in the bin */
  predicted: number;
  /** fraction of the bin's pairs where the labeller preferred a */
  observed: number;
  /** mean of the labeller's true P(a > b) */
  labeller: number;
}

/**
 * Calibration of sigmoid(r_a - r_b) on held-out pairs, binned by the prediction. Each pair is oriented by sampling
 * order (a = the completion sampled first), which the label does not influence, so "observed" is the rate at which
 * the labeller preferred a.
 */
export function calibrationBins(data: PreferenceData, scores: Map<number, number>, nBins = 10): CalibrationBin[] {
  const bins = Array.from({ length: nBins }, (_, i) => ({ lo: i / nBins, hi: (i + 1) / nBins, count: 0, predicted: 0, observed: 0, labeller: 0 }));
  for (const q of data.pairs) {
    if (q.split !== "heldout") continue;
    const a = Math.min(q.chosen, q.rejected), b = Math.max(q.chosen, q.rejected);
    const pred = sigmoid(scores.get(a)! - scores.get(b)!);
    const bin = bins[Math.min(nBins - 1, Math.floor(pred * nBins))];
    bin.count++;
    bin.predicted += pred;
    bin.observed += a === q.chosen ? 1 : 0;
    bin.labeller += a === q.chosen ? q.p : 1 - q.p;
  }
  return bins.filter((x) => x.count > 0).map((x) => ({ ...x, predicted: x.predicted / x.count, observed: x.observed / x.count, labeller: x.labeller / x.count }));
}

/** Pearson correlation of two equal-length arrays. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length || n < 2) throw new Error(`pearson: need two arrays of the same length >= 2 (got ${n}, ${y.length})`);
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/**
 * The threshold t maximising the accuracy of "positive when score > t" on labelled scores (candidates: midpoints
 * between consecutive distinct scores, and below all of them). Returns t and that accuracy.
 */
export function bestThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>): { threshold: number; accuracy: number } {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  // threshold below everything: all predicted positive
  let correct = 0;
  for (let i = 0; i < n; i++) correct += labels[i] === 1 ? 1 : 0;
  let best = { threshold: scores[order[0]] - 1, accuracy: correct / n };
  for (let k = 0; k < n; k++) {
    // move order[k] to "negative"
    correct += labels[order[k]] === 1 ? -1 : 1;
    const next = k + 1 < n ? scores[order[k + 1]] : scores[order[k]] + 1;
    if (next === scores[order[k]]) continue; // cannot split equal scores
    if (correct / n > best.accuracy) best = { threshold: (scores[order[k]] + next) / 2, accuracy: correct / n };
  }
  return best;
}

/**
 * The threshold of a logistic fit of the labels on the scores (Platt scaling): P(label 1 | s) = sigmoid(a s + b),
 * fitted by Newton's method on the log-likelihood with a tiny L2 on a (which keeps separable data finite); the cut
 * is where that probability is 1/2, s = -b / a. It uses every point, so on ~300 labelled sentences it moves less
 * from one sample to another than the accuracy-maximising cut (bestThreshold): in 2-fold splits of the val split it
 * transferred better for each of five reward models (mean +0.011 accuracy).
 */
export function logisticThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { slope, threshold } = logisticFit(scores, labels);
  if (!(slope > 0)) throw new Error(`logisticThreshold: the labels do not rise with the score (slope ${slope.toFixed(4)}): no threshold says "positive above"`);
  return threshold;
}

/**
 * The threshold humanLabelAgreement uses: logisticThreshold, or, when the labels do not rise with the score (an
 * untrained or broken reward model, e.g. on config/smoke.yaml), the accuracy-maximising cut, which always exists.
 */
export function valThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { slope, threshold } = logisticFit(scores, labels);
  return slope > 0 ? threshold : bestThreshold(scores, labels).threshold;
}

/** The logistic fit behind logisticThreshold: its slope (per unit of score) and where it crosses 1/2. */
function logisticFit(scores: ArrayLike<number>, labels: ArrayLike<number>): { slope: number; threshold: number } {
  const n = scores.length;
  if (n < 2 || labels.length !== n) throw new Error(`logisticThreshold: need >= 2 scores with as many labels (got ${n}, ${labels.length})`);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += scores[i];
  mean /= n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (scores[i] - mean) ** 2;
  const sd = Math.sqrt(sq / n) || 1;
  const l2 = 1e-3;
  let a = 0, b = 0; // on standardised scores z = (s - mean) / sd
  for (let it = 0; it < 50; it++) {
    let ga = -l2 * a, gb = 0, haa = l2, hab = 0, hbb = 0;
    for (let i = 0; i < n; i++) {
      const z = (scores[i] - mean) / sd;
      const p = 1 / (1 + Math.exp(-(a * z + b)));
      const w = p * (1 - p);
      ga += (labels[i] - p) * z; gb += labels[i] - p;
      haa += w * z * z; hab += w * z; hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 1e-12)) break;
    const da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
    a += da; b += db;
    if (Math.abs(da) + Math.abs(db) < 1e-10) break;
  }
  return { slope: a / sd, threshold: a !== 0 ? mean + sd * (-b / a) : NaN };
}

/** Accuracy of "positive when score > threshold" against 0/1 labels. */
export function thresholdAccuracy(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): number {
  let right = 0;
  for (let i = 0; i < scores.length; i++) right += (scores[i] > threshold ? 1 : 0) === labels[i] ? 1 : 0;
  return right / scores.length;
}

export interface HumanAgreement {
  /** accuracy on the test split with the threshold chosen on the val split */
  agreement: number;
  threshold: number;
  valAccuracy: number;
  /** the same procedure with VADER's compound score in place of the reward model's */
  vaderAgreement: number;
  vaderThreshold: number;
  test: { text: string; label: number; score: number; gold: number }[];
  truncated: number;
}

/**
 * Agreement with real human judgements: the UCI review sentences (Kotzias et al. 2015), each scored as a complete
 * response (BOS, sentence, EOS), classified positive when the score exceeds a threshold fitted on the val split
 * (valThreshold), compared with the human 0/1 labels of the test split. VADER, the gold scorer, gets the same
 * procedure.
 */
export function humanLabelAgreement(rm: GPT, tok: Tokenizer): HumanAgreement {
  const val = loadReviews("val"), test = loadReviews("test");
  const v = sentenceCompletions(tok, val.map((r) => r.text), rm.config.context);
  const t = sentenceCompletions(tok, test.map((r) => r.text), rm.config.context);
  const vs = scoreCompletions(rm, v.completions), ts = scoreCompletions(rm, t.completions);
  const vl = val.map((r) => r.label), tl = test.map((r) => r.label);
  const threshold = valThreshold(vs, vl);
  const vaderGold = v.completions.map((c) => c.gold);
  const vaderThreshold = valThreshold(vaderGold, vl);
  return {
    agreement: thresholdAccuracy(ts, tl, threshold),
    threshold,
    valAccuracy: thresholdAccuracy(vs, vl, threshold),
    vaderAgreement: thresholdAccuracy(t.completions.map((c) => c.gold), tl, vaderThreshold),
    vaderThreshold,
    test: test.map((r, i) => ({ text: r.text, label: r.label, score: ts[i], gold: t.completions[i].gold })),
    truncated: v.truncated + t.truncated,
  };
}

export interface RewardEvaluation {
  heldout_accuracy: number;
  labeller_ceiling: number;
  /** accuracy against the noiseless gold order (gold ties count half) and its ceiling (1 - ties / 2) */
  gold_accuracy: number;
  gold_ceiling: number;
  /** Pearson correlation of reward and gold over the held-out completions */
  corr_gold: number;
  human: HumanAgreement;
  calibration: CalibrationBin[];
  /** held-out completions with their reward and gold scores (scatter, error tables) */
  scores: Map<number, number>;
}

export function evaluateRewardModel(rm: GPT, tok: Tokenizer, data: PreferenceData): RewardEvaluation {
  const scores = heldoutScores(rm, data);
  const held = data.pairs.filter((q) => q.split === "heldout");
  let goldRight = 0, ties = 0;
  for (const q of held) {
    const gc = data.completions[q.chosen].gold, gr = data.completions[q.rejected].gold;
    const dr = scores.get(q.chosen)! - scores.get(q.rejected)!;
    if (gc === gr || dr === 0) goldRight += 0.5;
    else goldRight += Math.sign(gc - gr) === Math.sign(dr) ? 1 : 0;
    if (gc === gr) ties++;
  }
  const idx = [...scores.keys()];
  return {
    heldout_accuracy: splitAccuracy(data, scores, "heldout"),
    labeller_ceiling: labellerCeiling(held.map((q) => q.p)),
    gold_accuracy: goldRight / held.length,
    gold_ceiling: 1 - ties / (2 * held.length),
    corr_gold: pearson(idx.map((i) => scores.get(i)!), idx.map((i) => data.completions[i].gold)),
    human: humanLabelAgreement(rm, tok),
    calibration: calibrationBins(data, scores),
    scores,
  };
}

export interface RewardError {
  prompt: string;
  /** the completion the reward model scored higher, and the one it scored lower */
  preferred: string;
  other: string;
  reward_preferred: number;
  reward_other: number;
  gold_preferred: number;
  gold_other: number;
  /** the labeller's P(preferred > other): what a label would have said */
  p_labeller: number;
}

/**
 * The held-out pairs the reward model gets most wrong against the gold order: it prefers the completion with the
 * lower gold score, ranked by how confident it is (its reward margin).
 */
export function worstErrors(data: PreferenceData, scores: Map<number, number>, n = 10): RewardError[] {
  const out: (RewardError & { margin: number })[] = [];
  for (const q of data.pairs) {
    if (q.split !== "heldout") continue;
    const [hi, lo] = scores.get(q.chosen)! >= scores.get(q.rejected)! ? [q.chosen, q.rejected] : [q.rejected, q.chosen];
    const a = data.completions[hi], b = data.completions[lo];
    if (!(a.gold < b.gold)) continue;
    out.push({
      prompt: a.prompt, preferred: a.text, other: b.text,
      reward_preferred: scores.get(hi)!, reward_other: scores.get(lo)!, gold_preferred: a.gold, gold_other: b.gold,
      p_labeller: sigmoid(data.beta * (a.gold - b.gold)),
      margin: scores.get(hi)! - scores.get(lo)!,
    });
  }
  return out.sort((x, y) => y.margin - x.margin).slice(0, n).map(({ margin: _m, ...e }) => e);
}

// ---------------------------------------------------------------------------------------------------------------
// The stage

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
 * The reward model for this config: loaded from checkpoints/rm when it was trained with the same seed and config
 * sections (tokenizer, model, pretrain, sft, rm: stageConfigHash, as every stage checks), else built now: the SFT
 * policy (ensureSft), preference pairs (runs/rm/pairs.csv), Bradley-Terry training (runs/rm/metrics.csv), evaluation
 * (runs/rm/summary.json), and the checkpoint, whose extra.json holds the score statistics PPO normalises with.
 * The pipeline's stage `rm` (tools/pipeline.ts) calls this.
 */
export async function ensureRewardModel(cfg: Config, cb: RewardStageOptions & { force?: boolean } = {}): Promise<RewardModelStage> {
  const log = cb.log ?? ((s: string) => console.log(s));
  const dir = checkpointDir(cfg, "rm");
  const runs = runDir(cfg, "rm");
  const why = cb.force ? "force" : checkpointMismatch(cfg, "rm");
  if (!why) {
    const r = loadStage<RmSummary>(cfg, "rm");
    const extra = loadCheckpointExtra(dir);
    const pairsFile = path.join(runs, "pairs.csv");
    log(`rm: loaded ${r.checkpointDir} (heldout_accuracy ${r.summary?.heldout_accuracy?.toFixed(3)}, ceiling ${r.summary?.labeller_ceiling?.toFixed(3)})`);
    return { ...r, scoreStats: extra.score_stats, data: fs.existsSync(pairsFile) ? readPairsCsv(pairsFile, cfg.rm.labeller_beta) : undefined };
  }
  log(`rm: training (${why})`);
  if (cb.sft) return trainRewardStage(cfg, cb.sft.model, cb.sft.tokenizer, cb);
  if (cb.pairs && cfg.rm.base === "own") return trainRewardStage(cfg, undefined, undefined, cb);
  const sft = await ensureSft(cfg, { log });
  try {
    return await trainRewardStage(cfg, sft.model, sft.tokenizer, cb);
  } finally {
    sft.model.dispose();
  }
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

function loadCheckpointExtra(dir: string): RewardCheckpointExtra {
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

/**
 * Pairs, training, evaluation and the checkpoint, from a given SFT policy (which is not modified or disposed).
 * rm.base = sft: the reward model starts from the SFT model; own: from its own pretrained trunk and tokenizer
 * (lib/reward_text.ts), trained on the same pairs re-encoded. With cb.pairs no SFT policy is needed.
 */
export async function trainRewardStage(cfg: Config, sft: GPT | undefined, tok: Tokenizer | undefined, cb: RewardStageOptions = {}): Promise<RewardModelStage> {
  const log = cb.log ?? ((s: string) => console.log(s));
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
  if (!cb.pairs && !(sft && tok)) throw new Error("trainRewardStage: needs an SFT policy and its tokenizer, or given pairs");
  const sampling = progress("rm: sampling preference pairs (prompts)", cb.pairs || resuming ? 0 : c.prompts);
  const allData = cb.pairs ?? (resuming ? readPairsCsv(pairsFile, c.labeller_beta) : samplePreferencePairs(sft!, tok!, prompts, c, {
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
    const b = await ensurePretrained(ownBaseConfig(cfg), { log });
    base = { model: b.model, tokenizer: b.tokenizer, own: true };
  } else {
    if (!sft || !tok) throw new Error("trainRewardStage: rm.base is sft, so the SFT policy and its tokenizer are needed");
    base = { model: sft, tokenizer: tok, own: false };
  }
  const rmTok = base.tokenizer;
  const rmData = base.own ? reencodePreferences(data, rmTok, base.model.config.context) : { ...data, truncated: 0 };
  if (base.own) log(`rm: own reward model d${base.model.config.d_model} x ${base.model.config.n_layers}, ${rmTok.kind} tokenizer (vocab ${rmTok.vocabSize}); pairs re-encoded, ${rmData.truncated} completions cut to its context`);
  const rm = base.model.clone({ head: "reward", seed: rng.fork("init").nextSeed() });
  if (base.own) base.model.dispose();
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
