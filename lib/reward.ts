// The reward model's math: the Bradley-Terry preference loss, pairwise accuracy, and the post-processing that turns
// a reward-model score into the score PPO adds at the last token (config ppo.reward). Pure functions of tensors.
// (Reward-model training and evaluation will live here too; they build on lib/model.ts.)
import * as tf from "@tensorflow/tfjs";

function assertSameLength(fn: string, a: tf.Tensor1D, b: tf.Tensor1D): void {
  if (a.shape[0] !== b.shape[0]) throw new Error(`${fn}: lengths differ, ${a.shape[0]} vs ${b.shape[0]}`);
}

/**
 * Bradley-Terry loss: the model says P(chosen > rejected) = sigmoid(r_c - r_r); minimise its negative log-likelihood
 *   loss = mean( -log sigmoid(r_c - r_r) ) = mean( softplus(r_r - r_c) )
 * The softplus form never takes the log of an underflowed sigmoid: a margin of -100 costs 100, not Infinity.
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
