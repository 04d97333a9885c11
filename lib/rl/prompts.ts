// The prompts and the sampling settings of the RL stages, read from the config: training prompts, and held-out prompts
// the evaluation uses for every method alike.

import type { Config } from "../core/config";
import { reviewPrompts } from "../reward/preferences";
import { Rng } from "../core/rng";
import { EvalOptions } from "./evaluate";

/** The held-out prompts of the evaluation: the first ppo.eval_prompts of the val split, in a seeded order. */
export function evalPrompts(cfg: Config): string[] {
  return reviewPrompts(cfg.ppo.eval_prompts, new Rng(cfg.seed).fork("ppo-eval-prompts"), cfg.sft.prompt_words_min, cfg.sft.prompt_words_max, "val");
}

/** Training prompts for every iteration (train split, seeded), drawn once up front. */
export function trainPrompts(cfg: Config): string[] {
  const n = cfg.ppo.iterations * cfg.ppo.rollout_batch;
  return reviewPrompts(n, new Rng(cfg.seed).fork("ppo-train-prompts"), cfg.sft.prompt_words_min, cfg.sft.prompt_words_max, "train");
}

/** The held-out evaluation's sampling: ppo's max_new_tokens, temperature, top-k, top-p and a seed of its own (PPO and DPO share it). */
export function evalOptions(cfg: Config): EvalOptions {
  const p = cfg.ppo;
  return { maxNewTokens: p.max_new_tokens, temperature: p.temperature, topK: p.top_k, topP: p.top_p, seed: new Rng(cfg.seed).fork("ppo-eval").seed, batch: Math.max(p.rollout_batch, 16) };
}
