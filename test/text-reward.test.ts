// The reward model as an independent model (lib/reward/text-reward.ts): a response scores the same whether the RM reads it
// from its text or through the policy's tokens decoded and re-encoded, with the same or another tokenizer.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { GPT } from "../lib/lm/model";
import type { PreferenceData } from "../lib/reward/preferences";
import { decodeBatch, encodeForRm, reencodePreferences, sameTokenizer, textRewardFns, textScores } from "../lib/reward/text-reward";
import { encodeQueries, encodeResponses, rewardScores } from "../lib/lm/rollout";
import { Tokenizer, trainTokenizer } from "../lib/lm/tokenizer";

const TEXT = "the food was great and the service was friendly. the room was small but clean and quiet. ".repeat(40);
const bpe = trainTokenizer(TEXT, { kind: "bpe", vocab_size: 300 }); // the policy's
const chars = new Tokenizer("char", []); // the reward model's own
const PROMPTS = ["the food", "the room was", "service"];
const TEXTS = [" was great.", " small but clean and quiet", " was friendly and the food was"];
const EOS = [true, false, true];

function tinyRm(tok: Tokenizer, context: number): GPT {
  return new GPT({ vocab_size: tok.vocabSize, context, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 3, head: "reward" });
}

/** A policy batch of these texts in the policy's tokens (EOS where the row ended). */
function policyBatch(tok: Tokenizer) {
  const q = encodeQueries(tok, PROMPTS);
  const withEos = encodeResponses(tok, TEXTS, 40, true), without = encodeResponses(tok, TEXTS, 40, false);
  const pick = tf.tensor2d(EOS.map((e) => (e ? 1 : 0)), [3, 1]);
  const responses = tf.tidy(() => tf.add(tf.mul(withEos.responses, pick.toInt()), tf.mul(without.responses, tf.sub(1, pick).toInt())) as tf.Tensor2D);
  const mask = tf.tidy(() => tf.add(tf.mul(withEos.mask, pick), tf.mul(without.mask, tf.sub(1, pick))) as tf.Tensor2D);
  tf.dispose([withEos.responses, withEos.mask, without.responses, without.mask, pick]);
  return { ...q, responses, mask };
}

test("reward_text: decodeBatch gives back the prompts, the texts and which rows ended with EOS", async () => {
  await initBackend();
  const b = policyBatch(bpe);
  const d = decodeBatch(b, bpe);
  assert.deepEqual(d, { prompts: PROMPTS, texts: TEXTS, eos: EOS });
  tf.dispose(Object.values(b));
});

test("reward_text: an RM with its own tokenizer scores the policy's tokens as it scores the text", async () => {
  await initBackend();
  const rm = tinyRm(chars, 64);
  const b = policyBatch(bpe);
  const before = tf.memory().numTensors;
  const out = textRewardFns({ model: rm, tok: chars }, bpe).proxy(b);
  const viaTokens = Array.from(out.dataSync());
  out.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  const viaText = Array.from(textScores({ model: rm, tok: chars }, PROMPTS, TEXTS, EOS));
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(viaTokens[i] - viaText[i]) < 1e-5, `row ${i}: ${viaTokens[i]} vs ${viaText[i]}`);
  // an independent path: the RM's own padded batch, built from the texts in its tokens
  const q = encodeQueries(chars, PROMPTS);
  const rows = TEXTS.map((t, i) => [...chars.encode(t), ...(EOS[i] ? [chars.eos] : [])]);
  const T = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(3 * T).fill(chars.pad), m = new Float32Array(3 * T);
  rows.forEach((r, i) => { ids.set(r, i * T); m.fill(1, i * T, i * T + r.length); });
  const direct = tf.tidy(() => Array.from(rewardScores(rm, { ...q, responses: tf.tensor2d(ids, [3, T], "int32"), mask: tf.tensor2d(m, [3, T]) }).dataSync()));
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(direct[i] - viaText[i]) < 1e-4, `row ${i}: padded ${direct[i]} vs packed ${viaText[i]}`);
  // the scores differ between rows: the test compares real numbers, not one constant
  assert.ok(Math.abs(viaText[0] - viaText[1]) > 1e-6);
  tf.dispose([q.queries, q.queryMask, ...Object.values(b)]);
  rm.dispose();
});

test("reward_text: with the policy's own tokenizer the round trip gives the token path's scores", async () => {
  await initBackend();
  const rm = tinyRm(bpe, 64);
  const b = policyBatch(bpe);
  const tokens = tf.tidy(() => Array.from(rewardScores(rm, b).dataSync()));
  const text = tf.tidy(() => Array.from(textRewardFns({ model: rm, tok: bpe }, bpe).proxy(b).dataSync()));
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(tokens[i] - text[i]) < 1e-4, `row ${i}: ${tokens[i]} vs ${text[i]}`);
  assert.ok(sameTokenizer(bpe, trainTokenizer(TEXT, { kind: "bpe", vocab_size: 300 })));
  assert.ok(!sameTokenizer(bpe, chars));
  tf.dispose(Object.values(b));
  rm.dispose();
});

test("reward_text: encodeForRm keeps BOS and the end of a sequence longer than the RM's context", () => {
  const full = encodeForRm(chars, "abcdef", " xyz", true, 64);
  assert.deepEqual(full.promptIds, [chars.bos, ...chars.encode("abcdef")]);
  assert.deepEqual(full.responseIds, [...chars.encode(" xyz"), chars.eos]);
  assert.equal(full.truncated, false);
  const cut = encodeForRm(chars, "abcdef", " xyz", true, 8); // 1 + 6 + 5 = 12 tokens: 4 prompt tokens go
  assert.deepEqual(cut.promptIds, [chars.bos, ...chars.encode("ef")]);
  assert.equal(cut.promptIds.length + cut.responseIds.length, 8);
  assert.equal(cut.truncated, true);
  const deep = encodeForRm(chars, "ab", " wxyz", false, 4); // the prompt is gone and the response loses its start
  assert.deepEqual(deep.promptIds, [chars.bos]);
  assert.deepEqual(deep.responseIds, chars.encode("xyz"));
});

test("reward_text: reencodePreferences keeps texts, labels and EOS, and its ids decode to the same text", () => {
  const data: PreferenceData = {
    beta: 10,
    completions: PROMPTS.map((prompt, i) => ({
      group: 0, prompt, text: TEXTS[i], gold: i / 10, eos: EOS[i],
      promptIds: [bpe.bos, ...bpe.encode(prompt)], responseIds: [...bpe.encode(TEXTS[i]), ...(EOS[i] ? [bpe.eos] : [])],
    })),
    pairs: [{ group: 0, chosen: 2, rejected: 0, p: 0.7, split: "train" }],
  };
  const r = reencodePreferences(data, chars, 64);
  assert.deepEqual(r.pairs, data.pairs);
  assert.equal(r.truncated, 0);
  r.completions.forEach((c, i) => {
    assert.equal(chars.decode(c.promptIds), PROMPTS[i]);
    assert.equal(chars.decode(c.responseIds), TEXTS[i]);
    assert.equal(c.responseIds[c.responseIds.length - 1] === chars.eos, EOS[i]);
    assert.equal(c.gold, data.completions[i].gold);
  });
});
