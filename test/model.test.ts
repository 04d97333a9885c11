import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { GPT, ModelConfig, disposeCache } from "../lib/lm/model";
import { crossEntropy, gelu, layerNorm, tokenLogProbs } from "../lib/lm/model-kernels";

before(async () => {
  await initBackend();
});

const cfg: ModelConfig = { vocab_size: 23, context: 12, d_model: 16, n_layers: 2, n_heads: 4, dropout: 0.1 };

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

test("parameter count matches the architecture by hand", () => {
  const m = new GPT(cfg, { seed: 1 });
  const { vocab_size: V, context: C, d_model: D, n_layers: L } = cfg;
  const perLayer = 2 * D + (D * 3 * D + 3 * D) + (D * D + D) + 2 * D + (D * 4 * D + 4 * D) + (4 * D * D + D);
  assert.equal(m.paramCount(), V * D + C * D + L * perLayer + 2 * D);
  const withHead = new GPT(cfg, { seed: 1, head: "value" });
  assert.equal(withHead.paramCount(), m.paramCount() + D + 1);
  assert.match(m.describe(), /parameters/);
  m.dispose();
  withHead.dispose();
});

test("same seed, same weights; names are stable and logical", () => {
  const a = new GPT(cfg, { seed: 7 }), b = new GPT(cfg, { seed: 7 }), c = new GPT(cfg, { seed: 8 });
  const names = [...a.namedVariables().keys()];
  assert.deepEqual(names, [...b.namedVariables().keys()]);
  assert.ok(names.includes("wte") && names.includes("h1.attn.w_qkv") && names.includes("ln_f.gamma"));
  assert.equal(a.logicalName(a.trainableVariables()[0]), "wte");
  assert.notEqual(a.trainableVariables()[0].name, b.trainableVariables()[0].name); // unique in the tfjs registry
  const x = tf.tensor2d([[1, 2, 3, 4]], undefined, "int32");
  assert.equal(maxAbsDiff(a.forward(x).logits, b.forward(x).logits), 0);
  assert.ok(maxAbsDiff(a.forward(x).logits, c.forward(x).logits) > 1e-3);
  [a, b, c].forEach((m) => m.dispose());
});

test("gelu is x * sigmoid(1.702 x), within 0.02 of the exact GELU", () => {
  const xs = [-3, -2, -0.5, 0, 0.5, 1, 3];
  const y = gelu(tf.tensor1d(xs)).dataSync();
  xs.forEach((x, i) => {
    assert.ok(Math.abs(y[i] - x / (1 + Math.exp(-1.702 * x))) < 1e-6);
    const erfGelu = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    assert.ok(Math.abs(y[i] - erfGelu) < 0.021, `x ${x}: ${y[i]} vs ${erfGelu}`);
  });
});

test("the hand-written cross-entropy gradient equals softmax - onehot (and autodiff of logSoftmax)", () => {
  const logits = tf.tensor3d([[[1, 2, 3], [0.5, -1, 0]]]);
  const targets = tf.tensor2d([[2, 0]], undefined, "int32");
  const w = tf.tensor2d([[0.3, 0.7]]);
  const g = tf.grad((l: tf.Tensor) => tf.sum(tf.mul(tokenLogProbs(l as tf.Tensor3D, targets), w)))(logits);
  const ref = tf.grad((l: tf.Tensor) => tf.sum(tf.mul(tf.sum(tf.mul(tf.logSoftmax(l), tf.oneHot(targets, 3).toFloat()), -1), w)))(logits);
  assert.ok(maxAbsDiff(g, ref) < 1e-6);
  // By hand for the first position: w * (onehot - softmax).
  const e = [1, 2, 3].map(Math.exp), z = e[0] + e[1] + e[2];
  const g0 = (g.arraySync() as number[][][])[0][0];
  [0, 0, 1].forEach((oh, k) => assert.ok(Math.abs(g0[k] - 0.3 * (oh - e[k] / z)) < 1e-6));
});

test("cross-entropy equals -log softmax by hand; mask selects positions", () => {
  const logits = tf.tensor3d([[[1, 2, 3], [0, 0, 0]]]);
  const targets = tf.tensor2d([[2, 1]], undefined, "int32");
  const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
  const lp = tokenLogProbs(logits, targets).dataSync();
  assert.ok(Math.abs(lp[0] - (3 - lse)) < 1e-5);
  assert.ok(Math.abs(lp[1] - Math.log(1 / 3)) < 1e-5);
  const full = crossEntropy(logits, targets).dataSync()[0];
  assert.ok(Math.abs(full - -(3 - lse + Math.log(1 / 3)) / 2) < 1e-5);
  const masked = crossEntropy(logits, targets, tf.tensor2d([[0, 1]])).dataSync()[0];
  assert.ok(Math.abs(masked - Math.log(3)) < 1e-5);
});

test("causal: a later token never changes earlier logits", () => {
  const m = new GPT(cfg, { seed: 3 });
  const a = tf.tensor2d([[5, 6, 7, 8, 9]], undefined, "int32");
  const b = tf.tensor2d([[5, 6, 7, 8, 1]], undefined, "int32");
  const la = m.forward(a).logits, lb = m.forward(b).logits;
  assert.ok(maxAbsDiff(la.slice([0, 0, 0], [1, 4, -1]), lb.slice([0, 0, 0], [1, 4, -1])) < 1e-6);
  assert.ok(maxAbsDiff(la.slice([0, 4, 0], [1, 1, -1]), lb.slice([0, 4, 0], [1, 1, -1])) > 1e-4);
  m.dispose();
});

test("left padding with a mask gives the unpadded row's logits and hidden states", () => {
  const m = new GPT(cfg, { seed: 4 });
  const row = [3, 9, 4, 1];
  const alone = m.forward(tf.tensor2d([row], undefined, "int32"));
  const padded = m.forward(tf.tensor2d([[0, 0, 0, ...row]], undefined, "int32"), { attnMask: tf.tensor2d([[0, 0, 0, 1, 1, 1, 1]]) });
  assert.ok(maxAbsDiff(alone.logits, padded.logits.slice([0, 3, 0], [1, 4, -1])) < 1e-4);
  assert.ok(maxAbsDiff(alone.hidden, padded.hidden.slice([0, 3, 0], [1, 4, -1])) < 1e-4);
  m.dispose();
});

test("KV-cache decoding equals the full forward pass (1e-4), left-padded rows included, no tensor leak", () => {
  const m = new GPT({ ...cfg, context: 10 }, { seed: 5 });
  // Three prompts of lengths 4, 2, 3, left-padded to 4, then 5 generated tokens each (teacher-forced here).
  const prompts = [[1, 2, 3, 4], [5, 6], [7, 8, 9]];
  const cont = [[10, 11, 12, 13, 14], [15, 16, 17, 18, 19], [20, 21, 22, 1, 2]];
  const P = 4, N = 5;
  const padded = prompts.map((p) => [...new Array(P - p.length).fill(0), ...p]);
  const mask = prompts.map((p) => [...new Array(P - p.length).fill(0), ...p.map(() => 1)]);
  let { logits, cache } = m.prefill(tf.tensor2d(padded, undefined, "int32"), tf.tensor2d(mask));
  const stepLogits: tf.Tensor2D[] = [logits];
  let tensorsAfterFirst = -1;
  for (let s = 0; s < N; s++) {
    const tok = tf.tensor1d(cont.map((c) => c[s]), "int32");
    const out = m.decodeStep(tok, cache);
    tok.dispose();
    cache = out.cache;
    stepLogits.push(out.logits);
    if (s === 1) tensorsAfterFirst = tf.memory().numTensors;
    if (s > 1) assert.equal(tf.memory().numTensors, tensorsAfterFirst + (s - 1), "one logits tensor per step, nothing else");
  }
  assert.equal(cache.length, P + N);
  // Reference: each row alone, unpadded, full forward over prompt + continuation.
  prompts.forEach((p, r) => {
    const full = m.forward(tf.tensor2d([[...p, ...cont[r]]], undefined, "int32")).logits;
    for (let s = 0; s <= N; s++) {
      const ref = full.slice([0, p.length - 1 + s, 0], [1, 1, -1]).reshape([cfg.vocab_size]);
      const got = stepLogits[s].slice([r, 0], [1, -1]).reshape([cfg.vocab_size]);
      const d = maxAbsDiff(ref, got);
      assert.ok(d < 1e-4, `row ${r} step ${s}: max |diff| ${d}`);
    }
  });
  // The cache holds P + N = 9 of 10 positions: one more step fits, the next one must fail clearly.
  const t = tf.tensor1d([1, 1, 1], "int32");
  const last = m.decodeStep(t, cache);
  assert.throws(() => m.decodeStep(t, last.cache), /KV cache is full \(10 of 10/);
  disposeCache(last.cache);
  m.dispose();
});

test("a prompt longer than the context is refused", () => {
  const m = new GPT(cfg, { seed: 1 });
  const x = tf.zeros([1, cfg.context + 1], "int32") as tf.Tensor2D;
  assert.throws(() => m.forward(x), /exceeds the model context of 12/);
  assert.throws(() => m.prefill(x, tf.ones([1, cfg.context + 1])), /exceeds the model context/);
  m.dispose();
});

test("dropout: off by default and when not training, active (and seeded) when training", () => {
  const m = new GPT({ ...cfg, dropout: 0.5 }, { seed: 2 });
  const x = tf.tensor2d([[1, 2, 3, 4, 5]], undefined, "int32");
  const e1 = m.forward(x).logits, e2 = m.forward(x, { training: false }).logits;
  assert.equal(maxAbsDiff(e1, e2), 0);
  const t1 = m.forward(x, { training: true }).logits;
  assert.ok(maxAbsDiff(e1, t1) > 1e-3);
  m.dispose();
});

test("heads: scalar per position; 'none' throws; clone and copyTrunkFrom copy weights", () => {
  const policy = new GPT(cfg, { seed: 11 });
  const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]], undefined, "int32");
  assert.throws(() => policy.scalar(policy.forward(x).hidden), /no head/);
  const rm = policy.clone({ head: "reward" });
  assert.equal(rm.head, "reward");
  const h = rm.forward(x).hidden;
  assert.equal(maxAbsDiff(h, policy.forward(x).hidden), 0); // trunk copied
  const s = rm.scalar(h);
  assert.deepEqual(s.shape, [2, 3]);
  // The head is linear: scalar = h . w + b, checked by hand for one position.
  const w = rm.namedVariables().get("reward_head.w")!.dataSync();
  const hv = h.slice([1, 2, 0], [1, 1, -1]).dataSync();
  let dot = 0;
  for (let i = 0; i < w.length; i++) dot += w[i] * hv[i];
  assert.ok(Math.abs(s.arraySync()[1][2] - dot) < 1e-5);
  // copyTrunkFrom: a fresh model becomes identical to the policy on the LM output.
  const other = new GPT(cfg, { seed: 99, head: "value" });
  assert.ok(maxAbsDiff(other.forward(x).logits, policy.forward(x).logits) > 1e-3);
  other.copyTrunkFrom(policy);
  assert.equal(maxAbsDiff(other.forward(x).logits, policy.forward(x).logits), 0);
  const frozen = policy.clone({ trainable: false });
  assert.ok(frozen.trainableVariables().every((v) => !v.trainable));
  [policy, rm, other, frozen].forEach((m) => m.dispose());
});

test("every variable gets a finite gradient through a padded, dropout forward pass", () => {
  const m = new GPT(cfg, { seed: 12, head: "value" });
  const x = tf.tensor2d([[0, 0, 1, 2, 3], [4, 5, 6, 7, 8]], undefined, "int32");
  const mask = tf.tensor2d([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]);
  const { grads } = tf.variableGrads(() => {
    const out = m.forward(x, { attnMask: mask, training: true });
    return tf.add(crossEntropy(out.logits, x, mask), tf.mean(tf.square(m.scalar(out.hidden)))) as tf.Scalar;
  }, m.trainableVariables());
  for (const v of m.trainableVariables()) {
    const g = grads[v.name];
    assert.ok(g, `no gradient for ${m.logicalName(v)}`);
    const n = tf.norm(g).dataSync()[0];
    assert.ok(Number.isFinite(n) && n > 0, `${m.logicalName(v)} gradient norm ${n}`);
  }
  m.dispose();
});

test("loadWeights names every missing, extra and mis-shaped weight", () => {
  const m = new GPT(cfg, { seed: 1 });
  const w = new Map<string, tf.Tensor>([...m.namedVariables()].map(([k, v]) => [k, v.clone()]));
  w.delete("h0.mlp.b_fc");
  w.set("wpe", tf.zeros([5, cfg.d_model]));
  w.set("bogus", tf.zeros([1]));
  assert.throws(() => m.loadWeights(w), (e: Error) =>
    /missing "h0.mlp.b_fc"/.test(e.message) && /"wpe" has shape \[5,16\], the model expects \[12,16\]/.test(e.message) && /unexpected "bogus"/.test(e.message));
  m.dispose();
});

// The wasm backend gets its gather-gradient kernel and matmul fix from lib/core/backend.ts at initBackend(), once per
// process, so the wasm side runs in a child process with TFJS_BACKEND=wasm and prints the same figures as JSON.
const WASM_CHILD = `
const tf = require("@tensorflow/tfjs");
const { initBackend } = require("./lib/core/backend");
const { GPT } = require("./lib/lm/model");
const { crossEntropy } = require("./lib/lm/model-kernels");
initBackend().then((r) => {
  const cfg = ${JSON.stringify(cfg)};
  const m = new GPT(cfg, { seed: 21 });
  const x = tf.tensor2d([[0, 1, 2, 3], [4, 5, 6, 7]], undefined, "int32");
  const mask = tf.tensor2d([[0, 1, 1, 1], [1, 1, 1, 1]]);
  const logits = Array.from(m.forward(x, { attnMask: mask }).logits.dataSync());
  const { value, grads } = tf.variableGrads(() => crossEntropy(m.forward(x, { attnMask: mask }).logits, x, mask), m.trainableVariables());
  const g = m.trainableVariables().map((v) => Array.from(grads[v.name].dataSync()));
  console.log("RESULT" + JSON.stringify({ backend: r.active, logits, loss: value.dataSync()[0], g }));
});
`;

test("wasm backend gives the native logits and gradients (child process, TFJS_BACKEND=wasm)", () => {
  const { spawnSync } = require("child_process") as typeof import("child_process");
  const child = spawnSync(process.execPath, ["--import", "tsx", "-e", WASM_CHILD], {
    cwd: require("path").join(__dirname, ".."), env: { ...process.env, TFJS_BACKEND: "wasm" }, encoding: "utf8",
  });
  const line = (child.stdout ?? "").split("\n").find((l) => l.startsWith("RESULT"));
  assert.ok(line, `child failed: ${child.stderr}`);
  const b = JSON.parse(line.slice(6)) as { backend: string; logits: number[]; loss: number; g: number[][] };
  assert.equal(b.backend, "wasm");
  const m = new GPT(cfg, { seed: 21 });
  const x = tf.tensor2d([[0, 1, 2, 3], [4, 5, 6, 7]], undefined, "int32");
  const mask = tf.tensor2d([[0, 1, 1, 1], [1, 1, 1, 1]]);
  const logits = m.forward(x, { attnMask: mask }).logits.dataSync();
  const { value, grads } = tf.variableGrads(() => crossEntropy(m.forward(x, { attnMask: mask }).logits, x, mask), m.trainableVariables());
  assert.ok(Math.abs(value.dataSync()[0] - b.loss) < 1e-4);
  logits.forEach((v, i) => assert.ok(Math.abs(v - b.logits[i]) < 1e-4, `logit ${i}: ${v} vs ${b.logits[i]}`));
  m.trainableVariables().forEach((v, k) => grads[v.name].dataSync().forEach((gv, i) =>
    assert.ok(Math.abs(gv - b.g[k][i]) < 1e-4, `${m.logicalName(v)}[${i}]: ${gv} vs ${b.g[k][i]}`)));
  m.dispose();
});

test("construct, clone and dispose return the tensor count to where it was (no leaked initial values)", () => {
  const n0 = tf.memory().numTensors;
  const m = new GPT(cfg, { seed: 1, head: "value" });
  assert.equal(tf.memory().numTensors, n0 + m.trainableVariables().length + 1); // variables + the causal mask
  const c = m.clone({ head: "reward" });
  c.dispose();
  m.dispose();
  assert.equal(tf.memory().numTensors, n0);
});

test("LayerNorm's hand-written gradient equals autodiff through tf.moments", () => {
  const D = 8;
  const x = tf.randomNormal([2, 3, D], 0.5, 2, "float32", 3);
  const gamma = tf.randomNormal([D], 1, 0.3, "float32", 1), beta = tf.randomNormal([D], 0, 0.3, "float32", 2);
  const w = tf.randomNormal([2, 3, D], 0, 1, "float32", 4); // a generic upstream gradient
  const ref = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(xx, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
  };
  assert.ok(maxAbsDiff(layerNorm(x, gamma, beta), ref(x, gamma, beta)) < 1e-5);
  const g1 = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, b, c), w)))([x, gamma, beta]);
  const g2 = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(ref(a, b, c), w)))([x, gamma, beta]);
  g1.forEach((g, i) => assert.ok(maxAbsDiff(g, g2[i]) < 1e-4, `input ${i}: ${maxAbsDiff(g, g2[i])}`));
});
