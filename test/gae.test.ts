import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { gae, tdErrors } from "../lib/rl/gae";
import { assertClose } from "./helpers";


before(async () => {
  await initBackend();
});

// A 2 x 5 batch, right-padded: row 0 has 5 real tokens, row 1 has 3 and then padding holding garbage.
const rewards = () => tf.tensor2d([[0.1, -0.1, 0, 0.2, 1], [0, 0, 1, 99, -99]]);
const values = () => tf.tensor2d([[0.3, 0.2, 0.5, 0.1, 0.6], [0.5, 0.2, 0.4, 7, 7]]);
const mask = () => tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]);

describe("gae", () => {
  it("matches the example worked on paper (gamma 0.9, lambda 0.5, so gamma*lambda = 0.45)", () => {
    // Row 0, backwards (V after the last token = 0):
    //   t4: delta = 1 + 0 - 0.6 = 0.4                          A = 0.4
    //   t3: delta = 0.2 + 0.9*0.6 - 0.1 = 0.64                 A = 0.64 + 0.45*0.4 = 0.82
    //   t2: delta = 0 + 0.9*0.1 - 0.5 = -0.41                  A = -0.41 + 0.45*0.82 = -0.041
    //   t1: delta = -0.1 + 0.9*0.5 - 0.2 = 0.15                A = 0.15 + 0.45*(-0.041) = 0.13155
    //   t0: delta = 0.1 + 0.9*0.2 - 0.3 = -0.02                A = -0.02 + 0.45*0.13155 = 0.0391975
    // Row 1 (last real token t2; t3, t4 are padding and must be ignored):
    //   t2: delta = 1 + 0 - 0.4 = 0.6                          A = 0.6
    //   t1: delta = 0 + 0.9*0.4 - 0.2 = 0.16                   A = 0.16 + 0.45*0.6 = 0.43
    //   t0: delta = 0 + 0.9*0.2 - 0.5 = -0.32                  A = -0.32 + 0.45*0.43 = -0.1265
    // Returns = A + V at real tokens, 0 at padding.
    const { advantages, returns } = gae(rewards(), values(), mask(), 0.9, 0.5);
    assertClose(advantages.dataSync(), [0.0391975, 0.13155, -0.041, 0.82, 0.4, -0.1265, 0.43, 0.6, 0, 0]);
    assertClose(returns.dataSync(), [0.3391975, 0.33155, 0.459, 0.92, 1.0, 0.3735, 0.63, 1.0, 0, 0]);
    assert.deepEqual(advantages.shape, [2, 5]);
  });

  it("gamma = lambda = 1 gives reward-to-go minus value", () => {
    const { advantages, returns } = gae(rewards(), values(), mask(), 1, 1);
    // row 0 reward-to-go: 1.2, 1.1, 1.2, 1.2, 1;   row 1: 1, 1, 1
    assertClose(advantages.dataSync(), [1.2 - 0.3, 1.1 - 0.2, 1.2 - 0.5, 1.2 - 0.1, 1 - 0.6, 1 - 0.5, 1 - 0.2, 1 - 0.4, 0, 0]);
    assertClose(returns.dataSync(), [1.2, 1.1, 1.2, 1.2, 1, 1, 1, 1, 0, 0]);
  });

  it("lambda = 0 gives the one-step TD errors", () => {
    const { advantages } = gae(rewards(), values(), mask(), 0.9, 0);
    const delta = tdErrors(rewards(), values(), mask(), 0.9);
    assertClose(delta.dataSync(), [-0.02, 0.15, -0.41, 0.64, 0.4, -0.32, 0.16, 0.6, 0, 0]);
    assertClose(advantages.dataSync(), Array.from(delta.dataSync()));
  });

  it("garbage at padded positions (huge numbers, NaN) never leaks into real ones", () => {
    const clean = gae(rewards(), values(), mask(), 0.9, 0.5);
    const r = tf.tensor2d([[0.1, -0.1, 0, 0.2, 1], [0, 0, 1, NaN, 1e30]]);
    const v = tf.tensor2d([[0.3, 0.2, 0.5, 0.1, 0.6], [0.5, 0.2, 0.4, -1e30, NaN]]);
    const dirty = gae(r, v, mask(), 0.9, 0.5);
    assert.deepEqual(Array.from(dirty.advantages.dataSync()), Array.from(clean.advantages.dataSync()));
    assert.deepEqual(Array.from(dirty.returns.dataSync()), Array.from(clean.returns.dataSync()));
  });

  it("a row with no real token is all zeros", () => {
    const { advantages, returns } = gae(tf.tensor2d([[5, 5]]), tf.tensor2d([[1, 1]]), tf.tensor2d([[0, 0]]), 1, 0.95);
    assert.deepEqual(Array.from(advantages.dataSync()), [0, 0]);
    assert.deepEqual(Array.from(returns.dataSync()), [0, 0]);
  });

  it("rejects left padding, a non-0/1 mask and mismatched shapes, naming the problem", () => {
    const r = tf.zeros([1, 3]) as tf.Tensor2D;
    assert.throws(() => gae(r, r, tf.tensor2d([[0, 1, 1]]), 1, 1), /row 0 is not right-padded/);
    assert.throws(() => gae(r, r, tf.tensor2d([[1, 0.5, 0]]), 1, 1), /mask\[0\]\[1\] = 0.5/);
    assert.throws(() => gae(r, tf.zeros([1, 4]) as tf.Tensor2D, tf.ones([1, 3]) as tf.Tensor2D, 1, 1), /values has shape \[1,4\]/);
  });
});
