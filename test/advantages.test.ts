// Critic-free advantages (lib/rl/advantages.ts) and the group reward statistics against hand-computed values, and which KL a per-token KL term in the
// loss actually pulls toward (the estimator choice of ppo.kl.loss_estimator), by exact expectation on a small
// categorical distribution.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { grpoAdvantages, reinforcePlusPlusTokenAdvantages, rewardGroupStats, rlooAdvantages } from "../lib/rl/advantages";
import { klPerToken } from "../lib/rl/kl";

before(async () => {
  await initBackend();
});

const close = (got: ArrayLike<number>, want: number[], tol = 1e-5) => {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < tol, `[${i}] ${got[i]} vs ${want[i]} (all: ${Array.from(got)})`);
};

describe("rlooAdvantages", () => {
  it("r_i minus the mean of the others, by hand", () => {
    // group [1, 2, 6]: others' means 4, 3.5, 1.5 -> -3, -1.5, 4.5; group [0, 4]: 0 - 4, 4 - 0
    const a = tf.tidy(() => rlooAdvantages(tf.tensor2d([[1, 2, 6], [0, 4, 4]])));
    close(a.dataSync(), [-3, -1.5, 4.5, -4, 2, 2]);
    a.dispose();
  });
  it("a group's advantages sum to 0; identical rewards give 0", () => {
    const a = tf.tidy(() => rlooAdvantages(tf.tensor2d([[0.3, -1.2, 2.5, 0.7], [5, 5, 5, 5]])));
    const v = a.dataSync();
    assert.ok(Math.abs(v[0] + v[1] + v[2] + v[3]) < 1e-5);
    close(v.slice(4), [0, 0, 0, 0]);
    a.dispose();
  });
  it("refuses k < 2 and a rank-1 input, naming the key", () => {
    const one = tf.tensor2d([[1], [2]]);
    assert.throws(() => rlooAdvantages(one), /at least 2 samples \(ppo\.group_size >= 2\), got k = 1/);
    const flat = tf.tensor1d([1, 2]);
    assert.throws(() => rlooAdvantages(flat as unknown as tf.Tensor2D), /\[prompts, k\]/);
    tf.dispose([one, flat]);
  });
});

describe("grpoAdvantages", () => {
  it("(r - mean) / (unbiased std + eps), by hand", () => {
    // [1, 2, 6]: mean 3, deviations -2 -1 3, unbiased var (4 + 1 + 9) / 2 = 7
    const a = tf.tidy(() => grpoAdvantages(tf.tensor2d([[1, 2, 6], [0, 1, 2]]), 1e-4));
    const s7 = Math.sqrt(7) + 1e-4;
    close(a.dataSync(), [-2 / s7, -1 / s7, 3 / s7, -1 / (1 + 1e-4), 0, 1 / (1 + 1e-4)]);
    a.dispose();
  });
  it("identical rewards give exactly 0, not NaN", () => {
    const a = tf.tidy(() => grpoAdvantages(tf.tensor2d([[0.5, 0.5, 0.5, 0.5]]), 1e-4));
    assert.deepEqual(Array.from(a.dataSync()), [0, 0, 0, 0]);
    a.dispose();
  });
  it("scale_rewards batch: the group-centred rewards over the std of the whole batch (n - 1), by hand", () => {
    // all six [1, 2, 6, 0, 1, 2]: mean 2, deviations -1 0 4 -2 -1 0, unbiased var 22 / 5 = 4.4; centred by group as above
    const a = tf.tidy(() => grpoAdvantages(tf.tensor2d([[1, 2, 6], [0, 1, 2]]), 1e-4, "batch"));
    const s = Math.sqrt(4.4) + 1e-4;
    close(a.dataSync(), [-2 / s, -1 / s, 3 / s, -1 / s, 0, 1 / s]);
    a.dispose();
  });
  it("scale_rewards none (Dr. GRPO): only the group mean subtracted", () => {
    const a = tf.tidy(() => grpoAdvantages(tf.tensor2d([[1, 2, 6], [0, 1, 2]]), 1e-4, "none"));
    close(a.dataSync(), [-2, -1, 3, -1, 0, 1]);
    a.dispose();
  });
  it("refuses k < 2 and eps <= 0", () => {
    const one = tf.tensor2d([[1], [2]]);
    const two = tf.tensor2d([[1, 2]]);
    assert.throws(() => grpoAdvantages(one, 1e-4), /ppo\.group_size >= 2/);
    assert.throws(() => grpoAdvantages(two, 0), /eps \(ppo\.advantage_eps\) must be > 0/);
    tf.dispose([one, two]);
  });
});

describe("reinforcePlusPlusTokenAdvantages", () => {
  // 2 responses x 3 tokens, the second of length 2 (its third column is padding holding garbage), beta 0.5:
  //   rewards r_t = -0.5 kl_t, + score at the last real token
  //     row 0: kl 0.2 0.4 0.6, score 1  ->  r = -0.1, -0.2, -0.3 + 1 = 0.7   ->  G = 0.4, 0.5, 0.7
  //     row 1: kl 0.8 0.2,     score 2  ->  r = -0.4, -0.1 + 2 = 1.9         ->  G = 1.5, 1.9
  //   the five real returns: mean 5.0 / 5 = 1.0, deviations -0.6 -0.5 -0.3 0.5 0.9, squares sum 1.76,
  //   population var 1.76 / 5 = 0.352, std 0.593296;  A = deviation / (std + 1e-8)
  const want = [-1.0112998, -0.8427498, -0.5056499, 0.8427498, 1.5169497, 0];
  const inputs = () => ({
    scores: tf.tensor1d([1, 2]),
    kl: tf.tensor2d([[0.2, 0.4, 0.6], [0.8, 0.2, NaN]]),
    mask: tf.tensor2d([[1, 1, 1], [1, 1, 0]]),
  });
  it("per-token return-to-go with the KL in the reward, whitened over every real token, by hand", () => {
    const { scores, kl, mask } = inputs();
    const a = reinforcePlusPlusTokenAdvantages(scores, kl, mask, 0.5);
    assert.deepEqual(a.shape, [2, 3]);
    close(a.dataSync(), want);
    assert.equal(a.dataSync()[5], 0, "padding is exactly 0 (NaN there does not leak)");
    tf.dispose([a, scores, kl, mask]);
  });
  it("beta 0: every token of a response carries its score, whitened over the tokens (a long response weighs more)", () => {
    // G = 1 1 1 2 2: mean 1.4, deviations -0.4 x3, 0.6 x2, population var (3 x 0.16 + 2 x 0.36) / 5 = 0.24
    const { scores, kl, mask } = inputs();
    const a = reinforcePlusPlusTokenAdvantages(scores, kl, mask, 0, 1e-4);
    const s = Math.sqrt(0.24) + 1e-4;
    close(a.dataSync(), [-0.4 / s, -0.4 / s, -0.4 / s, 0.6 / s, 0.6 / s, 0]);
    tf.dispose([a, scores, kl, mask]);
  });
  it("a batch whose returns are all equal gives 0, not NaN; mismatched shapes are refused; no tensor leaks", () => {
    const scores = tf.tensor1d([2, 2]), kl = tf.zeros([2, 3]) as tf.Tensor2D, mask = tf.tensor2d([[1, 0, 0], [1, 0, 0]]);
    const n0 = tf.memory().numTensors;
    const a = reinforcePlusPlusTokenAdvantages(scores, kl, mask, 0.1);
    assert.deepEqual(Array.from(a.dataSync()), [0, 0, 0, 0, 0, 0]);
    a.dispose();
    assert.equal(tf.memory().numTensors, n0);
    const short = tf.ones([2, 2]) as tf.Tensor2D;
    assert.throws(() => reinforcePlusPlusTokenAdvantages(scores, kl, short, 0.1), /must be the same \[B,T\]/);
    tf.dispose([scores, kl, mask, short]);
  });
});

describe("rewardGroupStats (TRL's reward_std, frac_reward_zero_std)", () => {
  it("mean over groups of the unbiased group std; share of groups whose rewards are all equal; by hand", () => {
    // groups [1, 2, 6] (std sqrt(7), as above), [0.5, 0.5, 0.5] (std 0): mean sqrt(7) / 2, one group of two is flat
    const s = rewardGroupStats([1, 2, 6, 0.5, 0.5, 0.5], 3);
    close([s.reward_std, s.frac_reward_zero_std], [Math.sqrt(7) / 2, 0.5]);
    const t = rewardGroupStats([0, 1, 3, 3], 2); // stds 1/sqrt(2) and 0
    close([t.reward_std, t.frac_reward_zero_std], [Math.SQRT1_2 / 2, 0.5]);
  });
  it("groups of one have no std: NaN; rewards that are not whole groups are refused", () => {
    const s = rewardGroupStats([1, 2, 3], 1);
    assert.ok(Number.isNaN(s.reward_std) && Number.isNaN(s.frac_reward_zero_std));
    assert.throws(() => rewardGroupStats([1, 2, 3], 2), /3 rewards cannot be cut into groups of 2/);
  });
});

describe("leaks", () => {
  it("the group estimators leak no tensors", () => {
    const r = tf.tensor2d([[1, 2, 3], [4, 5, 7]]);
    const n0 = tf.memory().numTensors;
    tf.dispose([rlooAdvantages(r), grpoAdvantages(r, 1e-4), grpoAdvantages(r, 1e-4, "batch"), grpoAdvantages(r, 1e-4, "none")]);
    assert.equal(tf.memory().numTensors, n0);
    r.dispose();
  });
});

// Which KL does "minimise E_pi[ k(x) ]" follow, when the samples x come from pi and the gradient only flows through
// the log-probs inside k (the samples are data)? With logits theta of pi and a fixed ref:
//   E_pi[ grad k2 ] = sum_x pi(x) (log pi - log ref) grad log pi(x)  = grad KL(pi || ref)   exactly
//   E_pi[ grad k3 ] = sum_x pi(x) (1 - ref/pi) grad log pi(x)       = -sum_x ref(x) grad log pi(x) = grad KL(ref || pi)
//   E_pi[ grad k1 ] = sum_x pi(x) grad log pi(x)                    = 0
// The test computes these expectations exactly (a sum over the 5 outcomes, each weighted by pi(x) as a constant).
describe("the KL term in the loss: which divergence its gradient follows", () => {
  const logitsInit = [0.3, -1.1, 0.8, 0.0, -0.4];
  const refLogits = [-0.5, 0.6, 0.1, 1.2, -0.9];
  const V = logitsInit.length;

  /** grad over the logits of f(logits) */
  const gradOf = (f: (logits: tf.Tensor1D) => tf.Scalar): number[] => {
    const theta = tf.tensor1d(logitsInit);
    const g = tf.grad((x: tf.Tensor) => f(x as tf.Tensor1D))(theta);
    const out = Array.from(g.dataSync());
    tf.dispose([theta, g]);
    return out;
  };
  const cos = (a: number[], b: number[]) => {
    const dot = a.reduce((s, x, i) => s + x * b[i], 0);
    return dot / Math.sqrt(a.reduce((s, x) => s + x * x, 0) * b.reduce((s, x) => s + x * x, 0));
  };
  /** E_{x ~ pi}[ k(log pi(x), log ref(x)) ] with pi(x) held constant: the expected per-token loss term. */
  const expectedEstimator = (est: "k1" | "k2" | "k3") => (logits: tf.Tensor1D): tf.Scalar => {
    const logp = tf.logSoftmax(logits);
    const weights = tf.exp(tf.logSoftmax(tf.tensor1d(logitsInit))); // sampling distribution: data, no gradient
    const logref = tf.logSoftmax(tf.tensor1d(refLogits));
    const k = klPerToken(logp.reshape([1, V]) as tf.Tensor2D, logref.reshape([1, V]) as tf.Tensor2D, est).reshape([V]);
    return tf.sum(tf.mul(weights, k)) as tf.Scalar;
  };
  const klForward = (logits: tf.Tensor1D): tf.Scalar => {
    const logp = tf.logSoftmax(logits), logref = tf.logSoftmax(tf.tensor1d(refLogits));
    return tf.sum(tf.mul(tf.exp(logp), tf.sub(logp, logref))) as tf.Scalar; // KL(pi || ref)
  };
  const klReverse = (logits: tf.Tensor1D): tf.Scalar => {
    const logp = tf.logSoftmax(logits), logref = tf.logSoftmax(tf.tensor1d(refLogits));
    return tf.sum(tf.mul(tf.exp(logref), tf.sub(logref, logp))) as tf.Scalar; // KL(ref || pi)
  };

  it("k2 in the loss: the exact gradient of KL(pi || ref); k3: that of KL(ref || pi); k1: zero", () => {
    const fwd = gradOf(klForward), rev = gradOf(klReverse);
    const g2 = gradOf(expectedEstimator("k2")), g3 = gradOf(expectedEstimator("k3")), g1 = gradOf(expectedEstimator("k1"));
    close(g2, fwd, 1e-5);
    close(g3, rev, 1e-5);
    close(g1, new Array(V).fill(0), 1e-6);
    // the two divergences' gradients differ here: which one a loss follows is a real choice
    const c = cos(fwd, rev);
    assert.ok(c < 0.99, `cos(grad KL(pi||ref), grad KL(ref||pi)) = ${c}`);
    assert.ok(cos(g2, fwd) > 0.9999 && cos(g3, rev) > 0.9999);
    assert.ok(cos(g3, fwd) < 0.99, `k3's gradient is not that of KL(pi||ref): cos ${cos(g3, fwd)}`);
  });
});
