// Best-of-n (Stiennon et al. 2020; Gao et al. 2022): draw n completions of a prompt from the policy and keep the one
// the reward model scores highest. No training at all, and its KL from the policy has a known upper bound,
// bestOfNKl(n) = log n - (n - 1)/n, reached only when no two of the n completions repeat (Beirami et al. 2024); it is
// the reference line of the over-optimisation frontier: how much gold a distance d = sqrt(KL) can buy when the proxy
// alone chooses. Each point is placed at the bound's d, so where the policy repeats itself it sits to the right of
// its true distance.
//
// One pass samples max(ns) completions per prompt; best-of-n for each n uses the first n of them (nested sets, so
// the proxy of the pick never falls as n grows, and every n sees the same samples).
import * as tf from "@tensorflow/tfjs";
import { bestOfNKl } from "./gao";
import type { GPT } from "../lm/model";
import { distinctN } from "../rl/evaluate";
import { type RewardFns } from "../reward/reward-fns";
import { Rng } from "../core/rng";
import { disposeRollout, sampleRollout } from "../lm/rollout";
import type { Tokenizer } from "../lm/tokenizer";

export interface BestOfNOptions {
  /** The n to evaluate, e.g. [1, 2, 4, 8, 16, 32, 64]. */
  ns: number[];
  maxNewTokens: number;
  temperature: number;
  seed: number;
  /** Rows per sampling call (prompts x max n are drawn in chunks of about this many). Default 1,024. */
  rows?: number;
}

export interface BestOfNPoint {
  n: number;
  kl: number; // bestOfNKl(n), nats: an upper bound on the pick's KL from the policy
  d: number; // sqrt(kl)
  gold: number; // mean gold of the picks over the prompts
  proxy: number; // mean proxy (raw reward-model score) of the picks
  length: number; // mean response tokens of the picks (EOS included)
  distinct2: number; // distinct-2 over the picks
  /** the picked completion of each prompt, and its gold, in prompt order */
  picks: string[];
  golds: number[];
}

/** Best-of-n on the prompts for every n of opts.ns (see the header). */
export function bestOfN(policy: GPT, tok: Tokenizer, prompts: string[], reward: RewardFns, opts: BestOfNOptions): BestOfNPoint[] {
  if (opts.ns.length === 0 || prompts.length === 0) throw new Error("bestOfN: need at least one n and one prompt");
  const nMax = Math.max(...opts.ns);
  opts.ns.forEach((n) => bestOfNKl(n)); // validates each n
  const perCall = Math.max(1, Math.floor((opts.rows ?? 1024) / nMax));
  const rng = new Rng(opts.seed);
  const proxy: number[][] = [];
  const gold: number[][] = [];
  const texts: string[][] = [];
  const lengths: number[][] = [];
  for (let s = 0; s < prompts.length; s += perCall) {
    const chunk = prompts.slice(s, s + perCall);
    const rows = chunk.flatMap((p) => Array.from({ length: nMax }, () => p));
    const r = sampleRollout(policy, tok, rows, { maxNewTokens: opts.maxNewTokens, temperature: opts.temperature, topK: 0, topP: 1, rng });
    try {
      const px = tf.tidy(() => Array.from(reward.proxy(r).dataSync()));
      const gd = reward.gold(rows, r.completions);
      chunk.forEach((_, i) => {
        proxy.push(px.slice(i * nMax, (i + 1) * nMax));
        gold.push(gd.slice(i * nMax, (i + 1) * nMax));
        texts.push(r.completions.slice(i * nMax, (i + 1) * nMax));
        lengths.push(r.lengths.slice(i * nMax, (i + 1) * nMax));
      });
    } finally {
      disposeRollout(r);
    }
  }
  return opts.ns.map((n) => {
    let g = 0, p = 0, len = 0;
    const picks: string[] = [], golds: number[] = [];
    proxy.forEach((row, i) => {
      let best = 0;
      for (let j = 1; j < n; j++) if (row[j] > row[best]) best = j;
      g += gold[i][best];
      p += row[best];
      len += lengths[i][best];
      picks.push(texts[i][best]);
      golds.push(gold[i][best]);
    });
    const kl = bestOfNKl(n), m = prompts.length;
    return { n, kl, d: Math.sqrt(kl), gold: g / m, proxy: p / m, length: len / m, distinct2: distinctN(picks, 2), picks, golds };
  });
}

/**
 * The exact best-of-n distribution of a discrete policy with distinct rewards: outcome k is picked when it is the
 * best of the n draws, P_n(k) = F(k)^n - F(k^-)^n, where F(k) = pi(reward <= r_k) and F(k^-) = pi(reward < r_k).
 * Its KL from pi is at most log n - (n - 1)/n, reached as the outcomes become many and small (Beirami et al. 2024).
 */
export function bestOfNDistribution(probs: number[], rewards: number[], n: number): number[] {
  if (probs.length !== rewards.length) throw new Error(`bestOfNDistribution: ${probs.length} probabilities but ${rewards.length} rewards`);
  if (new Set(rewards).size !== rewards.length) throw new Error("bestOfNDistribution: the rewards must be distinct (a tie needs a tie-break rule)");
  const order = rewards.map((_, i) => i).sort((a, b) => rewards[a] - rewards[b]);
  const out = new Array<number>(probs.length).fill(0);
  let below = 0;
  for (const k of order) {
    out[k] = (below + probs[k]) ** n - below ** n;
    below += probs[k];
  }
  return out;
}

/** KL(p || q) in nats for two discrete distributions (terms with p = 0 contribute 0). */
export function discreteKl(p: number[], q: number[]): number {
  return p.reduce((s, pk, k) => (pk > 0 ? s + pk * Math.log(pk / q[k]) : s), 0);
}
