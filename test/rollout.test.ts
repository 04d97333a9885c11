import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { GPT, ModelConfig } from "../lib/lm/model";
import { Tokenizer } from "../lib/lm/tokenizer";
import { Rng } from "../lib/core/rng";
import {
  Rollout, disposeRollout, drawTokens, encodeQueries, encodeResponses, lastRealMask, rewardScores, sampleRollout, sampleToken, scoreResponses,
} from "../lib/lm/rollout";

before(async () => {
  await initBackend();
});

// Char-level tokenizer (259 ids); the model's vocabulary is larger (262), so ids 259..261 exist but cannot be decoded:
// sampling must never pick them.
const tok = new Tokenizer("char", []);
const tiny: ModelConfig = { vocab_size: 262, context: 32, d_model: 32, n_layers: 2, n_heads: 2, dropout: 0.1 };
const PROMPTS = ["hi", "the food was", "a", "hello there, how", "ok then"]; // BOS + 2 .. 16 tokens: left padding

/**
 * A random tiny GPT that ends rows early: ln_f.beta is pushed along EOS's (tied) embedding, so the EOS logit gets a
 * bonus of ~eosBoost at every position. Random weights alone give EOS ~1/262 per step (rows would never end).
 */
function tinyModel(seed = 3, head: "none" | "reward" = "none", eosBoost = 20): GPT {
  const m = new GPT(tiny, { seed, head });
  const vars = m.namedVariables();
  const e = tf.tidy(() => {
    const row = tf.slice(vars.get("wte")!, [tok.eos, 0], [1, tiny.d_model]).reshape([tiny.d_model]);
    return tf.mul(row, eosBoost / tf.norm(row).dataSync()[0]);
  });
  vars.get("ln_f.beta")!.assign(e);
  e.dispose();
  return m;
}

const rows = (x: tf.Tensor2D) => x.arraySync() as number[][];

function checkConsistent(r: Rollout, T: number): void {
  const resp = rows(r.responses), mask = rows(r.mask), lp = rows(r.logprobs), q = rows(r.queries), qm = rows(r.queryMask);
  const B = r.prompts.length;
  assert.deepEqual(r.responses.shape, [B, T]);
  assert.equal(r.responses.dtype, "int32");
  assert.equal(r.mask.dtype, "float32");
  for (let b = 0; b < B; b++) {
    const n = r.lengths[b];
    assert.ok(n >= 1 && n <= T);
    assert.equal(mask[b].reduce((s, x) => s + x, 0), n, `row ${b}: sum(mask) = length`);
    for (let t = 0; t < T; t++) {
      if (t < n) {
        assert.equal(mask[b][t], 1);
        assert.ok(resp[b][t] !== tok.pad && resp[b][t] !== tok.bos && resp[b][t] < tok.vocabSize, `row ${b} t ${t}: real token ${resp[b][t]}`);
        assert.ok(lp[b][t] < 0 && Number.isFinite(lp[b][t]));
        if (t < n - 1) assert.notEqual(resp[b][t], tok.eos, `row ${b}: EOS only as the last real token`);
      } else {
        assert.equal(mask[b][t], 0);
        assert.equal(resp[b][t], tok.pad);
        assert.equal(lp[b][t], 0);
      }
    }
    assert.equal(r.eos[b], resp[b][n - 1] === tok.eos, `row ${b}: eos flag matches the last real token`);
    if (!r.eos[b]) assert.equal(n, T, `row ${b}: without EOS the row runs to maxNewTokens`);
    assert.equal(r.completions[b], tok.decode(resp[b].slice(0, n).filter((id) => id !== tok.eos)));
    // queries: left padding, then BOS, then the prompt
    const real = q[b].filter((_, j) => qm[b][j] === 1);
    const P = q[b].length;
    assert.deepEqual(real, [tok.bos, ...tok.encode(r.prompts[b])]);
    assert.deepEqual(qm[b], [...Array(P - real.length).fill(0), ...Array(real.length).fill(1)]);
    assert.ok(q[b].slice(0, P - real.length).every((id) => id === tok.pad));
  }
}

test("encodeQueries left-pads BOS + prompt; encodeResponses right-pads with EOS and cuts at T", () => {
  const { queries, queryMask } = encodeQueries(tok, ["ab", "abcd"]);
  assert.deepEqual(rows(queries), [[tok.pad, tok.pad, tok.bos, 97, 98], [tok.bos, 97, 98, 99, 100]]);
  assert.deepEqual(rows(queryMask), [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]);
  const { responses, mask } = encodeResponses(tok, ["x", "xyz"], 3);
  assert.deepEqual(rows(responses), [[120, tok.eos, tok.pad], [120, 121, 122]]);
  assert.deepEqual(rows(mask), [[1, 1, 0], [1, 1, 1]]);
  tf.dispose([queries, queryMask, responses, mask]);
});

test("masks, EOS flags, lengths and completions agree with the sampled tokens (rows that end early and rows that do not)", () => {
  const m = tinyModel();
  const T = 12;
  const r = sampleRollout(m, tok, PROMPTS, { maxNewTokens: T, temperature: 1, rng: new Rng(1) });
  checkConsistent(r, T);
  // the fixture must exercise both cases, or the checks above prove less than they claim
  assert.ok(r.eos.some(Boolean) && r.lengths.some((n) => n < T), `some rows end early: ${r.lengths}`);
  assert.ok(r.eos.some((e) => !e), `some rows run to maxNewTokens: ${r.lengths}`);
  disposeRollout(r);
  m.dispose();
});

test("sampled log-probs equal scoreResponses' full forward pass at the same temperature (padded and early-ended rows)", () => {
  const m = tinyModel(3, "none", 30);
  for (const [temperature, topK, topP] of [[1, 0, 1], [0.7, 5, 1], [1.3, 0, 0.9]] as const) {
    const r = sampleRollout(m, tok, PROMPTS, { maxNewTokens: 14, temperature, topK, topP, rng: new Rng(12) });
    assert.ok(r.lengths.some((n) => n < 14), `some rows ended early: T=${temperature} ${r.lengths}`);
    const s = scoreResponses(m, r, { temperature });
    assert.deepEqual(s.logits.shape, [PROMPTS.length, 14, tiny.vocab_size]);
    assert.deepEqual(s.hidden.shape, [PROMPTS.length, 14, tiny.d_model]);
    const a = rows(r.logprobs), b = rows(s.logprobs), mask = rows(r.mask);
    let worst = 0;
    a.forEach((row, i) => row.forEach((x, t) => {
      worst = Math.max(worst, Math.abs(x - b[i][t]));
      if (mask[i][t] === 0) assert.ok(b[i][t] === 0, "scoreResponses gives 0 at padding");
    }));
    assert.ok(worst < 1e-4, `T=${temperature} topK=${topK} topP=${topP}: max |diff| ${worst}`);
    // and each row alone, without any padding, gives the same log-probs (left padding changes nothing)
    const q = rows(r.queries), qm = rows(r.queryMask), resp = rows(r.responses);
    for (let i = 0; i < PROMPTS.length; i++) {
      const query = q[i].filter((_, j) => qm[i][j] === 1), n = r.lengths[i];
      const seq = tf.tensor2d([[...query, ...resp[i].slice(0, n)]], undefined, "int32");
      const alone = tf.tidy(() => {
        const logits = tf.div(tf.slice(m.forward(seq).logits, [0, query.length - 1, 0], [1, n, tiny.vocab_size]), temperature);
        return tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(tf.tensor2d([resp[i].slice(0, n)], undefined, "int32"), tiny.vocab_size)), -1);
      });
      const al = (alone.arraySync() as number[][])[0];
      al.forEach((x, t) => assert.ok(Math.abs(x - a[i][t]) < 1e-4, `row ${i} alone, t ${t}: ${x} vs ${a[i][t]}`));
      tf.dispose([seq, alone]);
    }
    tf.dispose([s.logits, s.logprobs, s.hidden]);
    disposeRollout(r);
  }
  m.dispose();
});

test("the same seed gives the same rollout; another seed another; the cache changes nothing but speed", () => {
  const m = tinyModel();
  const opts = (seed: number, useCache = true) => ({ maxNewTokens: 10, temperature: 1, topP: 0.95, rng: new Rng(seed), useCache });
  const a = sampleRollout(m, tok, PROMPTS, opts(5)), b = sampleRollout(m, tok, PROMPTS, opts(5));
  const c = sampleRollout(m, tok, PROMPTS, opts(6)), d = sampleRollout(m, tok, PROMPTS, opts(5, false));
  assert.deepEqual(rows(a.responses), rows(b.responses));
  assert.deepEqual(rows(a.logprobs), rows(b.logprobs));
  assert.deepEqual(a.completions, b.completions);
  assert.notDeepEqual(rows(a.responses), rows(c.responses));
  assert.deepEqual(rows(a.responses), rows(d.responses), "no-cache sampling draws the same tokens");
  const la = rows(a.logprobs), ld = rows(d.logprobs);
  la.forEach((row, i) => row.forEach((x, t) => assert.ok(Math.abs(x - ld[i][t]) < 1e-4)));
  [a, b, c, d].forEach(disposeRollout);
  m.dispose();
});

test("top-k = 1 is greedy: every token is the most likely allowed one", () => {
  const m = tinyModel();
  const r = sampleRollout(m, tok, PROMPTS, { maxNewTokens: 8, temperature: 1, topK: 1, rng: new Rng(2) });
  const s = scoreResponses(m, r, { temperature: 1 });
  const logits = s.logits.arraySync() as number[][][], resp = rows(r.responses);
  for (let b = 0; b < PROMPTS.length; b++) {
    for (let t = 0; t < r.lengths[b]; t++) {
      let best = -1;
      for (let v = 0; v < tok.vocabSize; v++) if (v !== tok.pad && v !== tok.bos && (best < 0 || logits[b][t][v] > logits[b][t][best])) best = v;
      assert.equal(resp[b][t], best, `row ${b} t ${t}`);
    }
  }
  tf.dispose([s.logits, s.logprobs, s.hidden]);
  disposeRollout(r);
  m.dispose();
});

test("sampleToken: top-k and top-p keep the hand-computed sets, banned ids never drawn, frequencies renormalised", () => {
  const p = [0.5, 0.3, 0.15, 0.05];
  const logp = p.map(Math.log);
  const none = () => false;
  const draw = (n: number, f: () => number) => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[f()]++;
    return counts.map((c) => c / n);
  };
  const rng = new Rng(9);
  // top-p 0.7: 0.5 < 0.7 <= 0.8 -> {0, 1}, renormalised 0.625 / 0.375
  const fp = draw(4000, () => sampleToken(logp, none, 0, 0.7, rng));
  assert.equal(fp[2] + fp[3], 0);
  assert.ok(Math.abs(fp[0] - 0.625) < 0.03, `${fp}`);
  // top-p 0.5 reaches 0.5 with the first token alone
  assert.deepEqual(draw(200, () => sampleToken(logp, none, 0, 0.5, rng)), [1, 0, 0, 0]);
  // top-k 3 -> {0,1,2}: 0.5/0.95
  const fk = draw(4000, () => sampleToken(logp, none, 3, 1, rng));
  assert.equal(fk[3], 0);
  assert.ok(Math.abs(fk[0] - 0.5 / 0.95) < 0.03, `${fk}`);
  // banning token 0 leaves 0.3 / 0.15 / 0.05 -> 0.6 / 0.3 / 0.1
  const fb = draw(4000, () => sampleToken(logp, (i) => i === 0, 0, 1, rng));
  assert.equal(fb[0], 0);
  assert.ok(Math.abs(fb[1] - 0.6) < 0.03 && Math.abs(fb[3] - 0.1) < 0.02, `${fb}`);
});

test("sampleToken without truncation draws what Rng.categorical draws over exp(logp) of the allowed ids (same seed, same token)", () => {
  const r = new Rng(3);
  const raw = Array.from({ length: 50 }, () => 0.01 + r.next());
  const sum = raw.reduce((x, y) => x + y, 0);
  const logp = raw.map((x) => Math.log(x / sum));
  const banned = (i: number) => i % 7 === 0 || i === 49;
  const a = new Rng(11), b = new Rng(11);
  for (let n = 0; n < 500; n++) {
    const allowed = logp.map((_, i) => i).filter((i) => !banned(i));
    const expected = allowed[b.categorical(allowed.map((i) => Math.exp(logp[i])))];
    assert.equal(sampleToken(logp, banned, 0, 1, a), expected);
  }
  assert.throws(() => sampleToken([0, 0], () => true, 0, 1, a), /every token is banned/);
});

test("drawTokens (native inverse CDF) draws sampleToken's token for the same uniform, and records log-probs at the temperature", () => {
  const V = 40, R = 300, temperature = 0.7;
  const r = new Rng(5);
  const logits = tf.tensor2d(Array.from({ length: R * V }, () => 3 * r.normal()), [R, V]);
  const banned = (i: number) => i === 0 || i === 1 || i >= 37;
  const allowed = tf.tensor1d(Array.from({ length: V }, (_, i) => (banned(i) ? 0 : 1)));
  const u = new Float32Array(R).map(() => Math.max(r.next(), 2 ** -32));
  const { ids, logprobs } = drawTokens(logits, temperature, allowed, u);
  const logp = tf.logSoftmax(tf.div(logits, temperature)).arraySync() as number[][];
  // sampleToken draws u = rng.next() once per call: feed it the same u through a stub Rng.
  const fixed = (x: number): Rng => Object.assign(Object.create(Rng.prototype) as Rng, { next: () => x });
  let same = 0;
  for (let j = 0; j < R; j++) {
    assert.ok(!banned(ids[j]), `row ${j} drew banned id ${ids[j]}`);
    assert.ok(Math.abs(logprobs[j] - logp[j][ids[j]]) < 1e-5, `row ${j}: log-prob ${logprobs[j]} vs ${logp[j][ids[j]]}`);
    if (ids[j] === sampleToken(logp[j], banned, 0, 1, fixed(u[j]))) same++;
  }
  assert.ok(same >= R - 1, `${same} of ${R} rows agree`); // float32 vs float64 running sums may split one boundary
  // the extremes of u land on the first and the last allowed id
  const ends = drawTokens(tf.zeros([2, V]) as tf.Tensor2D, 1, allowed, Float32Array.from([2 ** -32, 1]));
  assert.deepEqual([...ends.ids], [2, 36]);
  assert.throws(() => drawTokens(logits, 1, allowed, new Float32Array(3)), /3 uniforms for 300 rows/);
  tf.dispose([logits, allowed]);
});

test("errors: prompt + maxNewTokens beyond the context, bad temperature / topK / topP", () => {
  const m = tinyModel();
  // longest prompt: BOS + 16 chars = 17 tokens; 17 + 16 = 33 > 32
  assert.throws(() => sampleRollout(m, tok, PROMPTS, { maxNewTokens: 16, temperature: 1, rng: new Rng(1) }), /17 \+ 16 = 33 exceeds the model context of 32/);
  assert.throws(() => sampleRollout(m, tok, PROMPTS, { maxNewTokens: 4, temperature: 0, rng: new Rng(1) }), /temperature must be > 0/);
  assert.throws(() => sampleRollout(m, tok, PROMPTS, { maxNewTokens: 4, temperature: 1, topP: 0, rng: new Rng(1) }), /topP/);
  assert.throws(() => sampleRollout(m, tok, PROMPTS, { maxNewTokens: 4, temperature: 1, topK: 1.5, rng: new Rng(1) }), /topK/);
  const n = tf.memory().numTensors;
  assert.throws(() => sampleRollout(m, tok, PROMPTS, { maxNewTokens: 16, temperature: 1, rng: new Rng(1) }));
  assert.equal(tf.memory().numTensors, n, "a refused call leaks nothing");
  // exactly at the context is fine: 17 + 15 = 32
  const r = sampleRollout(m, tok, PROMPTS, { maxNewTokens: 15, temperature: 1, rng: new Rng(1) });
  disposeRollout(r);
  m.dispose();
});

test("rewardScores reads the last real token whatever the padding; garbage after the mask changes nothing", () => {
  const rm = tinyModel(4, "reward");
  const r = sampleRollout(rm, tok, PROMPTS, { maxNewTokens: 12, temperature: 1, rng: new Rng(3) });
  assert.ok(r.lengths.some((n) => n < 12) && r.eos.some((e) => !e), `mixed lengths ${r.lengths} ${r.eos}`);
  const got = rewardScores(rm, r).arraySync();
  const q = rows(r.queries), qm = rows(r.queryMask), resp = rows(r.responses);
  for (let b = 0; b < PROMPTS.length; b++) {
    const seq = [...q[b].filter((_, j) => qm[b][j] === 1), ...resp[b].slice(0, r.lengths[b])];
    const want = tf.tidy(() => {
      const s = rm.scalar(rm.hiddenStates(tf.tensor2d([seq], undefined, "int32")));
      return s.arraySync()[0][seq.length - 1];
    });
    assert.ok(Math.abs(got[b] - want) < 1e-4, `row ${b}: ${got[b]} vs unpadded ${want}`);
  }
  // overwrite every padded position (queries and responses) with random tokens: the masks say they are padding
  const rng = new Rng(8);
  const garbage = (x: number[][], mk: number[][]) => x.map((row, i) => row.map((id, j) => (mk[i][j] === 1 ? id : rng.int(tiny.vocab_size))));
  const noisy = {
    queries: tf.tensor2d(garbage(q, qm), undefined, "int32"), queryMask: r.queryMask,
    responses: tf.tensor2d(garbage(resp, rows(r.mask)), undefined, "int32"), mask: r.mask,
  };
  const again = rewardScores(rm, noisy).arraySync();
  again.forEach((x, b) => assert.ok(Math.abs(x - got[b]) < 1e-4, `row ${b} with garbage padding`));
  const s1 = scoreResponses(rm, r, { temperature: 1 }), s2 = scoreResponses(rm, noisy, { temperature: 1 });
  const h1 = s1.hidden.arraySync() as number[][][], h2 = s2.hidden.arraySync() as number[][][], mk = rows(r.mask);
  h1.forEach((row, b) => row.forEach((h, t) => {
    if (mk[b][t] === 1) h.forEach((x, d) => assert.ok(Math.abs(x - h2[b][t][d]) < 1e-4));
  }));
  assert.deepEqual(rows(s1.logprobs).map((row) => row.map((x) => Math.round(x * 1e4))), rows(s2.logprobs).map((row) => row.map((x) => Math.round(x * 1e4))));
  tf.dispose([noisy.queries, noisy.responses, s1.logits, s1.logprobs, s1.hidden, s2.logits, s2.logprobs, s2.hidden]);
  disposeRollout(r);
  rm.dispose();
});

test("lastRealMask marks the last 1 of each row with padding on either side", () => {
  const m = lastRealMask(tf.tensor2d([[0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 0]]));
  assert.deepEqual(rows(m), [[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]]);
});

test("scoreResponses and rewardScores are differentiable (inside tf.variableGrads)", () => {
  const m = tinyModel(5, "reward");
  const r = sampleRollout(m, tok, PROMPTS, { maxNewTokens: 6, temperature: 1, rng: new Rng(4) });
  const { value, grads } = tf.variableGrads(() => {
    const s = scoreResponses(m, r, { temperature: 0.9, training: true });
    const values = m.scalar(s.hidden);
    return tf.add(tf.sum(tf.mul(s.logprobs, r.mask)), tf.add(tf.sum(tf.mul(values, r.mask)), tf.sum(rewardScores(m, r, { training: true })))) as tf.Scalar;
  });
  assert.ok(Number.isFinite(value.dataSync()[0]));
  for (const name of ["wte", "h0.attn.w_qkv", "reward_head.w"]) {
    const g = grads[m.prefix + name];
    assert.ok(g, `gradient for ${name}`);
    assert.ok(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0, `non-zero gradient for ${name}`);
  }
  tf.dispose([value, ...Object.values(grads)]);
  disposeRollout(r);
  m.dispose();
});

test("no tensor leak: live tensors do not grow with the number of tokens or across calls", () => {
  const m = tinyModel();
  const base = tf.memory().numTensors;
  for (const [T, useCache] of [[4, true], [14, true], [14, false]] as const) {
    const r = sampleRollout(m, tok, PROMPTS, { maxNewTokens: T, temperature: 1, topK: 10, rng: new Rng(T), useCache });
    assert.equal(tf.memory().numTensors, base + 5, `T=${T} cache=${useCache}: only the rollout's 5 tensors are alive`);
    const s = scoreResponses(m, r, { temperature: 1 });
    assert.equal(tf.memory().numTensors, base + 8);
    tf.dispose([s.logits, s.logprobs, s.hidden]);
    disposeRollout(r);
    assert.equal(tf.memory().numTensors, base);
  }
  m.dispose();
});

test("benchmark (printed, not asserted): sampling tokens/s with and without the KV cache, course-sized model", () => {
  const course: ModelConfig = { vocab_size: 1024, context: 64, d_model: 192, n_layers: 4, n_heads: 4, dropout: 0.1 };
  const m = new GPT(course, { seed: 1 });
  const prompts = Array.from({ length: 64 }, (_, i) => "the food was good".slice(0, 4 + (i % 12)));
  const T = 24;
  const time = (useCache: boolean) => {
    const t0 = performance.now();
    const r = sampleRollout(m, tok, prompts, { maxNewTokens: T, temperature: 1, rng: new Rng(1), useCache });
    const s = (performance.now() - t0) / 1000;
    const n = r.lengths.reduce((a, b) => a + b, 0);
    disposeRollout(r);
    return { s, tps: n / s };
  };
  time(true); // warm-up (kernel compilation, first allocations)
  const cached = time(true), full = time(false);
  console.log(`# sampling, ${tf.getBackend()}, ${m.paramCount().toLocaleString("en-US")} params, batch 64 x ${T} new tokens: ` +
    `KV cache ${cached.tps.toFixed(0)} tok/s (${cached.s.toFixed(2)} s), no cache ${full.tps.toFixed(0)} tok/s (${full.s.toFixed(2)} s), ` +
    `speed-up ${(full.s / cached.s).toFixed(1)}x`);
  assert.ok(cached.tps > 0 && full.tps > 0);
  m.dispose();
});
