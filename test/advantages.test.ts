// Critic-free advantages (lib/rl/advantages.ts) against hand-computed values, and which KL a per-token KL term in the
// loss actually pulls toward (the estimator choice of ppo.kl.loss_estimator), by exact expectation on a small
// categorical distribution.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { grpoAdvantages, reinforcePlusPlusAdvantages, rlooAdvantages } from "../lib/rl/advantages";
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
  it("refuses k < 2 and eps <= 0", () => {
    const one = tf.tensor2d([[1], [2]]);
    const two = tf.tensor2d([[1, 2]]);
    assert.throws(() => grpoAdvantages(one, 1e-4), /ppo\.group_size >= 2/);
    assert.throws(() => grpoAdvantages(two, 0), /eps \(ppo\.advantage_eps\) must be > 0/);
    tf.dispose([one, two]);
  });
});

describe("reinforcePlusPlusAdvantages", () => {
  it("(r - batch mean) / (batch std + eps) over every entry, population std; 1-D or 2-D alike", () => {
    // [1, 2, 3, 6]: mean 3, deviations -2 -1 0 3, population var 14 / 4 = 3.5
    const s = Math.sqrt(3.5) + 1e-8;
    const want = [-2 / s, -1 / s, 0, 3 / s];
    const a = tf.tidy(() => reinforcePlusPlusAdvantages(tf.tensor1d([1, 2, 3, 6])));
    const b = tf.tidy(() => reinforcePlusPlusAdvantages(tf.tensor2d([[1, 2], [3, 6]])));
    close(a.dataSync(), want);
    close(b.dataSync(), want);
    assert.deepEqual(b.shape, [2, 2]);
    tf.dispose([a, b]);
  });
  it("a constant batch gives 0; a single reward is refused", () => {
    const a = tf.tidy(() => reinforcePlusPlusAdvantages(tf.tensor1d([2, 2, 2])));
    assert.deepEqual(Array.from(a.dataSync()), [0, 0, 0]);
    const one = tf.tensor1d([1]);
    assert.throws(() => reinforcePlusPlusAdvantages(one), /at least 2/);
    tf.dispose([a, one]);
  });
  it("leaks no tensors", () => {
    const r = tf.tensor2d([[1, 2, 3], [4, 5, 7]]);
    const n0 = tf.memory().numTensors;
    tf.dispose([rlooAdvantages(r), grpoAdvantages(r, 1e-4), reinforcePlusPlusAdvantages(r)]);
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
