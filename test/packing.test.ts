import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { GPT, ModelConfig } from "../lib/lm/model";
import { packSequences, packingTensors } from "../lib/lm/packing";
import { Rng } from "../lib/core/rng";

before(async () => {
  await initBackend();
});

const PAD = 0;
const NEG = -1e9;

describe("packSequences", () => {
  it("first-fit decreasing into rows of the longest length, with restarting positions", () => {
    // lengths 5, 2, 3, 1, 4 in rows of 5: [5] [4 1] [3 2]
    const seqs = [[1, 2, 3, 4, 5], [6, 7], [8, 9, 10], [11], [12, 13, 14, 15]];
    const p = packSequences(seqs, PAD);
    assert.equal(p.rows, 3);
    assert.equal(p.length, 5);
    assert.deepEqual([...p.tokens], [1, 2, 3, 4, 5, 12, 13, 14, 15, 11, 8, 9, 10, 6, 7]);
    assert.deepEqual([...p.positions], [0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 0, 1, 2, 0, 1]);
    // each sequence's last token, in input order
    assert.deepEqual([...p.last], [4, 14, 12, 9, 8]);
    for (let i = 0; i < seqs.length; i++) assert.equal(p.tokens[p.last[i]], seqs[i][seqs[i].length - 1]);
  });

  it("the bias lets a token see only earlier tokens of its own sequence; padding sees itself", () => {
    const p = packSequences([[1, 2], [3, 4, 5], [6]], PAD, 4); // rows [3 4 5 6] [1 2 pad pad]
    assert.equal(p.rows, 2);
    const allowed = (r: number, q: number) =>
      Array.from({ length: 4 }, (_, k) => (p.bias[(r * 4 + q) * 4 + k] === 0 ? 1 : 0)).join("");
    assert.deepEqual([0, 1, 2, 3].map((q) => allowed(0, q)), ["1000", "1100", "1110", "0001"]);
    assert.deepEqual([0, 1, 2, 3].map((q) => allowed(1, q)), ["1000", "1100", "0010", "0001"]);
    for (const b of p.bias) assert.ok(b === 0 || b === NEG);
    assert.deepEqual([...p.tokens.slice(4)], [1, 2, PAD, PAD]);
  });

  it("names the offending sequence", () => {
    assert.throws(() => packSequences([], PAD), /no sequences/);
    assert.throws(() => packSequences([[1], []], PAD), /sequence 1 is empty/);
    assert.throws(() => packSequences([[1, 2, 3]], PAD, 2), /sequence 0 has 3 tokens, more than the row length 2/);
  });
});

describe("a packed batch computes what each sequence computes alone", () => {
  const cfg: ModelConfig = { vocab_size: 30, context: 16, d_model: 16, n_layers: 2, n_heads: 2, dropout: 0 };
  const seqs = [[1, 5, 7, 9, 11, 13], [1, 4], [1, 8, 8, 3], [1, 20], [1, 2, 3, 4, 5]];

  const alone = (m: GPT, s: number[]) => m.scalar(m.hiddenStates(tf.tensor2d([s], [1, s.length], "int32"))).reshape([s.length]);
  const packed = (m: GPT) => {
    const p = packSequences(seqs, PAD);
    const t = packingTensors(p);
    const h = m.hiddenStates(t.tokens, { packed: { positions: t.positions, bias: t.bias } });
    return { p, s: m.scalar(h).reshape([p.rows * p.length]) };
  };

  it("hidden states at every token", () => {
    const m = new GPT(cfg, { seed: 3, head: "reward" });
    tf.tidy(() => {
      const { p, s } = packed(m);
      assert.ok(p.rows < seqs.length, "some sequences share a row");
      const flat = s.dataSync();
      seqs.forEach((q, i) => {
        const ref = alone(m, q).dataSync();
        const start = p.last[i] - q.length + 1;
        for (let j = 0; j < q.length; j++) {
          assert.ok(Math.abs(flat[start + j] - ref[j]) < 1e-5, `sequence ${i} token ${j}: ${flat[start + j]} vs ${ref[j]}`);
        }
      });
    });
    m.dispose();
  });

  it("gradients of a loss on the last tokens", () => {
    const m = new GPT(cfg, { seed: 4, head: "reward" });
    const vars = m.trainableVariables();
    const w = seqs.map((_, i) => i - 2); // an arbitrary linear loss of the last-token scores
    const gPacked = tf.variableGrads(() => {
      const { p, s } = packed(m);
      return tf.sum(tf.mul(tf.gather(s, tf.tensor1d(p.last, "int32")), tf.tensor1d(w))) as tf.Scalar;
    }, vars).grads;
    const gAlone = tf.variableGrads(() => {
      const lasts = seqs.map((q) => tf.slice(alone(m, q), [q.length - 1], [1]));
      return tf.sum(tf.mul(tf.concat(lasts), tf.tensor1d(w))) as tf.Scalar;
    }, vars).grads;
    let worst = 0, scale = 0;
    for (const name of Object.keys(gAlone)) {
      worst = Math.max(worst, tf.tidy(() => tf.max(tf.abs(tf.sub(gPacked[name], gAlone[name]))).dataSync()[0]));
      scale = Math.max(scale, tf.tidy(() => tf.max(tf.abs(gAlone[name])).dataSync()[0]));
    }
    assert.ok(scale > 1e-3, "the loss has a gradient");
    assert.ok(worst < 1e-5 * Math.max(1, scale), `largest gradient difference ${worst}`);
    tf.dispose([...Object.values(gPacked), ...Object.values(gAlone)]);
    m.dispose();
  });

  it("refuses a layout that does not fit the tokens, or a mask beside it", () => {
    const m = new GPT(cfg, { seed: 5, head: "reward" });
    const t = packingTensors(packSequences(seqs, PAD));
    const tokens = tf.zeros([t.tokens.shape[0], 3], "int32") as tf.Tensor2D;
    assert.throws(() => m.hiddenStates(tokens, { packed: { positions: t.positions, bias: t.bias } }), /packed positions .* must be/);
    assert.throws(() => m.hiddenStates(t.tokens, { attnMask: tf.onesLike(t.tokens) as tf.Tensor2D, packed: t }), /attnMask or packed, not both/);
    m.dispose();
  });
});

describe("benchmark (printed, not asserted): a reward-model gradient step, padded against packed", () => {
  it("course-sized model, 128 sequences of 9-46 tokens (the course's pairs: mean ~18, longest ~34-46)", () => {
    const course: ModelConfig = { vocab_size: 2048, context: 64, d_model: 128, n_layers: 4, n_heads: 4, dropout: 0 };
    const m = new GPT(course, { seed: 1, head: "reward" });
    const vars = m.trainableVariables();
    const r = new Rng(3);
    // lengths skewed short like the course's completions: 9 + 37 * u^2, u uniform
    const seqs = Array.from({ length: 128 }, () => Array.from({ length: 9 + Math.floor(37 * r.next() ** 2) }, () => 3 + Math.floor(r.next() * 2000)));
    const L = Math.max(...seqs.map((s) => s.length));
    // padded: right-padded rows with a mask, the score picked at each row's last real token
    const padded = () => {
      const ids = new Int32Array(128 * L), mask = new Float32Array(128 * L), last = new Int32Array(128);
      seqs.forEach((s, b) => { ids.set(s, b * L); mask.fill(1, b * L, b * L + s.length); last[b] = b * L + s.length - 1; });
      const h = m.hiddenStates(tf.tensor2d(ids, [128, L], "int32"), { attnMask: tf.tensor2d(mask, [128, L]) });
      return tf.sum(tf.gather(m.scalar(h).reshape([128 * L]), tf.tensor1d(last, "int32"))) as tf.Scalar;
    };
    const packed = () => {
      const t = packingTensors(packSequences(seqs, PAD));
      const h = m.hiddenStates(t.tokens, { packed: t });
      return tf.sum(tf.gather(m.scalar(h).reshape([t.tokens.size]), t.last)) as tf.Scalar;
    };
    const time = (f: () => tf.Scalar, n: number) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) { const { value, grads } = tf.variableGrads(f, vars); value.dataSync(); tf.dispose([value, ...Object.values(grads)]); }
      return (performance.now() - t0) / n;
    };
    time(padded, 1); time(packed, 1); // warm-up
    const a = time(padded, 3), b = time(packed, 3);
    const p = packSequences(seqs, PAD);
    const real = seqs.reduce((s, q) => s + q.length, 0);
    console.log(`# reward-model gradient step, ${tf.getBackend()}: padded [128 x ${L}] ${a.toFixed(0)} ms, packed [${p.rows} x ${p.length}] ` +
      `${b.toFixed(0)} ms, speed-up ${(a / b).toFixed(2)}x; real tokens ${real}: ${(100 * real / (128 * L)).toFixed(0)}% of the padded batch, ` +
      `${(100 * real / (p.rows * p.length)).toFixed(0)}% of the packed one`);
    assert.ok(a > 0 && b > 0);
    m.dispose();
  });
});
