import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { AdamW, clipByGlobalNorm, globalNorm, lrAt, trainStep } from "../lib/train/optim";

before(async () => {
  await initBackend();
});

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

test("one AdamW step equals the hand computation (decayed matrix, undecayed vector)", () => {
  const W = tf.variable(tf.tensor2d([[1, -2], [0.5, 3]]), true, "optim_test_W");
  const b = tf.variable(tf.tensor1d([0.1, -0.1]), true, "optim_test_b");
  const opt = new AdamW([W, b], { weightDecay: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8 });
  assert.ok(opt.decaysVariable(W) && !opt.decaysVariable(b));
  const gW = [[0.2, -0.4], [1.0, 0.0]], gb = [0.5, -3];
  const lr = 0.01;
  opt.step({ [W.name]: tf.tensor2d(gW), [b.name]: tf.tensor1d(gb) }, lr);
  // t = 1: m = 0.1 g, v = 0.01 g^2, m_hat = g, v_hat = g^2, update = g / (|g| + eps) ~ sign(g).
  const hand = (theta: number, g: number, wd: number) => {
    const m = 0.1 * g, v = 0.01 * g * g;
    const mh = m / (1 - 0.9), vh = v / (1 - 0.99);
    return theta * (1 - lr * wd) - lr * (mh / (Math.sqrt(vh) + 1e-8));
  };
  const w1 = W.arraySync();
  close(w1[0][0], hand(1, 0.2, 0.1)); // 1 * 0.999 - 0.01 = 0.989
  close(w1[0][0], 0.989);
  close(w1[0][1], hand(-2, -0.4, 0.1)); // -1.998 + 0.01 = -1.988
  close(w1[1][1], 3 * (1 - 0.001)); // zero gradient: only the decay
  const b1 = b.arraySync();
  close(b1[0], 0.1 - 0.01);
  close(b1[1], -0.1 + 0.01);

  // Second step with a different gradient: bias correction with t = 2.
  opt.step({ [W.name]: tf.tensor2d([[0.6, 0], [0, 0]]), [b.name]: tf.tensor1d([0, 0]) }, lr);
  const m = 0.9 * (0.1 * 0.2) + 0.1 * 0.6, v = 0.99 * (0.01 * 0.04) + 0.01 * 0.36;
  const upd = (m / (1 - 0.81)) / (Math.sqrt(v / (1 - 0.99 * 0.99)) + 1e-8);
  close(W.arraySync()[0][0], 0.989 * (1 - 0.001) - lr * upd);
  assert.equal(opt.t, 2);
  opt.dispose();
  W.dispose();
  b.dispose();
});

test("a variable without a gradient is left untouched (no decay either)", () => {
  const a = tf.variable(tf.tensor2d([[1, 2]]), true, "optim_test_a");
  const c = tf.variable(tf.tensor2d([[3, 4]]), true, "optim_test_c");
  const opt = new AdamW([a, c], { weightDecay: 0.5 });
  opt.step({ [a.name]: tf.tensor2d([[1, 1]]) }, 0.1);
  assert.deepEqual(c.arraySync(), [[3, 4]]);
  assert.notDeepEqual(a.arraySync(), [[1, 2]]);
  opt.dispose();
  a.dispose();
  c.dispose();
});

test("global-norm clipping scales every gradient and reports the norm before clipping", () => {
  const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) }; // norm 5
  close(globalNorm(grads).dataSync()[0], 5, 1e-5);
  const c = clipByGlobalNorm(grads, 1);
  close(c.norm, 5, 1e-5);
  close(c.grads.a.dataSync()[0], 0.6, 1e-5);
  close(c.grads.b.dataSync()[1], 0.8, 1e-5);
  close(globalNorm(c.grads).dataSync()[0], 1, 1e-5);
  const loose = clipByGlobalNorm(grads, 10);
  assert.deepEqual(Array.from(loose.grads.b.dataSync()), [0, 4]);
  const off = clipByGlobalNorm(grads, 0);
  assert.deepEqual(Array.from(off.grads.a.dataSync()), [3, 0]);
});

test("schedule: linear warmup, cosine to lr * min_lr_ratio at the last step", () => {
  const s = { lr: 1, steps: 110, warmup_steps: 10, min_lr_ratio: 0.1 };
  close(lrAt(0, s), 0.1);
  close(lrAt(9, s), 1);
  close(lrAt(10, s), 1);
  close(lrAt(109, s), 0.1);
  const mid = 10 + (109 - 10) / 2;
  close(lrAt(mid, s), 0.55);
  for (let t = 11; t < 110; t++) assert.ok(lrAt(t, s) <= lrAt(t - 1, s) + 1e-12);
  close(lrAt(5, { lr: 0.5, steps: 10, warmup_steps: 0, min_lr_ratio: 1 }), 0.5); // constant
});

test("trainStep lowers a quadratic, returns loss and pre-clip norm, keeps tensor count flat", () => {
  const x = tf.variable(tf.tensor1d([3, -4]), true, "optim_test_x");
  const opt = new AdamW([x], { weightDecay: 0 });
  const loss = () => tf.sum(tf.square(x)) as tf.Scalar;
  const first = trainStep([x], loss, opt, { lr: 0.1, gradClip: 1 });
  close(first.loss, 25, 1e-4);
  close(first.gradNorm, 10, 1e-4); // grad = 2x = (6, -8)
  const n0 = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 200; i++) last = trainStep([x], loss, opt, { lr: 0.1, gradClip: 1 });
  assert.equal(tf.memory().numTensors, n0);
  assert.ok(last.loss < 0.05, `loss ${last.loss}`);
  const before = x.arraySync();
  assert.throws(() => trainStep([x], () => tf.div(tf.sum(x), 0) as tf.Scalar, opt, { lr: 0.1, gradClip: 1 }), /no update was made/);
  assert.deepEqual(x.arraySync(), before);
  opt.dispose();
  x.dispose();
});

test("AdamW state: flat m and v plus the decay mask while alive (3 tensors), none after dispose", () => {
  const a = tf.variable(tf.zeros([3, 2]), true, "optim_test_slots_a");
  const b = tf.variable(tf.zeros([4]), true, "optim_test_slots_b");
  const n0 = tf.memory().numTensors;
  const opt = new AdamW([a, b], { weightDecay: 0.1 });
  assert.equal(tf.memory().numTensors, n0 + 3);
  opt.step({ [a.name]: tf.ones([3, 2]), [b.name]: tf.ones([4]) }, 0.1);
  assert.equal(tf.memory().numTensors, n0 + 3 + 2); // + the two gradient tensors made above
  opt.dispose();
  assert.equal(tf.memory().numTensors, n0 + 2);
  a.dispose();
  b.dispose();
});
