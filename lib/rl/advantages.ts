// Critic-free advantages: one number per sampled response, from the rewards of the other responses instead of a
// learned value function. Each takes the sequence rewards (a score per response, KL already folded in where the
// method does that) and returns a baseline-corrected, possibly normalised, advantage of the same shape.
//
//   rewards [prompts, k]: row p holds the rewards of the k responses sampled for prompt p (config ppo.group_size)
//
//   RLOO          A_i = r_i - mean_{j != i} r_j                   leave-one-out baseline, unbiased
//                 (Kool et al. 2019, "Buy 4 REINFORCE Samples, Get a Baseline for Free!";
//                  Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style Optimization for RLHF")
//   GRPO          A_i = (r_i - mean_j r_j) / (std_j r_j + eps)     group-normalised, std with Bessel's n - 1 as TRL
//                 (Shao et al. 2024, "DeepSeekMath", section 4.1)
//   REINFORCE++   A = (r - mean_batch r) / (std_batch r + eps)    normalised over the whole batch, no groups needed
//                 (Hu 2025, "REINFORCE++"; OpenRLHF's advantage_estimator reinforce)
//
// The PPO loop (lib/rl/ppo-update.ts buildBuffer) puts each response's advantage on every one of its real tokens.
import * as tf from "@tensorflow/tfjs";

function checkGroups(fn: string, rewards: tf.Tensor, minK: number): [number, number] {
  if (rewards.rank !== 2) throw new Error(`${fn}: rewards must be [prompts, k] (rank 2), got shape [${rewards.shape}]`);
  const [n, k] = rewards.shape as [number, number];
  if (n < 1) throw new Error(`${fn}: rewards has no rows (shape [${rewards.shape}])`);
  if (k < minK) {
    throw new Error(`${fn}: each prompt needs at least ${minK} samples (ppo.group_size >= ${minK}), got k = ${k} (rewards shape [${rewards.shape}])`);
  }
  return [n, k];
}

/**
 * RLOO: r_i minus the mean of the OTHER k - 1 rewards of its prompt. The baseline does not depend on r_i, so the
 * estimator stays unbiased; a group's advantages sum to 0 (k r_i - sum over the group summed over i is 0). k >= 2.
 * Written as (k / (k - 1)) (r_i - mean_j r_j), the same number.
 */
export function rlooAdvantages(rewards: tf.Tensor2D): tf.Tensor2D {
  const [, k] = checkGroups("rlooAdvantages", rewards, 2);
  return tf.tidy(() => {
    const sum = tf.sum(rewards, 1, true); // [n,1]
    const others = tf.div(tf.sub(sum, rewards), k - 1); // mean over j != i
    return tf.sub(rewards, others) as tf.Tensor2D;
  });
}

/**
 * GRPO: (r - group mean) / (group std + eps), the std unbiased (n - 1) as torch.std and TRL's GRPOTrainer. A group
 * of identical rewards gives 0 / (0 + eps) = 0: such a prompt teaches nothing, and must not give NaN. k >= 2.
 */
export function grpoAdvantages(rewards: tf.Tensor2D, eps: number): tf.Tensor2D {
  const [, k] = checkGroups("grpoAdvantages", rewards, 2);
  if (!(eps > 0 && Number.isFinite(eps))) throw new Error(`grpoAdvantages: eps (ppo.advantage_eps) must be > 0, got ${eps}`);
  return tf.tidy(() => {
    const mean = tf.mean(rewards, 1, true);
    const centred = tf.sub(rewards, mean);
    const std = tf.sqrt(tf.div(tf.sum(tf.square(centred), 1, true), k - 1));
    return tf.div(centred, tf.add(std, eps)) as tf.Tensor2D;
  });
}

/**
 * REINFORCE++: (r - batch mean) / (batch std + eps) over EVERY reward of the batch, whatever its shape (groups, if
 * any, are ignored: the baseline is the batch mean, the scale the batch std, population form as OpenRLHF's
 * whitening). Needs no group of samples per prompt, so it also runs at ppo.group_size 1.
 */
export function reinforcePlusPlusAdvantages<T extends tf.Tensor1D | tf.Tensor2D>(rewards: T, eps = 1e-8): T {
  if (rewards.rank !== 1 && rewards.rank !== 2) throw new Error(`reinforcePlusPlusAdvantages: rewards must be rank 1 or 2, got shape [${rewards.shape}]`);
  if (rewards.size < 2) throw new Error(`reinforcePlusPlusAdvantages: a batch of ${rewards.size} reward(s) has no spread to normalise by; need at least 2`);
  if (!(eps > 0 && Number.isFinite(eps))) throw new Error(`reinforcePlusPlusAdvantages: eps (ppo.advantage_eps) must be > 0, got ${eps}`);
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(rewards);
    return tf.div(tf.sub(rewards, mean), tf.add(tf.sqrt(variance), eps)) as T;
  });
}
