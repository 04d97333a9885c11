// Critic-free advantages: from the rewards of the other responses instead of a learned value function.
//
//   rewards [prompts, k]: row p holds the rewards of the k responses sampled for prompt p (config ppo.group_size)
//
//   RLOO          A_i = r_i - mean_{j != i} r_j                   leave-one-out baseline, unbiased; one per response
//                 (Kool et al. 2019, "Buy 4 REINFORCE Samples, Get a Baseline for Free!";
//                  Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style Optimization for RLHF")
//   GRPO          A_i = (r_i - mean_j r_j) / (std_j r_j + eps)    group-normalised, std with Bessel's n - 1 as TRL; one
//                 (Shao et al. 2024, "DeepSeekMath", section 4.1) per response. ppo.scale_rewards: the group's std,
//                                                                 the batch's, or none (Liu et al. 2025, Dr. GRPO)
//   REINFORCE++   G_t = score - beta * sum_{s >= t} kl_s          a return per TOKEN: the KL still to come sits in the
//                 A_t = (G_t - mean G) / (std G + eps)            reward, the score at the last token (gamma 1); whitened
//                 (Hu 2025, "REINFORCE++";                        over every real token of the batch, no per-prompt
//                  OpenRLHF's advantage_estimator reinforce)      baseline, so no groups needed
//
// The PPO loop (lib/rl/ppo-update.ts buildBuffer) puts a response's RLOO or GRPO advantage on every one of its real
// tokens; REINFORCE++'s already is one per token.
import * as tf from "@tensorflow/tfjs";
import type { ScaleRewards } from "../core/config";
import { shapedRewards } from "./kl";

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
 * scale (config ppo.scale_rewards, TRL's name) picks the divisor: "group" the group's std (Shao et al. 2024); "batch"
 * the std of every reward of the batch (n - 1 as well), one scale for all prompts; "none" no division at all, only
 * the group mean subtracted (Liu et al. 2025, Dr. GRPO: the per-group std weighs easy and hard prompts unequally).
 */
export function grpoAdvantages(rewards: tf.Tensor2D, eps: number, scale: ScaleRewards = "group"): tf.Tensor2D {
  const [, k] = checkGroups("grpoAdvantages", rewards, 2);
  if (!(eps > 0 && Number.isFinite(eps))) throw new Error(`grpoAdvantages: eps (ppo.advantage_eps) must be > 0, got ${eps}`);
  if (scale !== "group" && scale !== "batch" && scale !== "none") throw new Error(`grpoAdvantages: scale (ppo.scale_rewards) must be group | batch | none, got ${scale}`);
  return tf.tidy(() => {
    const mean = tf.mean(rewards, 1, true);
    const centred = tf.sub(rewards, mean);
    if (scale === "none") return centred as tf.Tensor2D;
    const std = scale === "group"
      ? tf.sqrt(tf.div(tf.sum(tf.square(centred), 1, true), k - 1))
      : tf.sqrt(tf.div(tf.sum(tf.square(tf.sub(rewards, tf.mean(rewards)))), rewards.size - 1));
    return tf.div(centred, tf.add(std, eps)) as tf.Tensor2D;
  });
}

/**
 * REINFORCE++ (Hu 2025; OpenRLHF's advantage_estimator "reinforce"): one advantage per TOKEN.
 *   r_t = -beta * kl_t  at every real token, + score at the last real token      (the shaped reward of PPO)
 *   G_t = sum_{s >= t} r_s = score - beta * sum_{s >= t} kl_s                       (return-to-go, gamma 1)
 *   A_t = (G_t - mean G) / (std G + eps)   mean and population std over ALL real tokens of the batch; the mean is not
 *                                          added back
 * Unlike RLOO and GRPO (one number per response, a baseline from the prompt's other samples) the KL inside the reward
 * makes each token's advantage its own: early tokens carry more of the KL still to come. And the baseline is the
 * batch, not the prompt's group, so it runs at ppo.group_size 1. scores [B], kl and mask [B,T]; 0 at padding.
 */
export function reinforcePlusPlusTokenAdvantages(scores: tf.Tensor1D, kl: tf.Tensor2D, mask: tf.Tensor2D, beta: number, eps = 1e-8): tf.Tensor2D {
  if (kl.rank !== 2 || mask.rank !== 2 || kl.shape[0] !== mask.shape[0] || kl.shape[1] !== mask.shape[1]) {
    throw new Error(`reinforcePlusPlusTokenAdvantages: kl [${kl.shape}] and mask [${mask.shape}] must be the same [B,T]`);
  }
  if (scores.rank !== 1 || scores.shape[0] !== kl.shape[0]) throw new Error(`reinforcePlusPlusTokenAdvantages: ${scores.shape} scores for ${kl.shape[0]} rows`);
  if (!(eps > 0 && Number.isFinite(eps))) throw new Error(`reinforcePlusPlusTokenAdvantages: eps (ppo.advantage_eps) must be > 0, got ${eps}`);
  if (!Number.isFinite(beta)) throw new Error(`reinforcePlusPlusTokenAdvantages: beta must be finite, got ${beta}`);
  return tf.tidy(() => {
    const real = tf.greater(mask, 0);
    const zero = tf.zerosLike(kl);
    const rewards = shapedRewards(kl, scores, mask, beta); // 0 at padding, whatever kl holds there
    const returns = tf.where(real, tf.cumsum(rewards, 1, false, true), zero); // reverse cumsum: the sum from t to the end
    const n = tf.maximum(tf.sum(mask), 1);
    const mean = tf.div(tf.sum(returns), n);
    const centred = tf.where(real, tf.sub(returns, mean), zero);
    const std = tf.sqrt(tf.div(tf.sum(tf.square(centred)), n)); // population, as OpenRLHF's whitening
    return tf.div(centred, tf.add(std, eps)) as tf.Tensor2D;
  });
}

/**
 * TRL's reward_std and frac_reward_zero_std, from the sequence rewards of one rollout in consecutive groups of k:
 * reward_std the mean over groups of the group's std (n - 1: what GRPO divides by), frac_reward_zero_std the share
 * of groups whose rewards are all equal (GRPO gives them advantage 0: those prompts teach nothing, and GRPO's
 * effective KL weight, beta times the group std, vanishes there). NaN for both when k = 1: a group of one has no std.
 */
export function rewardGroupStats(rewards: ArrayLike<number>, k: number): { reward_std: number; frac_reward_zero_std: number } {
  if (!(Number.isInteger(k) && k >= 1) || rewards.length % k !== 0 || rewards.length === 0) {
    throw new Error(`rewardGroupStats: ${rewards.length} rewards cannot be cut into groups of ${k}`);
  }
  if (k === 1) return { reward_std: NaN, frac_reward_zero_std: NaN };
  const groups = rewards.length / k;
  let stdSum = 0, zero = 0;
  for (let g = 0; g < groups; g++) {
    const xs = Array.from({ length: k }, (_, i) => rewards[g * k + i]);
    const m = xs.reduce((a, b) => a + b, 0) / k;
    stdSum += Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (k - 1));
    if (xs.every((x) => x === xs[0])) zero++;
  }
  return { reward_std: stdSum / groups, frac_reward_zero_std: zero / groups };
}
