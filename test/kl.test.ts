import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { Rng } from "../lib/core/rng";
import { loadConfig } from "../lib/core/config";
import {
  AdaptiveKLController,
  FixedKLController,
  klControllerFromConfig,
  klPerToken,
  lastTokenMask,
  sequenceKl,
  shapedRewards,
} from "../lib/rl/kl";
import { assertClose } from "./helpers";


before(async () => {
  await initBackend();
});

describe("klPerToken", () => {
  // logp - ref = d = [[0.5, -1], [0, -1]]; log r = ref - logp = -d
  const logp = () => tf.tensor2d([[-1, -2], [-0.5, -3]]);
  const ref = () => tf.tensor2d([[-1.5, -1], [-0.5, -2]]);

  it("k1 = logp - ref", () => {
    assertClose(klPerToken(logp(), ref(), "k1").dataSync(), [0.5, -1, 0, -1]);
  });
  it("k2 = 0.5 (logp - ref)^2", () => {
    assertClose(klPerToken(logp(), ref(), "k2").dataSync(), [0.125, 0.5, 0, 0.5]);
  });
  it("k3 = exp(ref - logp) - 1 - (ref - logp)", () => {
    // exp(-0.5) - 1 + 0.5 = 0.1065307; exp(1) - 1 - 1 = 0.7182818; 0 at equal log-probs
    assertClose(klPerToken(logp(), ref(), "k3").dataSync(), [0.1065307, 0.7182818, 0, 0.7182818]);
  });
  it("rejects an unknown estimator and mismatched shapes", () => {
    assert.throws(() => klPerToken(logp(), ref(), "k4" as "k1"), /unknown estimator "k4"/);
    assert.throws(() => klPerToken(logp(), tf.zeros([2, 3]) as tf.Tensor2D, "k1"), /shapes differ/);
  });

  it("k1 and k3 means agree with the exact KL of a categorical distribution (Monte-Carlo, seeded)", () => {
    const p = [0.5, 0.3, 0.2]; // policy
    const q = [0.2, 0.3, 0.5]; // reference
    const exact = p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]), 0); // 0.3 ln 2.5 = 0.2748872
    assertClose([exact], [0.2748872]);
    const n = 20000;
    const rng = new Rng(7); // seeded: the check is reproducible
    const lp: number[] = [];
    const lq: number[] = [];
    for (let s = 0; s < n; s++) {
      const x = rng.categorical(p); // x ~ p
      lp.push(Math.log(p[x]));
      lq.push(Math.log(q[x]));
    }
    const logpT = tf.tensor2d(lp, [1, n]);
    const refT = tf.tensor2d(lq, [1, n]);
    for (const est of ["k1", "k3"] as const) {
      // tolerance: 4 standard errors of the estimator's mean, from its exact variance under p
      const perX = p.map((_, i) => {
        const logR = Math.log(q[i] / p[i]);
        return est === "k1" ? -logR : Math.exp(logR) - 1 - logR;
      });
      const mean = p.reduce((s, pi, i) => s + pi * perX[i], 0);
      assertClose([mean], [exact], 1e-12); // both unbiased in exact expectation
      const variance = p.reduce((s, pi, i) => s + pi * (perX[i] - mean) ** 2, 0);
      const tol = 4 * Math.sqrt(variance / n);
      const estimate = tf.mean(klPerToken(logpT, refT, est)).dataSync()[0];
      assert.ok(Math.abs(estimate - exact) < tol, `${est}: ${estimate} vs exact ${exact} (tol ${tol})`);
    }
    // k1 is negative on tokens the reference likes more; k3 never is
    assert.ok(tf.min(klPerToken(logpT, refT, "k1")).dataSync()[0] < 0);
    assert.ok(tf.min(klPerToken(logpT, refT, "k3")).dataSync()[0] >= 0);
  });
});

describe("masks and the shaped reward", () => {
  const mask = () => tf.tensor2d([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]);

  it("lastTokenMask marks the last real token of each row (none for an empty row)", () => {
    const m = tf.tensor2d([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]]);
    assert.deepEqual(Array.from(lastTokenMask(m).dataSync()), [0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(lastTokenMask(tf.tensor2d([[1], [0]])).dataSync()), [1, 0]);
  });

  it("r_t = -beta * kl_t, plus the score at the last real token, 0 on padding (NaN there does not leak)", () => {
    const kl = tf.tensor2d([[0.1, 0.2, -0.1, 9, NaN], [0.3, 0, 0.1, 0.2, 0.5]]);
    const r = shapedRewards(kl, tf.tensor1d([2, -1]), mask(), 0.5);
    // row 0: -0.05, -0.1, 0.05 + 2; row 1: -0.15, 0, -0.05, -0.1, -0.25 - 1
    assertClose(r.dataSync(), [-0.05, -0.1, 2.05, 0, 0, -0.15, 0, -0.05, -0.1, -1.25]);
  });

  it("rejects a score count that does not match the batch", () => {
    assert.throws(() => shapedRewards(tf.zeros([2, 5]) as tf.Tensor2D, tf.tensor1d([1]), mask(), 0.1), /1 scores for a batch of 2/);
  });

  it("sequenceKl sums the real tokens of each row", () => {
    const kl = tf.tensor2d([[0.1, 0.2, -0.1, 9, NaN], [0.3, 0, 0.1, 0.2, 0.5]]);
    assertClose(sequenceKl(kl, mask()).dataSync(), [0.2, 1.1]);
  });
});

describe("KL controllers", () => {
  it("FixedKLController keeps its value", () => {
    const c = new FixedKLController(0.05);
    c.update(100, 64);
    assert.equal(c.value, 0.05);
  });

  it("AdaptiveKLController: beta *= 1 + clip(KL/target - 1, +-0.2) * nSteps / horizon", () => {
    const c = new AdaptiveKLController(0.1, 6, 10000);
    c.update(9, 64); // error 0.5 -> clipped to 0.2: x 1.00128
    assertClose([c.value], [0.100128], 1e-12);
    c.update(5.4, 64); // error -0.1: x 0.99936
    assertClose([c.value], [0.10006391808], 1e-12);
    c.update(0, 64); // error -1 -> clipped to -0.2: x 0.99872
    assertClose([c.value], [0.10006391808 * 0.99872], 1e-12);
    c.update(6, 64); // on target: unchanged
    assertClose([c.value], [0.10006391808 * 0.99872], 1e-12);
  });

  it("klControllerFromConfig picks by ppo.kl.adaptive", () => {
    assert.ok(klControllerFromConfig({ coef: 0.1, adaptive: true, target: 6, horizon: 10000 }) instanceof AdaptiveKLController);
    const fixed = klControllerFromConfig({ coef: 0.1, adaptive: false, target: 6, horizon: 10000 });
    assert.ok(fixed instanceof FixedKLController);
    assert.equal(fixed.value, 0.1);
  });

  it("accepts the typed ppo.kl section of the shipped configs", () => {
    for (const file of ["config/course.yaml", "config/smoke.yaml"]) {
      const kl = loadConfig(file).ppo.kl;
      const c = klControllerFromConfig(kl);
      assert.equal(c.value, kl.coef);
      assert.equal(c instanceof AdaptiveKLController, kl.adaptive);
    }
  });
});
