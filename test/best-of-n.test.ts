// lib/beyond/best-of-n.ts on a tiny random model with a cheap reward: the picks' proxy never falls as n grows (nested
// samples), n = 1 is plain sampling at KL 0, and every point sits at d = sqrt(log n - (n - 1)/n).
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { bestOfN, bestOfNDistribution, discreteKl } from "../lib/beyond/best-of-n";
import { bestOfNKl } from "../lib/beyond/gao";
import { GPT } from "../lib/lm/model";
import { modelCfg, PROMPTS, shareOfE, tok } from "./tiny-ppo";

before(async () => {
  await initBackend();
});

/** The share of "e" in the response, from the tokens (proxy) and from the text (gold): they agree here. */
const shareOfEReward = shareOfE();

describe("bestOfN", () => {
  it("proxy of the pick rises with n on the same samples; KL is exact; n = 1 is plain sampling", () => {
    const m = new GPT(modelCfg, { seed: 5 });
    const before = tf.memory().numTensors;
    const pts = bestOfN(m, tok, PROMPTS, shareOfEReward, { ns: [1, 2, 4, 8, 16], maxNewTokens: 6, temperature: 1, seed: 3, rows: 40 });
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    assert.deepEqual(pts.map((p) => p.n), [1, 2, 4, 8, 16]);
    pts.forEach((p) => {
      assert.ok(Math.abs(p.kl - bestOfNKl(p.n)) < 1e-12 && Math.abs(p.d - Math.sqrt(p.kl)) < 1e-12);
      assert.ok(Number.isFinite(p.gold) && Number.isFinite(p.proxy));
    });
    assert.equal(pts[0].kl, 0);
    for (let i = 1; i < pts.length; i++) assert.ok(pts[i].proxy >= pts[i - 1].proxy - 1e-7, `proxy fell from n=${pts[i - 1].n} to n=${pts[i].n}`);
    assert.ok(pts[pts.length - 1].proxy > pts[0].proxy, "choosing among 16 beats one draw");
    // here the proxy is the gold (both count the e's), so the gold of the pick rises too
    assert.ok(pts[pts.length - 1].gold > pts[0].gold);
    const again = bestOfN(m, tok, PROMPTS, shareOfEReward, { ns: [1, 2, 4, 8, 16], maxNewTokens: 6, temperature: 1, seed: 3, rows: 40 });
    assert.deepEqual(again, pts, "seeded");
    assert.throws(() => bestOfN(m, tok, PROMPTS, shareOfEReward, { ns: [0], maxNewTokens: 6, temperature: 1, seed: 3 }), /integer >= 1/);
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
