// KL penalty of RLHF: per-token KL estimators, the KL-shaped per-token reward, fixed and adaptive KL controllers.
//
// Shapes: [batch, T] over response tokens, right-padded; mask is 1.0 for real tokens (up to and
// including EOS) and 0.0 after. Every function here is pure: tensors in, tensors out, no hidden state (except the
// controllers, whose only state is the coefficient they hold).
import * as tf from "@tensorflow/tfjs";

/** Schulman's KL approximations ("Approximating KL Divergence", J. Schulman, 2020). */
export type KLEstimator = "k1" | "k2" | "k3";

function assertSameShape(what: string, a: tf.Tensor, b: tf.Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${what}: shapes differ, [${a.shape}] vs [${b.shape}]`);
  }
}

/**
 * Per-token estimate of KL(policy || reference) from the log-probs of the tokens the policy sampled.
 * With log r = ref - logp (the log ratio reference/policy at a token drawn from the policy):
 *   k1 = -log r = logp - ref              unbiased, high variance, can be negative per token
 *   k2 = 0.5 * (log r)^2                  biased (low bias when the two are close), always >= 0
 *   k3 = (r - 1) - log r = exp(ref - logp) - 1 - (ref - logp)   unbiased, always >= 0, low variance
 * Padded positions are whatever the inputs hold there: multiply by the mask (or use sequenceKl) before summing.
 */
export function klPerToken(logprobs: tf.Tensor2D, refLogprobs: tf.Tensor2D, estimator: KLEstimator): tf.Tensor2D {
  assertSameShape("klPerToken(logprobs, refLogprobs)", logprobs, refLogprobs);
  return tf.tidy(() => {
    const logRatio = tf.sub(refLogprobs, logprobs); // log r = log q(x) - log p(x)
    switch (estimator) {
      case "k1":
        return tf.neg(logRatio) as tf.Tensor2D;
      case "k2":
        return tf.mul(0.5, tf.square(logRatio)) as tf.Tensor2D;
      case "k3":
        return tf.sub(tf.sub(tf.exp(logRatio), 1), logRatio) as tf.Tensor2D;
      default:
        throw new Error(`klPerToken: unknown estimator "${String(estimator)}" (allowed: k1, k2, k3)`);
    }
  });
}

/**
 * 1.0 at the last real token of each row, 0.0 elsewhere: mask_t * (1 - mask_{t+1}), with mask_T = 0.
 * Right padding assumed (the course convention). A row with no real token gets no 1.
 */
export function lastTokenMask(mask: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, t] = mask.shape;
    // mask shifted left by one, with a column of zeros after the end: next[t] = mask[t+1]
    const next = tf.concat([tf.slice(mask, [0, 1], [b, t - 1]), tf.zeros([b, 1])], 1);
    return tf.mul(mask, tf.sub(1, next)) as tf.Tensor2D;
  });
}

/** Sum over the real tokens of each row: the per-sequence KL in nats (what `objective/kl` averages). */
export function sequenceKl(kl: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D {
  assertSameShape("sequenceKl(kl, mask)", kl, mask);
  return tf.tidy(() => tf.sum(tf.where(tf.greater(mask, 0), tf.mul(kl, mask), tf.zerosLike(kl)), 1) as tf.Tensor1D);
}

/**
 * The KL-shaped per-token reward of RLHF (Ziegler et al. 2019; InstructGPT; TRL):
 *   r_t = -beta * kl_t                      at every real token
 *       + score                             added at the last real token of the row (the EOS, or the last token
 *                                           when the response was cut at max_new_tokens)
 *   r_t = 0                                 at padded positions, whatever kl holds there.
 * `scores` is one reward-model score per row, already post-processed (see lib/reward/reward-model.ts postprocessScores).
 */
export function shapedRewards(kl: tf.Tensor2D, scores: tf.Tensor1D, mask: tf.Tensor2D, beta: number): tf.Tensor2D {
  assertSameShape("shapedRewards(kl, mask)", kl, mask);
  if (scores.shape[0] !== kl.shape[0]) {
    throw new Error(`shapedRewards: ${scores.shape[0]} scores for a batch of ${kl.shape[0]} rows`);
  }
  return tf.tidy(() => {
    const real = tf.greater(mask, 0);
    const klReal = tf.where(real, kl, tf.zerosLike(kl)); // garbage (even NaN) at padding never leaks
    const nonScore = tf.mul(-beta, klReal);
    const atLast = tf.mul(lastTokenMask(mask), tf.expandDims(scores, 1)); // [B,T] * [B,1]
    return tf.add(nonScore, atLast) as tf.Tensor2D;
  });
}

/** A KL coefficient beta that the loop reads with `.value` and feeds back with `.update(kl, nSteps)`. */
export interface KLController {
  readonly value: number;
  /** currentKl: mean per-sequence KL (nats) of the last rollout; nSteps: how many sequences it had. */
  update(currentKl: number, nSteps: number): void;
}

/** A constant beta (TRL's FixedKLController): update does nothing. */
export class FixedKLController implements KLController {
  constructor(public readonly value: number) {}
  update(_currentKl: number, _nSteps: number): void {}
}

/**
 * Ziegler et al. 2019 ("Fine-Tuning Language Models from Human Preferences", section 2.2), as in TRL's legacy
 * AdaptiveKLController: a proportional controller driving the per-sequence KL toward `target`.
 *   e = clip(KL / target - 1, -0.2, 0.2);   beta <- beta * (1 + e * nSteps / horizon)
 * nSteps is the number of sequences since the last update (TRL passes the rollout batch size), so `horizon` is in
 * sequences: a persistent error of 20% changes beta by a factor of about e^0.2 every `horizon` sequences.
 */
export class AdaptiveKLController implements KLController {
  private coef: number;
  constructor(init: number, public readonly target: number, public readonly horizon: number) {
    if (!(target > 0)) throw new Error(`AdaptiveKLController: target must be > 0, got ${target}`);
    if (!(horizon > 0)) throw new Error(`AdaptiveKLController: horizon must be > 0, got ${horizon}`);
    this.coef = init;
  }
  get value(): number {
    return this.coef;
  }
  update(currentKl: number, nSteps: number): void {
    const error = Math.min(Math.max(currentKl / this.target - 1, -0.2), 0.2);
    this.coef *= 1 + (error * nSteps) / this.horizon;
  }
}

/** The controller that config `ppo.kl` asks for. */
export function klControllerFromConfig(kl: { coef: number; adaptive: boolean; target: number; horizon: number }): KLController {
  return kl.adaptive ? new AdaptiveKLController(kl.coef, kl.target, kl.horizon) : new FixedKLController(kl.coef);
}
