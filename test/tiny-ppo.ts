// Shared by the tests that run PPO on tiny random models (test/rlhf.test.ts, test/bugs.test.ts): the char tokenizer,
// smoke.yaml's model size, a handful of prompts, and smoke.yaml's ppo section sized down.
import * as tf from "@tensorflow/tfjs";
import { loadConfig, type PpoConfig } from "../lib/core/config";
import type { ModelConfig } from "../lib/lm/model";
import type { RewardFns } from "../lib/reward/reward-fns";
import { Tokenizer } from "../lib/lm/tokenizer";

export const tok = new Tokenizer("char", []); // 259 ids: bytes + PAD, BOS, EOS
export const smoke = loadConfig("config/smoke.yaml");
/** smoke.yaml's model size, on the char tokenizer (a random model needs no trained BPE); dropout 0.1 */
export const modelCfg: ModelConfig = { ...smoke.model, vocab_size: tok.vocabSize };
export const PROMPTS = ["the food", "it was", "i like it", "a movie", "service", "the phone is", "we went", "not bad"];

/** smoke.yaml's ppo section with overrides: 8 prompts x 6 tokens, 2 epochs x 2 minibatches, the shared critic. */
export function tinyPpoCfg(over: Partial<PpoConfig> = {}): PpoConfig {
  return {
    ...smoke.ppo,
    rollout_batch: 8,
    max_new_tokens: 6,
    epochs: 2,
    minibatches: 2,
    lr: 1e-3, // a random tiny model: large enough steps that the policy visibly moves
    critic: "shared", // the tiny models here have no reward model to start a separate critic from
    reward: { ...smoke.ppo.reward, normalize: false, missing_eos_penalty: -1 }, // random models rarely stop: the penalty spreads their scores
    ...over,
  };
}

const E = "e".charCodeAt(0);

/**
 * A cheap reward for random models: the share of response tokens that are the letter "e" (the proxy from the tokens,
 * the gold from the text, so the two agree). `seen` gets every batch the proxy scores, before it is scored.
 */
export function shareOfE(seen?: (b: Parameters<RewardFns["proxy"]>[0]) => void): RewardFns {
  return {
    proxy: (b) => {
      seen?.(b);
      return tf.tidy(() => {
        const hit = tf.mul(tf.cast(tf.equal(b.responses, E), "float32"), b.mask);
        return tf.div(tf.sum(hit, 1), tf.maximum(tf.sum(b.mask, 1), 1)) as tf.Tensor1D;
      });
    },
    gold: (_p, completions) => completions.map((c) => (c.length ? [...c].filter((ch) => ch === "e").length / c.length : 0)),
  };
}
