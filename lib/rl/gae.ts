// Generalised Advantage Estimation (Schulman et al. 2016, "High-Dimensional Continuous Control Using GAE").
//
//   delta_t = r_t + gamma * V_{t+1} - V_t                      (TD error)
//   A_t     = delta_t + gamma * lambda * A_{t+1}               (computed backwards over each row)
//   R_t     = A_t + V_t                                        (the value head's regression target, "returns")
//
// Over [batch, T] response tokens with RIGHT padding: the value after the last real token is 0 (the
// episode ends there), padded positions get A = R = 0, and nothing at a padded position (reward, value, even NaN)
// reaches a real one. Advantages are not a thing we differentiate through, so the recursion runs as a plain loop on
// the numbers: clearer than tensor gymnastics, and [64, 24] is nothing for a CPU.
import * as tf from "@tensorflow/tfjs";

interface Rows {
  b: number;
  t: number;
  r: Float32Array;
  v: Float32Array;
  m: Float32Array;
}

/** Reads the three tensors and checks shapes and the right-padded 0/1 mask; errors say which row is wrong. */
function readRows(fn: string, rewards: tf.Tensor2D, values: tf.Tensor2D, mask: tf.Tensor2D): Rows {
  for (const [name, x] of [["values", values], ["mask", mask]] as const) {
    if (x.shape[0] !== rewards.shape[0] || x.shape[1] !== rewards.shape[1]) {
      throw new Error(`${fn}: ${name} has shape [${x.shape}], rewards [${rewards.shape}]`);
    }
  }
  const [b, t] = rewards.shape;
  const m = mask.dataSync() as Float32Array;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < t; j++) {
      const x = m[i * t + j];
      if (x !== 0 && x !== 1) throw new Error(`${fn}: mask[${i}][${j}] = ${x}, expected 0 or 1`);
      if (j > 0 && x > m[i * t + j - 1]) {
        throw new Error(`${fn}: mask row ${i} is not right-padded (0 then 1 at position ${j})`);
      }
    }
  }
  return { b, t, r: rewards.dataSync() as Float32Array, v: values.dataSync() as Float32Array, m };
}

/** TD errors delta_t = r_t + gamma * V_{t+1} - V_t at real tokens (V after the last real token = 0); 0 at padding. */
export function tdErrors(rewards: tf.Tensor2D, values: tf.Tensor2D, mask: tf.Tensor2D, gamma: number): tf.Tensor2D {
  const { b, t, r, v, m } = readRows("tdErrors", rewards, values, mask);
  const delta = new Float32Array(b * t);
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < t; j++) {
      const k = i * t + j;
      if (m[k] === 0) continue; // padding: stays 0
      const nextValue = j + 1 < t && m[k + 1] === 1 ? v[k + 1] : 0; // 0 after the last real token
      delta[k] = r[k] + gamma * nextValue - v[k];
    }
  }
  return tf.tensor2d(delta, [b, t]);
}

/**
 * Advantages and returns by GAE, backwards over each row. gamma = lambda = 1 gives
 * A_t = (r_t + ... + r_last) - V_t (reward-to-go minus value); lambda = 0 gives A_t = delta_t (one-step TD).
 */
export function gae(
  rewards: tf.Tensor2D,
  values: tf.Tensor2D,
  mask: tf.Tensor2D,
  gamma: number,
  lambda: number,
): { advantages: tf.Tensor2D; returns: tf.Tensor2D } {
  const { b, t, r, v, m } = readRows("gae", rewards, values, mask);
  const adv = new Float32Array(b * t);
  const ret = new Float32Array(b * t);
  for (let i = 0; i < b; i++) {
    let nextValue = 0; // V_{t+1}: 0 after the last real token
    let nextAdvantage = 0; // A_{t+1}: 0 after the last real token
    for (let j = t - 1; j >= 0; j--) {
      const k = i * t + j;
      if (m[k] === 0) continue; // padding: A = R = 0, and next* stay 0 for the last real token
      const delta = r[k] + gamma * nextValue - v[k];
      const a = delta + gamma * lambda * nextAdvantage;
      adv[k] = a;
      ret[k] = a + v[k];
      nextValue = v[k];
      nextAdvantage = a;
    }
  }
  return { advantages: tf.tensor2d(adv, [b, t]), returns: tf.tensor2d(ret, [b, t]) };
}
