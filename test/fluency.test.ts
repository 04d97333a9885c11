// lib/fluency.ts: the share of real words in what a model writes.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend";
import { fluency, newPrompts, trainingVocabulary, wordsOf } from "../lib/fluency";
import { GPT } from "../lib/model";
import { sftFluency } from "../lib/sft";
import { Tokenizer } from "../lib/tokenizer";

before(async () => {
  await initBackend();
});

describe("fluency", () => {
  it("words are lower-cased letter runs with inner apostrophes", () => {
    assert.deepEqual(wordsOf("Don't! The FOOD, was 10/10 -- great."), ["don't", "the", "food", "was", "great"]);
    assert.deepEqual(wordsOf("!!! 42"), []);
  });
  it("counts the share of words found in the vocabulary, NaN for no words", () => {
    const vocab = new Set(["was", "absolutely", "already", "fun"]);
    const f = fluency(["was absolutely por,", "already fun buffeted."], vocab);
    assert.equal(f.words, 6);
    assert.equal(f.share, 4 / 6);
    assert.ok(Number.isNaN(fluency(["..."], vocab).share));
  });
  it("the training text knows English review words and not made-up ones", () => {
    const v = trainingVocabulary();
    for (const w of ["the", "food", "great", "service", "phone"]) assert.ok(v.has(w), w);
    for (const w of ["redubavable", "buffetedx"]) assert.ok(!v.has(w), w);
    assert.equal(fluency(["The food was great and the service was friendly."]).share, 1);
  });
  it("sftFluency samples completions of the new prompts: a share in [0, 1], the same for the same seed", () => {
    const tok = new Tokenizer("char", []);
    const m = new GPT({ vocab_size: tok.vocabSize, context: 32, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 3 });
    const f = sftFluency(m, tok, 8, 1);
    assert.ok(f.words > 0, "random bytes make some letter runs");
    assert.ok(f.share >= 0 && f.share <= 1, `share ${f.share}`);
    assert.deepEqual(sftFluency(m, tok, 8, 1), f, "seeded");
    assert.ok(newPrompts().length >= 20);
    m.dispose();
  });
});
