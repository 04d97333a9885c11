// The reward model: a GPT with a scalar head read at the last real token (lib/lm/packing.ts packs many completions
// into one row), trained on preference pairs with the Bradley-Terry loss (./bradley-terry.ts), a prompt group per
// batch so each prompt's completions are compared with each other. The stage that samples the pairs and saves the
// model is lib/pipeline/reward-model.ts; the evaluation is ./evaluate.ts.

import * as tf from "@tensorflow/tfjs";
import type { Config, RmConfig } from "../core/config";
import { MetricsLog } from "../core/metrics";
import type { GPT } from "../lm/model";
import { AdamW, lrAt, trainStep } from "../train/optim";
import { packedLastScores } from "../lm/packing";
import { Completion, PreferenceData, PreferencePair, allPairs } from "./preferences";
import { progress } from "../core/progress";
import { StageResume } from "../train/resume";
import { Rng } from "../core/rng";
import { PAD, type Tokenizer } from "../lm/tokenizer";
import type { StepCallback } from "../core/progress";
import { bradleyTerryLoss } from "./bradley-terry";
import { pairwiseAccuracy } from "./bradley-terry";

// =================================================================================================================
// The reward model: training on preference pairs, evaluation, and the pipeline stage `rm`.
//
//   r_theta(x, y) = w . h_last + b        h_last: the SFT trunk's final hidden state at the LAST REAL token of
//                                         [BOS prompt ; response] (the EOS when the policy emitted one); training
//                                         reads it on packed rows (packedRewardScores), PPO on its padded rollout
//                                         (lib/lm/rollout.ts, rewardScores): the same number (test/reward.test.ts)
//   loss          = mean over pairs of -log sigmoid(r_theta(x, y_chosen) - r_theta(x, y_rejected))   (bradleyTerryLoss)
//
// Batches are whole prompt groups (InstructGPT): the k completions of a prompt are scored once and all their
// k(k-1)/2 pairs enter the loss, so a step costs k forward rows per k(k-1)/2 comparisons.

/**
 * The reward model's scalar at the last token of each completion's [BOS prompt ; response] -> [n], in the given
 * order. The rows are packed several to a batch row (lib/lm/packing.ts): the numbers rewardScores gives on a padded
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

export interface RewardTrainOptions {
  rng: Rng;
  /** Resumable checkpoints every cfg.checkpoint_every steps (lib/train/resume.ts); state is saved with them and checked on resume. */
  resume?: { cfg: Config; tokenizer: Tokenizer; log?: (line: string) => void; state?: Record<string, unknown> };
  /** Called after every step with the row logged (heldout_accuracy only at eval steps). */
  onStep?: StepCallback;
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
// Held-out accuracy while training

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
