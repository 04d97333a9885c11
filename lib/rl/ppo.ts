// PPO's losses and the masked statistics they are built from (Schulman et al. 2017, "Proximal Policy Optimization
// Algorithms"; the RLHF details follow TRL and Huang et al. 2024, "The N+ Implementation Details of RLHF with PPO").
//
// Shapes: [batch, T] over response tokens, mask 1.0 for real tokens and 0.0 for padding; a masked
// mean is sum(x * mask) / sum(mask) over the whole batch (every real token weighs the same).
//
// Everything here can be called inside tf.variableGrads. Two rules make that work:
//  - no tf.where whose condition depends on a differentiated tensor ("gradient function not found for Greater"):
//    the clipping is tf.clipByValue and tf.maximum, whose gradients tfjs knows;
//  - the only tf.where conditions come from the mask, which is never differentiated. They replace whatever sits at
//    padded positions (garbage, -Infinity, NaN) by 0 *before* any arithmetic, so neither the values nor the gradients
//    of real tokens can be poisoned by padding (NaN * 0 is NaN, which a plain multiply by the mask would not stop).
// The diagnostics (clipfrac, approxKl) are computed from the same tensors but do not feed the loss, so the backward
// pass never visits their comparisons. Inside variableGrads, tf.keep() the diagnostics you want to read afterwards:
// variableGrads disposes every tensor made in its function except the returned loss.
import * as tf from "@tensorflow/tfjs";
import type { LossType } from "../core/config";

function assertSameShape(fn: string, named: [string, tf.Tensor][]): void {
  const [n0, t0] = named[0];
  for (const [n, t] of named.slice(1)) {
    if (t.shape.length !== t0.shape.length || t.shape.some((d, i) => d !== t0.shape[i])) {
      throw new Error(`${fn}: ${n} has shape [${t.shape}], ${n0} has [${t0.shape}]`);
    }
  }
}

/** x at real positions, exactly 0 at padded ones (whatever x holds there, NaN included). */
function zeroPadding<T extends tf.Tensor>(x: T, mask: tf.Tensor): T {
  return tf.where(tf.greater(mask, 0), x, tf.zerosLike(x)) as T;
}

/** sum(x * mask) / sum(mask): the mean over real tokens of the whole batch. */
export function maskedMean(x: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  assertSameShape("maskedMean", [["x", x], ["mask", mask]]);
  return tf.tidy(() => tf.div(tf.sum(tf.mul(zeroPadding(x, mask), mask)), tf.sum(mask)) as tf.Scalar);
}

/**
 * One loss from per-token terms x [B,T] (config ppo.loss_type, TRL's names), padding ignored (even NaN there):
 *   dapo     sum(x * mask) / sum(mask)                       every real token of the batch weighs the same (Yu et al.
 *                                                            2025, DAPO; TRL's PPO): maskedMean itself
 *   grpo     mean_b [ sum_t(x * mask)_b / sum_t(mask)_b ]    each response weighs the same, its tokens share it (Shao
 *                                                            et al. 2024, eq. 3): a long response's tokens count less
 *   dr_grpo  sum(x * mask) / (B * maxLen)                    a constant divisor (Liu et al. 2025, Dr. GRPO): no length
 *                                                            weighting at all; maxLen = ppo.max_new_tokens
 * A row with no real token counts as length 1 in grpo (TRL's clamp), so it adds 0 and no NaN.
 */
export function aggregateTokenLoss(x: tf.Tensor, mask: tf.Tensor, lossType: LossType, maxLen: number): tf.Scalar {
  assertSameShape("aggregateTokenLoss", [["x", x], ["mask", mask]]);
  if (lossType === "dapo") return maskedMean(x, mask); // the very same op as before the key existed: PPO's numbers unchanged
  if (x.rank !== 2) throw new Error(`aggregateTokenLoss: ${lossType} needs [responses, tokens] (rank 2), got shape [${x.shape}]`);
  return tf.tidy(() => {
    const sums = tf.sum(tf.mul(zeroPadding(x, mask), mask), 1); // [B]
    if (lossType === "grpo") return tf.mean(tf.div(sums, tf.maximum(tf.sum(mask, 1), 1))) as tf.Scalar;
    if (lossType === "dr_grpo") {
      if (!(Number.isInteger(maxLen) && maxLen >= 1)) throw new Error(`aggregateTokenLoss: dr_grpo needs maxLen (ppo.max_new_tokens) >= 1, got ${maxLen}`);
      return tf.div(tf.sum(sums), x.shape[0] * maxLen) as tf.Scalar;
    }
    throw new Error(`aggregateTokenLoss: unknown loss type "${lossType}"; expected grpo | dapo | dr_grpo`);
  });
}

/**
 * Variance over real tokens, around their masked mean. unbiased (default, as TRL's masked_var) multiplies by
 * n / (n - 1) with n = sum(mask) (Bessel's correction).
 */
export function maskedVar(x: tf.Tensor, mask: tf.Tensor, unbiased = true): tf.Scalar {
  return tf.tidy(() => {
    const centred = tf.sub(zeroPadding(x, mask), maskedMean(x, mask)); // padding zeroed first: no NaN anywhere
    const variance = maskedMean(tf.square(centred), mask);
    if (!unbiased) return variance;
    const n = tf.sum(mask);
    return tf.mul(variance, tf.div(n, tf.sub(n, 1))) as tf.Scalar;
  });
}

/**
 * Whitening over real tokens (used on advantages, config ppo.whiten_advantages):
 *   (x - mean) / sqrt(var + 1e-8), var unbiased; padded positions stay 0.
 * shiftMean = true (default) leaves the result with zero mean. shiftMean = false adds the mean back, which only
 * rescales (TRL uses that for rewards); doing it to advantages is a mistake: it leaves their sign pattern mostly
 * unchanged and defeats the point of whitening them.
 */
export function whiten<T extends tf.Tensor>(x: T, mask: tf.Tensor, shiftMean = true): T {
  return tf.tidy(() => {
    const mean = maskedMean(x, mask);
    const variance = maskedVar(x, mask);
    let w: tf.Tensor = tf.mul(tf.sub(zeroPadding(x, mask), mean), tf.rsqrt(tf.add(variance, 1e-8)));
    if (!shiftMean) w = tf.add(w, mean);
    return zeroPadding(w, mask) as T;
  });
}

/**
 * PPO's clipped surrogate, per token, averaged over real tokens:
 *   ratio_t = exp(logp_t - oldLogp_t)
 *   loss    = maskedMean( max(-A_t * ratio_t, -A_t * clip(ratio_t, 1 - eps, 1 + eps)) )
 *           = maskedMean( -min(ratio * A, clip(ratio) * A) )
 * d loss / d logp_t is -A_t * ratio_t / N where the unclipped term is the max, and 0 where the clipped one is
 * strictly larger (ratio outside [1 - eps, 1 + eps] on the side the advantage pushes it).
 * `aggregate` (config ppo.loss_type and ppo.max_new_tokens) replaces the maskedMean of the loss by
 * aggregateTokenLoss's grpo or dr_grpo; left out, or dapo, it is the maskedMean above. The diagnostics stay token means.
 *
 * clipfrac: the fraction of real tokens where the clipped term was strictly larger, i.e. where clipping zeroed the
 *   token's gradient (TRL's pg_clipfrac: pg_losses2 > pg_losses). A ratio outside the range on the harmless side
 *   (A > 0 and ratio < 1 - eps, or A < 0 and ratio > 1 + eps) still gets a gradient and is NOT counted, and a token
 *   with A = 0 is never counted. (CleanRL's |ratio - 1| > eps counts both of those.)
 * approxKl: maskedMean(0.5 * (logp - oldLogp)^2), TRL's approxkl (the k2 estimator, between old and new policy).
 * oldLogprobs and advantages are data: gradients flow to logprobs only.
 */
export function ppoPolicyLoss(
  logprobs: tf.Tensor2D,
  oldLogprobs: tf.Tensor2D,
  advantages: tf.Tensor2D,
  mask: tf.Tensor2D,
  clipEps: number,
  aggregate: { lossType: LossType; maxLen: number } = { lossType: "dapo", maxLen: 0 },
): { loss: tf.Scalar; clipfrac: tf.Scalar; approxKl: tf.Scalar } {
  assertSameShape("ppoPolicyLoss", [["logprobs", logprobs], ["oldLogprobs", oldLogprobs], ["advantages", advantages], ["mask", mask]]);
  return tf.tidy(() => {
    const logRatio = tf.sub(zeroPadding(logprobs, mask), zeroPadding(oldLogprobs, mask));
    const ratio = tf.exp(logRatio);
    const adv = zeroPadding(advantages, mask);
    const pgLosses = tf.mul(tf.neg(adv), ratio); // -A * ratio
    const pgLossesClipped = tf.mul(tf.neg(adv), tf.clipByValue(ratio, 1 - clipEps, 1 + clipEps));
    const loss = aggregateTokenLoss(tf.maximum(pgLosses, pgLossesClipped), mask, aggregate.lossType, aggregate.maxLen);
    const clipfrac = maskedMean(tf.cast(tf.greater(pgLossesClipped, pgLosses), "float32"), mask);
    const approxKl = maskedMean(tf.mul(0.5, tf.square(logRatio)), mask);
    return { loss, clipfrac, approxKl };
  });
}

/**
 * Value-head loss, regressing V on the GAE returns, with optional clipping (TRL cliprange_value, config ppo.value_clip):
 *   vClipped = oldValues + clip(values - oldValues, -clip, +clip)
 *   loss     = 0.5 * maskedMean( max((values - R)^2, (vClipped - R)^2) )     (clip = null: 0.5 * maskedMean((V - R)^2))
 * clipfrac: fraction of real tokens where the clipped error was strictly larger (TRL's vf_clipfrac), 0 when clip is null.
 */
export function valueLoss(
  values: tf.Tensor2D,
  oldValues: tf.Tensor2D,
  returns: tf.Tensor2D,
  mask: tf.Tensor2D,
  clip: number | null,
): { loss: tf.Scalar; clipfrac: tf.Scalar } {
  assertSameShape("valueLoss", [["values", values], ["oldValues", oldValues], ["returns", returns], ["mask", mask]]);
  return tf.tidy(() => {
    const v = zeroPadding(values, mask);
    const target = zeroPadding(returns, mask);
    const errors = tf.square(tf.sub(v, target));
    if (clip === null) return { loss: tf.mul(0.5, maskedMean(errors, mask)) as tf.Scalar, clipfrac: tf.scalar(0) };
    const old = zeroPadding(oldValues, mask);
    const vClipped = tf.add(old, tf.clipByValue(tf.sub(v, old), -clip, clip));
    const errorsClipped = tf.square(tf.sub(vClipped, target));
    const loss = tf.mul(0.5, maskedMean(tf.maximum(errors, errorsClipped), mask)) as tf.Scalar;
    const clipfrac = maskedMean(tf.cast(tf.greater(errorsClipped, errors), "float32"), mask);
    return { loss, clipfrac };
  });
}

/** Entropy of the softmax of logits [batch, T, vocab] at each position, [batch, T]: logsumexp(l) - sum(p * l). */
export function entropyFromLogits(logits: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const logZ = tf.logSumExp(logits, -1); // [B, T]
    const p = tf.softmax(logits, -1);
    return tf.sub(logZ, tf.sum(tf.mul(p, logits), -1)) as tf.Tensor2D;
  });
}

/**
 * Mean per-token entropy over real tokens (TRL's objective/entropy is the per-sequence sum; multiply by the mean
 * length for that). Pass the logits already divided by the sampling temperature.
 */
export function maskedEntropy(logits: tf.Tensor3D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => maskedMean(entropyFromLogits(logits), mask));
}

/**
 * Explained variance of the value head over real tokens: 1 - Var(R - V) / Var(R). 1 is perfect, 0 is no better than
 * predicting the mean, negative is worse than that. NaN when the returns are constant.
 */
export function explainedVariance(values: tf.Tensor2D, returns: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.sub(1, tf.div(maskedVar(tf.sub(returns, values), mask), maskedVar(returns, mask))) as tf.Scalar);
}
