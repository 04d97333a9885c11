import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend";
import { loadConfig } from "../lib/config";
import {
  applyMissingEosPenalty,
  bradleyTerryLoss,
  clipScores,
  normalizeScores,
  pairwiseAccuracy,
  postprocessScores,
  scoreStats,
  squashScores,
} from "../lib/reward";

function assertClose(actual: ArrayLike<number>, expected: number[], tol = 1e-5): void {
  assert.equal(actual.length, expected.length, "length");
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `[${i}]: got ${actual[i]}, expected ${expected[i]} (tol ${tol})`);
  }
}
const num = (x: tf.Tensor): number => x.dataSync()[0];

before(async () => {
  await initBackend();
});

describe("Bradley-Terry loss", () => {
  it("mean of -log sigmoid(r_chosen - r_rejected) on numbers", () => {
    // margins 2, 0, -2: ln(1 + e^-2) = 0.1269280, ln 2 = 0.6931472, ln(1 + e^2) = 2.1269280
    const loss = bradleyTerryLoss(tf.tensor1d([2, 0, -1]), tf.tensor1d([0, 0, 1]));
    assertClose([num(loss)], [(0.126928 + 0.6931472 + 2.126928) / 3]);
  });

  it("is numerically stable for huge margins", () => {
    assertClose([num(bradleyTerryLoss(tf.tensor1d([-100]), tf.tensor1d([100])))], [200], 1e-3);
    assertClose([num(bradleyTerryLoss(tf.tensor1d([100]), tf.tensor1d([-100])))], [0], 1e-6);
  });

  it("gradient w.r.t. the chosen score is -(1 - sigmoid(margin)) / n", () => {
    const rejected = tf.tensor1d([0, 0, 1]);
    const g = tf.grad((c: tf.Tensor) => bradleyTerryLoss(c as tf.Tensor1D, rejected))(tf.tensor1d([2, 0, -1]));
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    assertClose(g.dataSync(), [2, 0, -2].map((m) => -(1 - sig(m)) / 3));
  });

  it("rejects mismatched lengths", () => {
    assert.throws(() => bradleyTerryLoss(tf.tensor1d([1, 2]), tf.tensor1d([1])), /lengths differ, 2 vs 1/);
  });

  it("pairwise accuracy counts a tie as half", () => {
    assertClose([num(pairwiseAccuracy(tf.tensor1d([1, 2, 3, 4]), tf.tensor1d([0, 3, 3, 1])))], [2.5 / 4]);
  });
});

describe("score post-processing (config ppo.reward)", () => {
  it("scoreStats: mean and population std", () => {
    const s = scoreStats([1, 2, 3, 4]);
    assertClose([s.mean, s.std], [2.5, Math.sqrt(1.25)], 1e-12);
  });

  it("normalize, squash 2 tanh(x/2), clip, missing-EOS penalty, each on numbers", () => {
    assertClose(normalizeScores(tf.tensor1d([3, -1, 1]), { mean: 1, std: 2 }).dataSync(), [1, -1, 0]);
    assertClose(squashScores(tf.tensor1d([0, 2, -10, 0.01])).dataSync(), [0, 2 * Math.tanh(1), 2 * Math.tanh(-5), 0.01]);
    assertClose(clipScores(tf.tensor1d([-3, 0.5, 2]), 1.5).dataSync(), [-1.5, 0.5, 1.5]);
    assertClose(applyMissingEosPenalty(tf.tensor1d([1, 1]), tf.tensor1d([1, 0]), -1).dataSync(), [1, 0]);
  });

  it("postprocessScores applies normalize -> penalty -> squash -> clip", () => {
    const opts = { normalize: true, squash: true, clip: 1.5, missing_eos_penalty: -1 };
    // normalised: (3-1)/2 = 1, (7-1)/2 = 3; penalty on the second (no EOS): 1, 2; squash: 2 tanh(0.5), 2 tanh(1);
    // clip 1.5: 0.9242343, 1.5
    const out = postprocessScores(tf.tensor1d([3, 7]), tf.tensor1d([1, 0]), opts, { mean: 1, std: 2 });
    assertClose(out.dataSync(), [2 * Math.tanh(0.5), 1.5]);
  });

  it("with every option off the scores pass through (as a new tensor)", () => {
    const scores = tf.tensor1d([3, -7]);
    const out = postprocessScores(scores, tf.tensor1d([0, 0]), { normalize: false, squash: false, clip: null, missing_eos_penalty: null });
    assert.deepEqual(Array.from(out.dataSync()), [3, -7]);
    assert.notEqual(out, scores);
  });

  it("accepts the typed ppo.reward section of the shipped configs", () => {
    for (const file of ["config/course.yaml", "config/smoke.yaml"]) {
      const opts = loadConfig(file).ppo.reward;
      const out = postprocessScores(tf.tensor1d([0.4, -0.2]), tf.tensor1d([1, 0]), opts, { mean: 0.1, std: 0.5 });
      assert.deepEqual(out.shape, [2]);
      assert.ok(Array.from(out.dataSync()).every(Number.isFinite));
    }
  });

  it("normalize without stats is an error that names the option", () => {
    const opts = { normalize: true, squash: false, clip: null, missing_eos_penalty: null };
    assert.throws(() => postprocessScores(tf.tensor1d([1]), tf.tensor1d([1]), opts), /ppo.reward.normalize/);
  });
});
