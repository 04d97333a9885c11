import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../lib/core/backend";
import { loadReviews, words } from "../lib/lm/data";
import { Labeller, goldScore } from "../lib/reward/labeller";
import { GPT } from "../lib/lm/model";
import {
  Completion,
  PreferenceData,
  allPairs,
  describePairs,
  heldoutPrompts,
  promptKey,
  labelPairs,
  pairsFromCsv,
  pairsToCsv,
  parseCsv,
  reviewPrompts,
  reviewPromptsWithReferences,
  samplePreferencePairs,
  sentenceCompletions,
} from "../lib/reward/preferences";
import { Rng } from "../lib/core/rng";
import { BOS, EOS, PAD, Tokenizer } from "../lib/lm/tokenizer";

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const tok = new Tokenizer("char", []); // one token per byte: token ids are the characters' codes

/** A completion with hand-picked fields; tokens are the characters' codes (char tokenizer). */
function comp(group: number, prompt: string, text: string, gold: number, eos = true): Completion {
  return {
    group, prompt, text, gold,
    promptIds: [BOS, ...tok.encode(prompt)],
    responseIds: [...tok.encode(text), ...(eos ? [EOS] : [])],
    eos,
  };
}

before(async () => {
  await initBackend();
});

describe("prompts", () => {
  it("reviewPrompts: the first 2-4 words of training-split reviews, deterministic for a seed", () => {
    const train = new Set(loadReviews("train").map((r) => r.text));
    const prompts = reviewPrompts(300, new Rng(7), 2, 4);
    assert.equal(prompts.length, 300);
    for (const p of prompts) {
      assert.ok([...train].some((t) => t.startsWith(p + " ")), `"${p}" is the start of a training review`);
      const n = words(p).length;
      assert.ok(n >= 1 && n <= 4, `"${p}" has ${n} words`); // 1 only for a 2-word review (capped at n - 1)
    }
    assert.ok(prompts.filter((p) => words(p).length >= 2).length > 280, "almost all prompts have 2-4 words");
    assert.deepEqual(reviewPrompts(300, new Rng(7), 2, 4), prompts);
    assert.notDeepEqual(reviewPrompts(300, new Rng(8), 2, 4), prompts);
  });

  it("reviewPrompts cycles through the reviews when asked for more prompts than there are", () => {
    const n = loadReviews("train").length + 50;
    assert.equal(reviewPrompts(n, new Rng(1), 2, 4).length, n);
  });

  it("heldoutPrompts splits by the first two words: prompts that start alike land on the same side", () => {
    assert.equal(promptKey("The food, was"), "the food");
    assert.equal(promptKey("I"), "i");
    const prompts = ["The food", "The food was", "the food is so", "Great place", "Great place to", "My phone", "Service was", "Not worth"];
    for (let seed = 0; seed < 20; seed++) {
      const h = heldoutPrompts(prompts, 0.4, new Rng(seed));
      const side = (p: string) => h.has(p);
      assert.equal(side("The food"), side("The food was"));
      assert.equal(side("The food"), side("the food is so"));
      assert.equal(side("Great place"), side("Great place to"));
      assert.ok(h.size > 0 && h.size < prompts.length);
    }
  });

  it("heldoutPrompts: a seeded share of the distinct prompts, independent of their order", () => {
    const prompts = Array.from({ length: 200 }, (_, i) => `p${i % 40}`); // 40 distinct, each 5 times
    const h = heldoutPrompts(prompts, 0.15, new Rng(3));
    assert.equal(h.size, 6); // round(0.15 * 40)
    for (const p of h) assert.ok(prompts.includes(p));
    assert.deepEqual([...heldoutPrompts(prompts.slice().reverse(), 0.15, new Rng(3))].sort(), [...h].sort());
    assert.equal(heldoutPrompts(["a", "b"], 0.01, new Rng(1)).size, 1, "at least one held out");
    assert.equal(heldoutPrompts(["a", "b"], 0.99, new Rng(1)).size, 1, "at least one left to train on");
  });
});

describe("labelling pairs", () => {
  it("allPairs(k) lists the k(k-1)/2 pairs i < j", () => {
    assert.deepEqual(allPairs(2), [[0, 1]]);
    assert.deepEqual(allPairs(4), [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]);
  });

  it("labelPairs: all pairs within each group, p = sigmoid(beta * (gold_chosen - gold_rejected)), split by prompt", () => {
    const completions = [
      comp(0, "The food", " was great", 0.6), comp(0, "The food", " was bad", -0.5), comp(0, "The food", " was", 0),
      comp(1, "I liked", " it", 0.4), comp(1, "I liked", " nothing", -0.2), comp(1, "I liked", " it a lot", 0.45),
    ];
    const beta = 10;
    const pairs = labelPairs(completions, 3, new Labeller(beta, 5), new Set(["I liked"]));
    assert.equal(pairs.length, 6);
    for (const q of pairs) {
      const c = completions[q.chosen], r = completions[q.rejected];
      assert.equal(c.group, r.group, "a pair compares completions of the same prompt");
      assert.ok(Math.abs(q.p - sigmoid(beta * (c.gold - r.gold))) < 1e-12);
      assert.equal(q.split, c.prompt === "I liked" ? "heldout" : "train");
    }
    // every unordered pair of each group exactly once
    const keys = pairs.map((q) => [Math.min(q.chosen, q.rejected), Math.max(q.chosen, q.rejected)].join("-")).sort();
    assert.deepEqual(keys, ["0-1", "0-2", "1-2", "3-4", "3-5", "4-5"]);
    // deterministic for the labeller's seed
    assert.deepEqual(labelPairs(completions, 3, new Labeller(beta, 5), new Set(["I liked"])), pairs);
  });

  it("labelPairs with a noiseless labeller always chooses the higher gold score", () => {
    const completions = [comp(0, "a", " x", 0.1), comp(0, "a", " y", 0.3), comp(1, "b", " z", -0.4), comp(1, "b", " w", -0.9)];
    const pairs = labelPairs(completions, 2, new Labeller(Infinity, 1), new Set(["b"]));
    assert.deepEqual(pairs.map((q) => [q.chosen, q.rejected, q.p]), [[1, 0, 1], [2, 3, 1]]);
  });
});

describe("samplePreferencePairs (a tiny untrained policy)", () => {
  it("k completions per prompt, gold = VADER(prompt + completion), sampled tokens kept, no prompt in both splits", () => {
    const model = new GPT({ vocab_size: tok.vocabSize, context: 40, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 3 });
    const prompts = reviewPrompts(30, new Rng(2), 2, 4);
    const c = { prompts: 30, completions_per_prompt: 3, max_new_tokens: 6, temperature: 1, include_reference: false, review_sentences: 0, labeller_beta: 10, heldout_fraction: 0.2 };
    const d = samplePreferencePairs(model, tok, prompts, c, { rng: new Rng(11), promptsPerBatch: 8 });
    assert.equal(d.completions.length, 90);
    assert.equal(d.pairs.length, 90); // 3 pairs per prompt
    d.completions.forEach((x, i) => {
      assert.equal(x.group, Math.floor(i / 3));
      assert.equal(x.prompt, prompts[x.group]);
      assert.equal(x.gold, goldScore(x.prompt + x.text));
      assert.deepEqual(x.promptIds, [BOS, ...tok.encode(x.prompt)]);
      assert.ok(x.responseIds.length >= 1 && x.responseIds.length <= 6);
      assert.equal(x.eos, x.responseIds[x.responseIds.length - 1] === EOS);
      assert.equal(tok.decode(x.responseIds), x.text);
      assert.ok(!x.responseIds.includes(PAD));
    });
    // the split is by prompt text: no prompt has pairs on both sides
    const trainPrompts = new Set(d.pairs.filter((q) => q.split === "train").map((q) => d.completions[q.chosen].prompt));
    const heldPrompts = new Set(d.pairs.filter((q) => q.split === "heldout").map((q) => d.completions[q.chosen].prompt));
    assert.ok(heldPrompts.size > 0 && trainPrompts.size > 0);
    for (const p of heldPrompts) assert.ok(!trainPrompts.has(p), `prompt "${p}" leaks into both splits`);
    // the same seed gives the same data
    const again = samplePreferencePairs(model, tok, prompts, c, { rng: new Rng(11), promptsPerBatch: 8 });
    assert.deepEqual(again, d);
    model.dispose();
  });

  it("include_reference: each training group gains its real sentence (if short enough), paired with every sample; samples' pairs unchanged", () => {
    const model = new GPT({ vocab_size: tok.vocabSize, context: 40, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 3 });
    const drawn = reviewPromptsWithReferences(30, new Rng(2), 2, 4);
    assert.deepEqual(drawn.map((x) => x.prompt), reviewPrompts(30, new Rng(2), 2, 4), "the same prompts as reviewPrompts");
    const prompts = drawn.map((x) => x.prompt), references = drawn.map((x) => x.reference);
    const c = { prompts: 30, completions_per_prompt: 3, max_new_tokens: 12, temperature: 1, include_reference: false, review_sentences: 0, labeller_beta: 10, heldout_fraction: 0.2 };
    const plain = samplePreferencePairs(model, tok, prompts, c, { rng: new Rng(11), promptsPerBatch: 8 });
    const d = samplePreferencePairs(model, tok, prompts, { ...c, include_reference: true }, { rng: new Rng(11), promptsPerBatch: 8, references });
    assert.deepEqual(d.completions.slice(0, 90), plain.completions);
    assert.deepEqual(d.pairs.slice(0, 90), plain.pairs);
    const refs = d.completions.slice(90);
    const held = new Set(plain.pairs.filter((q) => q.split === "heldout").map((q) => plain.completions[q.chosen].prompt));
    const expected = drawn.filter((x) => !held.has(x.prompt) && tok.encode(x.reference).length + 1 <= 12);
    assert.ok(refs.length > 0 && refs.length === expected.length, `${refs.length} references, expected ${expected.length}`);
    for (const r of refs) {
      assert.equal(r.source, "reference");
      assert.equal(r.text, references[r.group]);
      assert.ok(!held.has(r.prompt));
      assert.deepEqual(r.responseIds, [...tok.encode(r.text), EOS]);
      assert.equal(r.gold, goldScore(r.prompt + r.text));
    }
    const refPairs = d.pairs.slice(90);
    assert.equal(refPairs.length, 3 * refs.length);
    for (const q of refPairs) {
      assert.equal(q.split, "train");
      const [a, b] = [d.completions[q.chosen], d.completions[q.rejected]];
      assert.equal(a.group, b.group);
      assert.ok((a.source === "reference") !== (b.source === "reference"), "one side is the reference");
    }
    // pairs.csv keeps the source
    const back = pairsFromCsv(pairsToCsv(d), 10);
    assert.deepEqual(back.completions.map((x) => x.source ?? "policy"), d.completions.map((x) => x.source ?? "policy"));
    assert.throws(() => samplePreferencePairs(model, tok, prompts, { ...c, include_reference: true }, { rng: new Rng(11) }), /include_reference is true but no references/);
    model.dispose();
  });

  it("review_sentences: groups of k real training sentences answer the empty prompt, all pairs labelled; samples' pairs unchanged", () => {
    const model = new GPT({ vocab_size: tok.vocabSize, context: 40, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 3 });
    const prompts = reviewPrompts(30, new Rng(2), 2, 4);
    const c = { prompts: 30, completions_per_prompt: 3, max_new_tokens: 8, temperature: 1, include_reference: false, review_sentences: 0, labeller_beta: 10, heldout_fraction: 0.2 };
    const plain = samplePreferencePairs(model, tok, prompts, c, { rng: new Rng(11), promptsPerBatch: 8 });
    const d = samplePreferencePairs(model, tok, prompts, { ...c, review_sentences: 20 }, { rng: new Rng(11), promptsPerBatch: 8 });
    assert.deepEqual(d.completions.slice(0, 90), plain.completions);
    assert.deepEqual(d.pairs.slice(0, 90), plain.pairs);
    const reviews = d.completions.slice(90);
    assert.equal(reviews.length, 18, "whole groups of 3: 18 of the 20 sentences");
    const train = new Set(loadReviews("train").map((r) => r.text));
    const held = [...new Set(plain.pairs.filter((q) => q.split === "heldout").map((q) => plain.completions[q.chosen].prompt))];
    for (const r of reviews) {
      assert.equal(r.source, "review");
      assert.equal(r.prompt, "");
      assert.ok(train.has(r.text), `"${r.text}" is a training sentence`);
      assert.ok(!held.some((p) => r.text.startsWith(p)), `"${r.text}" begins with a held-out prompt`);
      assert.deepEqual(r.promptIds, [BOS]);
      assert.equal(r.gold, goldScore(r.text));
    }
    assert.equal(new Set(reviews.map((r) => r.group)).size, 6);
    assert.ok(Math.min(...reviews.map((r) => r.group)) > Math.max(...plain.completions.map((x) => x.group)), "new group ids");
    const reviewPairs = d.pairs.slice(90);
    assert.equal(reviewPairs.length, 6 * 3);
    for (const q of reviewPairs) {
      assert.equal(q.split, "train");
      assert.equal(d.completions[q.chosen].group, d.completions[q.rejected].group);
      assert.equal(d.completions[q.chosen].source, "review");
    }
    const back = pairsFromCsv(pairsToCsv(d), 10);
    assert.deepEqual(back.completions.map((x) => x.source ?? "policy"), d.completions.map((x) => x.source ?? "policy"));
    assert.match(describePairs(d), /90 policy, 18 review/);
    model.dispose();
  });
});

describe("token batches", () => {
  it("sentenceCompletions: BOS, the sentence, EOS; long sentences cut to fit the context", () => {
    const { completions, truncated } = sentenceCompletions(tok, ["Great!", "x".repeat(50)], 12);
    assert.deepEqual(completions[0].promptIds, [BOS]);
    assert.deepEqual(completions[0].responseIds, [...tok.encode("Great!"), EOS]);
    assert.equal(completions[0].gold, goldScore("Great!"));
    assert.equal(completions[1].responseIds.length, 11); // BOS + 10 tokens + EOS = 12
    assert.equal(completions[1].responseIds[10], EOS);
    assert.equal(truncated, 1);
  });
});

describe("pairs.csv", () => {
  it("parseCsv reads quoted cells with commas, quotes and newlines", () => {
    assert.deepEqual(parseCsv('a,b,c\n1,"x, ""y""",\n2,"line\nbreak",z\n'), [["a", "b", "c"], ["1", 'x, "y"', ""], ["2", "line\nbreak", "z"]]);
  });

  it("round trip: pairsFromCsv(pairsToCsv(d)) rebuilds the data exactly", () => {
    const completions = [
      comp(0, "Well, \"it\"", " was, \"fine\"\nreally", 0.2023), comp(0, "Well, \"it\"", " no", -0.296, false),
      comp(1, "Bad", " food", -0.5423), comp(1, "Bad", "", -0.5423),
    ];
    const d: PreferenceData = { completions, pairs: labelPairs(completions, 2, new Labeller(10, 1), new Set(["Bad"])), beta: 10 };
    const text = pairsToCsv(d);
    assert.equal(text.split("\n")[0], "group,split,prompt,chosen,rejected,gold_chosen,gold_rejected,p,chosen_eos,rejected_eos,chosen_index,rejected_index,prompt_tokens,chosen_tokens,rejected_tokens,chosen_source,rejected_source");
    assert.deepEqual(pairsFromCsv(text, 10), d);
  });
});

