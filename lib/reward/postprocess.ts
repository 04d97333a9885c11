// From a reward model's raw score to the score PPO adds at the last real token (config ppo.reward): normalisation with
// the SFT policy's score statistics, the missing-EOS penalty, the squash and the clip. Pure functions of tensors.

import * as tf from "@tensorflow/tfjs";
import { assertSameLength } from "./bradley-terry";

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
