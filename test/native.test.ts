// The native fast paths (lib/core/native.ts) against their composed tfjs twins in lib/lm/model.ts: same values and gradients.
// On a backend without them (wasm, cpu) both sides run the composed path and the tests pass trivially.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { gelu, layerNorm, layerNormComposed, linear, mm, tokenNll, tokenNllComposed } from "../lib/lm/model-kernels";
import { fastPaths, matMulNative, nativeBackend } from "../lib/core/native";
import { drawTokens } from "../lib/lm/rollout";

before(async () => {
  await initBackend();
});

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

test("native: fastPaths(false) turns the native backend off, and back on", () => {
  const old = fastPaths(false);
  assert.equal(nativeBackend("nll"), undefined);
  fastPaths(["nll"]);
  assert.equal(nativeBackend("layernorm"), undefined);
  if (tf.getBackend() === "tensorflow") assert.ok(nativeBackend("nll"));
  fastPaths(old);
});

test("native: tokenNll (SparseSoftmaxCrossEntropyWithLogits) matches the composed version, value and gradient", () => {
  tf.tidy(() => {
    const [B, T, V] = [3, 5, 37];
    const logits = tf.mul(tf.randomNormal([B, T, V], 0, 1, "float32", 7), 3) as tf.Tensor3D;
    const targets = tf.randomUniformInt([B, T], 0, V, 8) as tf.Tensor2D;
    const w = tf.randomNormal([B, T], 0, 1, "float32", 9); // a non-uniform upstream gradient
    const f = (nll: typeof tokenNll) => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(nll(x as tf.Tensor3D, targets), w)))(logits);
    const old = fastPaths(["nll"]); // opt-in: test it whatever the defaults
    const fast = tokenNll(logits, targets), ref = tokenNllComposed(logits, targets);
    assert.deepEqual(fast.shape, [B, T]);
    assert.ok(maxAbsDiff(fast, ref) < 1e-5, `value differs by ${maxAbsDiff(fast, ref)}`);
    const gFast = f(tokenNll), gRef = f(tokenNllComposed);
    fastPaths(old);
    assert.ok(maxAbsDiff(gFast, gRef) < 1e-5, `gradient differs by ${maxAbsDiff(gFast, gRef)}`);
  });
});

test("native: layerNorm (FusedBatchNormV3 per row) matches the composed version, value and gradients", () => {
  tf.tidy(() => {
    const [B, T, D] = [2, 5, 16];
    const x = tf.add(tf.mul(tf.randomNormal([B, T, D], 0, 1, "float32", 1), 3), 1);
    const gamma = tf.randomNormal([D], 1, 0.2, "float32", 2), beta = tf.randomNormal([D], 0, 0.2, "float32", 3);
    const w = tf.randomNormal([B, T, D], 0, 1, "float32", 4);
    const old = fastPaths(["layernorm"]);
    const fast = layerNorm(x, gamma, beta), ref = layerNormComposed(x, gamma, beta);
    assert.deepEqual(fast.shape, [B, T, D]);
    assert.ok(maxAbsDiff(fast, ref) < 1e-5, `value differs by ${maxAbsDiff(fast, ref)}`);
    const grads = (ln: typeof layerNorm) => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(ln(a, b, c), w)))([x, gamma, beta]);
    const gf = grads(layerNorm), gr = grads(layerNormComposed);
    fastPaths(old);
    gf.forEach((g, i) => assert.ok(maxAbsDiff(g, gr[i]) < 1e-4, `gradient ${i} differs by ${maxAbsDiff(g, gr[i])}`));
  });
});

test("native: matMulNative (MatMul / BatchMatMulV2, no reshapes) matches tf.matMul", () => {
  const old = fastPaths(["matmul"]);
  const nb = nativeBackend("matmul");
  fastPaths(old);
  if (!nb) return; // not the native backend: nothing to compare
  tf.tidy(() => {
    const cases: [number[], number[], boolean][] = [
      [[6, 8], [8, 5], false], [[6, 8], [5, 8], true], // a linear layer; the tied LM head (x W_te^T)
      [[2, 3, 1, 4], [2, 3, 7, 4], true], [[2, 3, 1, 7], [2, 3, 7, 4], false], // attention at decoding: q k^T, att v
    ];
    cases.forEach(([sa, sb, tB], i) => {
      const a = tf.randomNormal(sa, 0, 1, "float32", 10 + i), b = tf.randomNormal(sb, 0, 1, "float32", 20 + i);
      const y = matMulNative(nb, a, b, tB), ref = tf.matMul(a, b, false, tB);
      assert.deepEqual(y.shape, ref.shape);
      assert.ok(maxAbsDiff(y, ref) < 1e-5, `case ${i}: value differs by ${maxAbsDiff(y, ref)}`);
    });
  });
});

/** Values and gradients of f(...inputs) (summed against a fixed random weight) with the fast path `which` on and off. */
function onAndOff(which: "linear" | "gelu", f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): { value: number; grads: number[] } {
  return tf.tidy(() => {
    const run = (paths: readonly ("linear" | "gelu")[]) => {
      const old = fastPaths([...paths]);
      const y = f(...inputs);
      const w = tf.randomNormal(y.shape, 0, 1, "float32", 99);
      const g = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), w)))(inputs);
      fastPaths(old);
      return { y, g };
    };
    const on = run([which]), off = run([]);
    assert.deepEqual(on.y.shape, off.y.shape);
    return { value: maxAbsDiff(on.y, off.y), grads: on.g.map((g, i) => maxAbsDiff(g, off.g[i])) };
  });
}

test("native: linear and mm (MatMul, BatchMatMulV2, BiasAdd, gradients written out) match tfjs autodiff", () => {
  const r = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, "float32", seed);
  const cases: [string, (...xs: tf.Tensor[]) => tf.Tensor, tf.Tensor[]][] = [
    ["linear", (x, w, b) => linear(x as tf.Tensor2D, w, b), [r([6, 8], 1), r([8, 5], 2), r([5], 3)]],
    ["mm 2-D", (a, b) => mm(a, b), [r([6, 8], 4), r([8, 5], 5)]],
    ["mm 2-D, b transposed (the tied LM head)", (a, b) => mm(a, b, true), [r([6, 8], 6), r([5, 8], 7)]],
    ["mm 4-D, b transposed (q k^T)", (a, b) => mm(a, b, true), [r([2, 3, 4, 5], 8), r([2, 3, 7, 5], 9)]],
    ["mm 4-D (att v)", (a, b) => mm(a, b), [r([2, 3, 4, 7], 10), r([2, 3, 7, 5], 11)]],
  ];
  for (const [name, f, xs] of cases) {
    const d = onAndOff("linear", f, xs);
    assert.ok(d.value < 1e-5, `${name}: value differs by ${d.value}`);
    d.grads.forEach((g, i) => assert.ok(g < 1e-4, `${name}: gradient ${i} differs by ${g}`));
  }
  tf.dispose(cases.flatMap((c) => c[2]));
});

test("native: gelu's written gradient (SigmoidGrad) equals autodiff of x * sigmoid(1.702 x)", () => {
  tf.tidy(() => {
    const x = tf.mul(tf.randomNormal([7, 9], 0, 1, "float32", 12), 3);
    const d = onAndOff("gelu", (t) => gelu(t), [x]);
    assert.ok(d.value < 1e-6 && d.grads[0] < 1e-5, `gelu differs: value ${d.value}, gradient ${d.grads[0]}`);
    const w = tf.randomNormal([7, 9], 0, 1, "float32", 13);
    const autodiff = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mul(t, tf.sigmoid(tf.mul(t, 1.702))), w)))(x);
    for (const paths of [["gelu"], []] as const) {
      const old = fastPaths([...paths]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), w)))(x);
      fastPaths(old);
      assert.ok(maxAbsDiff(g, autodiff) < 1e-5, `gelu gradient (${paths.join() || "composed"}) differs from autodiff by ${maxAbsDiff(g, autodiff)}`);
    }
  });
});

test("native: drawTokens (LogSoftmax, LowerBound, batched gather) draws the ids of the composed version", () => {
  const [R, V] = [64, 300];
  const logits = tf.mul(tf.randomNormal([R, V], 0, 1, "float32", 5), 2) as tf.Tensor2D;
  const allowed = tf.tensor1d(Float32Array.from({ length: V }, (_, i) => (i % 7 === 3 ? 0 : 1)));
  const u = Float32Array.from({ length: R }, (_, j) => Math.max(((j * 0.6180339887) % 1), 2 ** -32));
  for (const temperature of [1, 0.7]) {
    const old = fastPaths(["draw"]);
    const fast = drawTokens(logits, temperature, allowed, u);
    fastPaths(false);
    const ref = drawTokens(logits, temperature, allowed, u);
    fastPaths(old);
    // float32 running sums may differ in the last bit: allow a rare neighbour, never a banned id
    const same = fast.ids.filter((id, j) => id === ref.ids[j]).length;
    assert.ok(same >= R - 1, `${R - same} of ${R} draws differ`);
    for (let j = 0; j < R; j++) {
      assert.notEqual(fast.ids[j] % 7, 3, "drew a banned id");
      if (fast.ids[j] === ref.ids[j]) assert.ok(Math.abs(fast.logprobs[j] - ref.logprobs[j]) < 1e-5);
    }
  }
  tf.dispose([logits, allowed]);
});
