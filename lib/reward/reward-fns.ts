// The reward interface the RL loop calls: scores for a batch of responses (the proxy PPO optimises), gold scores to
// measure it, however the reward is computed (a reward model on the policy's tokens, a model with its own tokenizer, or
// a function of the text).

import * as tf from "@tensorflow/tfjs";
import { goldScores } from "./labeller";
import type { GPT } from "../lm/model";
import { rewardScores, type ScoredBatch } from "../lm/rollout";

/** Where the scores come from: the proxy the policy optimises, and the gold it never sees. */
export interface RewardFns {
  /** Raw proxy score per row (the reward model's scalar at the last real token), [B]. */
  proxy(batch: ScoredBatch): tf.Tensor1D;
  /** Gold score per row, from the texts. */
  gold(prompts: string[], completions: string[]): number[];
}

/**
 * The course's rewards: the reward model's score of prompt + response (lib/lm/rollout.ts rewardScores), and VADER's
 * compound score of the same text (what the simulated labeller judged when it made the preference pairs).
 */
export function rewardModelFns(rm: GPT): RewardFns {
  return {
    proxy: (batch) => rewardScores(rm, batch),
    gold: goldScores,
  };
}
