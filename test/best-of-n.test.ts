// lib/beyond/best-of-n.ts on a tiny random model with a cheap reward: the picks are the highest-proxy draw among the
// first n of one pass of samples (so n = 1 is plain sampling and the proxy never falls as n grows), and every point
// sits at the upper bound d = sqrt(log n - (n - 1)/n) of its distance.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { bestOfN, bestOfNDistribution, discreteKl } from "../lib/beyond/best-of-n";
import { bestOfNKl } from "../lib/beyond/gao";
import { GPT } from "../lib/lm/model";
import { Rng } from "../lib/core/rng";
import { disposeRollout, sampleRollout } from "../lib/lm/rollout";
import type { RewardFns } from "../lib/reward/reward-fns";
import { modelCfg, PROMPTS, shareOfE, tok } from "./tiny-ppo";

before(async () => {
  await initBackend();
});

/** The share of "e" in the response, from the tokens (proxy) and from the text (gold): they agree here. */
const shareOfEReward = shareOfE();

describe("bestOfN", () => {
  it("proxy of the pick rises with n on the same samples; each point sits at the KL bound log n - (n-1)/n", () => {
    const m = new GPT(modelCfg, { seed: 5 });
    const before = tf.memory().numTensors;
    const pts = bestOfN(m, tok, PROMPTS, shareOfEReward, { ns: [1, 2, 4, 8, 16], maxNewTokens: 6, temperature: 1, seed: 3, rows: 40 });
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    assert.deepEqual(pts.map((p) => p.n), [1, 2, 4, 8, 16]);
    // log n - (n - 1)/n by hand: 0, ln 2 - 1/2, ln 4 - 3/4, ln 8 - 7/8, ln 16 - 15/16
    const kl = [0, 0.1931471806, 0.6362943611, 1.2044415417, 1.8350887222];
    pts.forEach((p, i) => {
      assert.ok(Math.abs(p.kl - kl[i]) < 1e-9 && Math.abs(p.d - Math.sqrt(kl[i])) < 1e-9, `n ${p.n}: kl ${p.kl}, d ${p.d}`);
      assert.ok(Number.isFinite(p.gold) && Number.isFinite(p.proxy));
    });
    for (let i = 1; i < pts.length; i++) assert.ok(pts[i].proxy >= pts[i - 1].proxy - 1e-7, `proxy fell from n=${pts[i - 1].n} to n=${pts[i].n}`);
    assert.ok(pts[pts.length - 1].proxy > pts[0].proxy, "choosing among 16 beats one draw");
    // here the proxy is the gold (both count the e's), so the gold of the pick rises too
    assert.ok(pts[pts.length - 1].gold > pts[0].gold);
    const again = bestOfN(m, tok, PROMPTS, shareOfEReward, { ns: [1, 2, 4, 8, 16], maxNewTokens: 6, temperature: 1, seed: 3, rows: 40 });
    assert.deepEqual(again, pts, "seeded");
    assert.throws(() => bestOfN(m, tok, PROMPTS, shareOfEReward, { ns: [0], maxNewTokens: 6, temperature: 1, seed: 3 }), /integer >= 1/);
    m.dispose();
  });

  it("each pick is the first highest-proxy draw among the first n of one pass; n = 1 is the first draw", () => {
    // a proxy without ties (the mean token id of the response), so a pick from the wrong draws shows
    const meanId: RewardFns = {
      proxy: (b) => tf.tidy(() => tf.div(tf.sum(tf.mul(tf.cast(b.responses, "float32"), b.mask), 1), tf.maximum(tf.sum(b.mask, 1), 1)) as tf.Tensor1D),
      gold: (_p, completions) => completions.map((c) => c.length),
    };
    const m = new GPT(modelCfg, { seed: 5 });
    const pts = bestOfN(m, tok, PROMPTS, meanId, { ns: [1, 2, 4, 8, 16], maxNewTokens: 6, temperature: 1, seed: 3, rows: 40 });
    // the same draws made here: 16 per prompt, 2 prompts a call (rows 40 / 16), from one seeded stream
    const rng = new Rng(3), texts: string[][] = [], proxies: number[][] = [];
    for (let s = 0; s < PROMPTS.length; s += 2) {
      const chunk = PROMPTS.slice(s, s + 2);
      const r = sampleRollout(m, tok, chunk.flatMap((p) => Array(16).fill(p)), { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1, rng });
      const px = tf.tidy(() => Array.from(meanId.proxy(r).dataSync()));
      chunk.forEach((_, i) => {
        texts.push(r.completions.slice(16 * i, 16 * (i + 1)));
        proxies.push(px.slice(16 * i, 16 * (i + 1)));
      });
      disposeRollout(r);
    }
    for (const p of pts) {
      const want = proxies.map((row, i) => texts[i][row.slice(0, p.n).indexOf(Math.max(...row.slice(0, p.n)))]);
      assert.deepEqual(p.picks, want, `n ${p.n}: the picks`);
      assert.ok(Math.abs(p.proxy - proxies.reduce((a, row) => a + Math.max(...row.slice(0, p.n)), 0) / PROMPTS.length) < 1e-6, `n ${p.n}: the mean proxy of the picks`);
    }
    assert.deepEqual(pts[0].picks, texts.map((t) => t[0]), "n = 1 is the first draw of each prompt: plain sampling");
    assert.ok(new Set(pts.map((p) => p.picks.join("|"))).size > 2, "the picks change with n (else this test could not tell)");
    m.dispose();
  });
});

it("bestOfNDistribution: sums to 1, matches a brute-force enumeration, and its KL stays under log n - (n-1)/n", () => {
  const probs = [0.5, 0.2, 0.3], rewards = [0.1, -1, 2];
  for (const n of [1, 2, 3]) {
    // every ordered n-tuple of draws, its probability, and the best outcome in it
    const brute = [0, 0, 0];
    const walk = (picked: number[]) => {
      if (picked.length === n) {
        const best = picked.reduce((a, b) => (rewards[b] > rewards[a] ? b : a));
        brute[best] += picked.reduce((p, k) => p * probs[k], 1);
        return;
      }
      for (let k = 0; k < 3; k++) walk([...picked, k]);
    };
    walk([]);
    const exact = bestOfNDistribution(probs, rewards, n);
    exact.forEach((p, k) => assert.ok(Math.abs(p - brute[k]) < 1e-12, `n ${n}, outcome ${k}: ${p} vs ${brute[k]}`));
    assert.ok(Math.abs(exact.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  }
  bestOfNDistribution(probs, rewards, 1).forEach((p, k) => assert.ok(Math.abs(p - probs[k]) < 1e-12)); // n = 1 is the policy
  // many small outcomes: the KL approaches the formula from below
  const K = 2000, uniform = Array(K).fill(1 / K), r = Array.from({ length: K }, (_, i) => i);
  for (const n of [2, 8, 64]) {
    const kl = discreteKl(bestOfNDistribution(uniform, r, n), uniform);
    assert.ok(kl <= bestOfNKl(n) + 1e-9 && kl > bestOfNKl(n) - 0.02, `n ${n}: ${kl} vs ${bestOfNKl(n)}`);
  }
  assert.throws(() => bestOfNDistribution([0.5, 0.5], [1, 1], 2), /distinct/);
});
