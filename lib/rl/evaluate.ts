// Policy evaluation: held-out prompts sampled greedily-free at the training temperature, scored by the proxy and the
// gold, with the KL from the reference, distinct-n and length: the figures every method of the course is compared on.

import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../lm/model";
import { progress } from "../core/progress";
import { Rng } from "../core/rng";
import { disposeRollout, sampleRollout, scoreResponses } from "../lm/rollout";
import type { Tokenizer } from "../lm/tokenizer";
import { RewardFns } from "../reward/reward-fns";
import { mean } from "../core/stats";

/**
 * distinct-n (Li et al. 2016): distinct word n-grams / all word n-grams, over a set of texts (n-grams do not cross
 * texts). 1 = no n-gram repeats anywhere; a collapsed policy ("good good good ...") drives it toward 0. 0 when the
 * texts hold no n-gram at all.
 */
export function distinctN(texts: string[], n = 2): number {
  const seen = new Set<string>();
  let total = 0;
  for (const t of texts) {
    const w = t.trim().split(/\s+/).filter((x) => x.length > 0);
    for (let i = 0; i + n <= w.length; i++) {
      seen.add(w.slice(i, i + n).join(" "));
      total++;
    }
  }
  return total === 0 ? 0 : seen.size / total;
}

/** The held-out evaluation's columns (logged every ppo.eval_every iterations; step 0 = the SFT model). */
export const EVAL_METRICS = ["eval/gold", "eval/proxy", "eval/kl", "eval/distinct2", "eval/response_length", "eval/eos_rate"] as const;

export interface EvalOptions {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  /** The sampling seed: the same for the SFT model and the policy, so both answer the same draws. */
  seed: number;
  /** Prompts per sampling batch. */
  batch: number;
}

export interface EvalResult {
  gold: number; // mean gold score
  proxy: number; // mean raw reward-model score
  kl: number; // mean per-sequence KL(policy || reference) in nats (exact per token, summed over the sampled tokens)
  distinct2: number;
  length: number; // mean response tokens
  eosRate: number;
  prompts: string[];
  completions: string[];
  golds: number[];
  proxies: number[];
  kls: number[];
}

/**
 * Samples a completion per prompt from `model` and measures it. The KL is the exact KL between the two next-token
 * distributions at each sampled position, KL_t = sum_v pi(v|s_t) (log pi(v|s_t) - log ref(v|s_t)), summed over
 * the response: an unbiased estimate of the sequence KL with less variance than the k1 sample estimate, and never
 * negative. For the SFT model itself (model === ref) it is exactly 0.
 */
export function evaluatePolicy(model: GPT, ref: GPT, tok: Tokenizer, prompts: string[], reward: RewardFns, o: EvalOptions): EvalResult {
  const rng = new Rng(o.seed);
  const res: EvalResult = { gold: 0, proxy: 0, kl: 0, distinct2: 0, length: 0, eosRate: 0, prompts: prompts.slice(), completions: [], golds: [], proxies: [], kls: [] };
  const lengths: number[] = [];
  let eos = 0;
  const bar = progress("ppo: held-out evaluation (prompts)", prompts.length);
  for (let s = 0; s < prompts.length; s += o.batch) {
    bar.tick(Math.min(o.batch, prompts.length - s));
    const chunk = prompts.slice(s, s + o.batch);
    const r = sampleRollout(model, tok, chunk, { maxNewTokens: o.maxNewTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, rng });
    try {
      const kls = tf.tidy(() => {
        const p = scoreResponses(model, r, { temperature: o.temperature }).logits;
        const q = model === ref ? p : scoreResponses(ref, r, { temperature: o.temperature }).logits;
        const lp = tf.logSoftmax(p), lq = tf.logSoftmax(q);
        const klTok = tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, lq)), -1); // [B,T]
        return tf.sum(tf.mul(klTok, r.mask), 1).dataSync();
      });
      const proxyT = reward.proxy(r);
      res.proxies.push(...proxyT.dataSync());
      proxyT.dispose();
      res.golds.push(...reward.gold(chunk, r.completions));
      res.kls.push(...Array.from(kls, (k) => Math.max(0, k))); // float round-off can give -1e-7
      res.completions.push(...r.completions);
      lengths.push(...r.lengths);
      eos += r.eos.filter(Boolean).length;
    } finally {
      disposeRollout(r);
    }
  }
  bar.done();
  res.gold = mean(res.golds);
  res.proxy = mean(res.proxies);
  res.kl = mean(res.kls);
  res.distinct2 = distinctN(res.completions, 2);
  res.length = mean(lengths);
  res.eosRate = eos / prompts.length;
  return res;
}

/** The eval metrics as a metrics-row fragment. */
export function evalRow(e: EvalResult): Record<(typeof EVAL_METRICS)[number], number> {
  return { "eval/gold": e.gold, "eval/proxy": e.proxy, "eval/kl": e.kl, "eval/distinct2": e.distinct2, "eval/response_length": e.length, "eval/eos_rate": e.eosRate };
}

/** The held-out figures of the SFT model and of a trained policy, as every stage's summary records them. */
export interface EvalSummary {
  gold_sft: number;
  gold_policy: number;
  proxy_sft: number;
  proxy_policy: number;
  kl: number;
  distinct2_sft: number;
  distinct2_policy: number;
  length_sft: number;
  length_policy: number;
  eos_rate_sft: number;
  eos_rate_policy: number;
}

export function evalSummary(sftEval: EvalResult, policyEval: EvalResult): EvalSummary {
  return {
    gold_sft: sftEval.gold, gold_policy: policyEval.gold, proxy_sft: sftEval.proxy, proxy_policy: policyEval.proxy, kl: policyEval.kl,
    distinct2_sft: sftEval.distinct2, distinct2_policy: policyEval.distinct2, length_sft: sftEval.length, length_policy: policyEval.length,
    eos_rate_sft: sftEval.eosRate, eos_rate_policy: policyEval.eosRate,
  };
}
