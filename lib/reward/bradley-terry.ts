// The Bradley-Terry preference loss and pairwise accuracy: pure functions of the two score vectors of a batch of pairs.

import * as tf from "@tensorflow/tfjs";
import { sigmoid } from "../core/stats";

export function assertSameLength(fn: string, a: tf.Tensor1D, b: tf.Tensor1D): void {
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
