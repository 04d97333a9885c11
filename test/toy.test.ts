// lib/rl/toy: the closed forms notebook 05 shows, checked by hand on small numbers and against tf.grad of the exact sums.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { Rng } from "../lib/core/rng";
import {
  categoricalKl, klEstimatorMeans, klOptimalPolicy, klRegularisedObjective, softmaxOf, twoStepKlGradients, twoStepObjective,
  twoStepProbs, twoStepSequenceKl, twoStepStationaryPolicies, type TwoStep,
} from "../lib/rl/toy";
import { assertClose } from "./helpers";

before(async () => {
  await initBackend();
});

const flat = (x: TwoStep) => [...x.first, ...x.next.flat()];

describe("the bandit's closed form", () => {
  it("pi_ref = (1/2, 1/2), r = (0, log 3), beta = 1: pi* = (1/4, 3/4), Z = 2, J(pi*) = log 2 (by hand)", () => {
    const { pi, logZ } = klOptimalPolicy([0.5, 0.5], [0, Math.log(3)], 1);
    assertClose(pi, [0.25, 0.75], 1e-12);
    assert.ok(Math.abs(logZ - Math.log(2)) < 1e-12);
    // J = (3/4) log 3 - [(1/4) log(1/2) + (3/4) log(3/2)] = log 2
    assert.ok(Math.abs(klRegularisedObjective(pi, [0.5, 0.5], [0, Math.log(3)], 1) - Math.log(2)) < 1e-12);
  });

  it("J(pi) = beta log Z - beta KL(pi || pi*) for random pi, so no random pi beats pi*", () => {
    const rng = new Rng(5);
    const ref = softmaxOf([0.3, -0.2, 0.5, 0.0]), r = [1.0, 0.2, -0.5, 0.6];
    for (const beta of [0.05, 0.3, 2]) {
      const { pi: star, logZ } = klOptimalPolicy(ref, r, beta);
      const jStar = klRegularisedObjective(star, ref, r, beta);
      assert.ok(Math.abs(jStar - beta * logZ) < 1e-9, `beta ${beta}: J(pi*) ${jStar} vs beta log Z ${beta * logZ}`);
      for (let k = 0; k < 200; k++) {
        const pi = softmaxOf(star.map((p) => Math.log(p) + rng.normal(0, k < 100 ? 0.01 : 1)));
        const j = klRegularisedObjective(pi, ref, r, beta);
        assert.ok(Math.abs(j - (beta * logZ - beta * categoricalKl(pi, star))) < 1e-9);
        assert.ok(j <= jStar + 1e-12, `beta ${beta}: a perturbation scored ${j} > J(pi*) ${jStar}`);
      }
    }
  });
});

// Three tokens; the policy's first step is the reference's (uniform), and so is its second step except after token 1,
// where it repeats token 1 with probability 0.9 (logits 0, log 18, 0). The second-step KL after token 1 is
// K = 0.9 log(0.9 / (1/3)) + 2 * 0.05 log(0.05 / (1/3)) = 0.9 log 2.7 + 0.1 log 0.15 = 0.7042146...
const uniform = [1 / 3, 1 / 3, 1 / 3];
const loopRef: TwoStep = { first: uniform, next: [uniform, uniform, uniform] };
const loopLogits: TwoStep = { first: [0, 0, 0], next: [[0, 0, 0], [0, Math.log(18), 0], [0, 0, 0]] };
const K = 0.9 * Math.log(2.7) + 0.1 * Math.log(0.15);

describe("the two-token toy", () => {
  it("by hand: the sequence KL is K/3; its first-token gradient is (-K/9, 2K/9, -K/9); the per-token loss's is 0", () => {
    assert.ok(Math.abs(K - 0.7042146) < 1e-6);
    assert.ok(Math.abs(twoStepSequenceKl(twoStepProbs(loopLogits), loopRef) - K / 3) < 1e-12);
    const g = twoStepKlGradients(loopLogits, loopRef);
    // first_j = pi(j) (c_j - E[c]) with c = (0, K, 0), pi = 1/3: (1/3)(K - K/3) = 2K/9 for the loop token, -K/9 for the others
    assertClose(g.sequence.first, [-K / 9, 2 * K / 9, -K / 9], 1e-12);
    assertClose(g.perTokenLoss.first, [0, 0, 0], 1e-12);
    assertClose(g.k1Reward.first, [-K / 9, 2 * K / 9, -K / 9], 1e-12);
    // the second step is the same for all three: (1/3) * grad KL(pi(.|1) || uniform) = (1/3) pi_j (d_j - E[d]) after token 1
    const d = [Math.log(0.15), Math.log(2.7), Math.log(0.15)], ed = 0.1 * d[0] + 0.9 * d[1];
    const after1 = [0.05 * (d[0] - ed), 0.9 * (d[1] - ed), 0.05 * (d[2] - ed)].map((x) => x / 3);
    for (const form of [g.sequence, g.perTokenLoss, g.k1Reward]) {
      assertClose(form.next[1], after1, 1e-12);
      assertClose([...form.next[0], ...form.next[2]], [0, 0, 0, 0, 0, 0], 1e-12);
    }
  });

  it("at random logits: sequence = tf.grad of the exact sum, perTokenLoss = tf.grad with the prefixes held, k1Reward = sequence", () => {
    const rng = new Rng(7);
    for (let k = 0; k < 5; k++) {
      const V = 2 + (k % 3);
      const logits: TwoStep = { first: Array.from({ length: V }, () => rng.normal()), next: Array.from({ length: V }, () => Array.from({ length: V }, () => rng.normal(0, 1.5))) };
      const ref = twoStepProbs({ first: Array.from({ length: V }, () => rng.normal()), next: Array.from({ length: V }, () => Array.from({ length: V }, () => rng.normal())) });
      const g = twoStepKlGradients(logits, ref);
      const [exact, perToken] = tf.tidy(() => {
        const refFirst = tf.tensor1d(ref.first), refNext = tf.tensor2d(ref.next);
        const kls = (f: tf.Tensor1D, n: tf.Tensor2D) => {
          const lp1 = tf.logSoftmax(f), lp2 = tf.logSoftmax(n);
          const kl1 = tf.sum(tf.mul(tf.exp(lp1), tf.sub(lp1, tf.log(refFirst))));
          const kl2 = tf.sum(tf.mul(tf.exp(lp2), tf.sub(lp2, tf.log(refNext))), 1); // [V]: KL_2 after each first token
          return { p1: tf.exp(lp1), kl1, kl2 };
        };
        const held = tf.softmax(tf.tensor1d(logits.first)); // the prefixes' probabilities, a constant
        const seqLoss = (f: tf.Tensor, n: tf.Tensor) => { const x = kls(f as tf.Tensor1D, n as tf.Tensor2D); return tf.add(x.kl1, tf.sum(tf.mul(x.p1, x.kl2))); };
        const tokLoss = (f: tf.Tensor, n: tf.Tensor) => { const x = kls(f as tf.Tensor1D, n as tf.Tensor2D); return tf.add(x.kl1, tf.sum(tf.mul(held, x.kl2))); };
        const args = [tf.tensor1d(logits.first), tf.tensor2d(logits.next)];
        return [tf.grads(seqLoss)(args), tf.grads(tokLoss)(args)].map((gs) => gs.flatMap((t) => Array.from(t.dataSync())));
      });
      assertClose(flat(g.sequence), exact, 1e-4);
      assertClose(flat(g.perTokenLoss), perToken, 1e-4);
      assertClose(flat(g.k1Reward), flat(g.sequence), 1e-12);
      // what the loss misses is all in the first token: pi(j) (KL_2(j) - E[KL_2])
      const pi = twoStepProbs(logits);
      const k2 = pi.next.map((row, a) => categoricalKl(row, ref.next[a]));
      const ek2 = pi.first.reduce((s, p, a) => s + p * k2[a], 0);
      assertClose(g.sequence.first.map((x, j) => x - g.perTokenLoss.first[j]), pi.first.map((p, j) => p * (k2[j] - ek2)), 1e-12);
    }
  });

  it("gradient descent on r - beta * KL settles on pi* with the sequence gradient and elsewhere with the per-token loss", () => {
    const beta = 0.5;
    const rewards = [[0, 0.2, 0], [0.3, 1, 0.1], [0.1, 0, 0.2]]; // "great great" (1, 1) pays most
    const { optimal, perTokenLoss } = twoStepStationaryPolicies(loopRef, rewards, beta);
    // the optimal one is the sequence bandit's pi* over the 9 sequences
    const star = klOptimalPolicy(uniform.flatMap((p, a) => loopRef.next[a].map((q) => p * q)), rewards.flat(), beta).pi;
    assertClose(optimal.first.flatMap((p, a) => optimal.next[a].map((q) => p * q)), star, 1e-12);
    const descend = (form: "sequence" | "perTokenLoss"): TwoStep => {
      const th: TwoStep = { first: [0, 0, 0], next: [[0, 0, 0], [0, 0, 0], [0, 0, 0]] };
      for (let step = 0; step < 4000; step++) {
        const pi = twoStepProbs(th);
        const g = twoStepKlGradients(th, loopRef)[form];
        // the reward's exact gradient: first_j = pi(j)(Q_j - E[Q]), next[a]_j = pi(a) pi(j|a)(r_aj - E[r_a.])
        const q = pi.next.map((row, a) => row.reduce((s, p, b) => s + p * rewards[a][b], 0));
        const eq = pi.first.reduce((s, p, a) => s + p * q[a], 0);
        th.first = th.first.map((z, j) => z + 0.5 * (pi.first[j] * (q[j] - eq) - beta * g.first[j]));
        th.next = th.next.map((row, a) => row.map((z, j) => z + 0.5 * (pi.first[a] * pi.next[a][j] * (rewards[a][j] - q[a]) - beta * g.next[a][j])));
      }
      return twoStepProbs(th);
    };
    assertClose(flat(descend("sequence")), flat(optimal), 1e-6);
    assertClose(flat(descend("perTokenLoss")), flat(perTokenLoss), 1e-6);
    // the per-token loss puts more on the first token that leads to the loop, and ends with a lower objective
    assert.ok(perTokenLoss.first[1] > optimal.first[1] + 0.01);
    assert.ok(twoStepObjective(perTokenLoss, loopRef, rewards, beta) < twoStepObjective(optimal, loopRef, rewards, beta) - 1e-4);
  });
});

describe("klEstimatorMeans", () => {
  it("pi = (1/2, 1/4, 1/4), ref = (1/4, 1/2, 1/4): E[k1] = E[k3] = log 2 / 4 = KL, E[k2] = 3 (log 2)^2 / 8 (by hand)", () => {
    const m = klEstimatorMeans([0.5, 0.25, 0.25], [0.25, 0.5, 0.25]);
    // log rho = (-log 2, log 2, 0); k1 = (log 2, -log 2, 0); k3 = (1/2 - 1 + log 2, 2 - 1 - log 2, 0); k2 = ((log 2)^2 / 2, same, 0)
    assert.ok(Math.abs(m.k1 - Math.LN2 / 4) < 1e-12);
    assert.ok(Math.abs(m.k3 - Math.LN2 / 4) < 1e-12);
    assert.ok(Math.abs(m.k2 - (3 * Math.LN2 ** 2) / 8) < 1e-12);
    assert.ok(Math.abs(m.k1 - categoricalKl([0.5, 0.25, 0.25], [0.25, 0.5, 0.25])) < 1e-12);
  });
});
