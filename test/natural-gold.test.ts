// The natural gold (lib/reward/natural-gold.ts) and its character n-gram model (lib/reward/char-ngram.ts): degenerate
// text scores low whatever its words, natural review sentences keep VADER's sentiment, agreement with the human labels
// is at least VADER's, the scorer is fast and deterministic, and the n-gram model is a proper distribution trained
// only on text no model of the course sees.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CharNgramModel, NGRAM_ALPHABET, splitSentences } from "../lib/reward/char-ngram";
import {
  NATURAL_POSITIVE_EXAMPLES, goldProbeFamilies, naturalGold, naturalGoldModel, naturalGoldParts, naturalGoldTrainingText,
  normaliseForSentiment,
} from "../lib/reward/natural-gold";
import { goldScore } from "../lib/reward/labeller";
import { thresholdAccuracy, valThreshold } from "../lib/reward/evaluate";
import { loadCorpus, loadReviews, splitCorpus } from "../lib/lm/data";

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

describe("CharNgramModel (interpolated Kneser-Ney over characters)", () => {
  it("gives a distribution over the alphabet that sums to 1 in seen, unseen and empty contexts", () => {
    const m = naturalGoldModel();
    for (const prefix of ["", "the pasta was", "and the", "xqzj", "~~~~", "Moby Dick is a wh"]) {
      const d = m.distribution(prefix);
      let sum = 0;
      for (let s = 1; s <= NGRAM_ALPHABET; s++) {
        assert.ok(d[s] > 0, `every symbol has a probability after ${JSON.stringify(prefix)}`);
        sum += d[s];
      }
      assert.ok(Math.abs(sum - 1) < 1e-9, `sum after ${JSON.stringify(prefix)} is ${sum}`);
    }
  });

  it("prefers English to scrambled English, and learns from its training text", () => {
    const m = new CharNgramModel(["the cat sat on the mat.", "the dog sat on the log."], 4);
    assert.ok(m.bitsPerChar("the cat sat on the log.") < m.bitsPerChar("tge cta tas no eht gol."));
    const big = naturalGoldModel();
    assert.ok(big.bitsPerChar("The food was good and the staff were kind.") < big.bitsPerChar("Teh fdoo wsa godo adn hte sfatf ewre knid."));
    assert.ok(big.endBits("The room was clean and the") > big.endBits("The room was clean") + 5, "ending after \"the\" costs");
  });

  it("splits running text into sentences", () => {
    assert.deepEqual(splitSentences("It rained. Then it \"stopped.\" Why? 3 men came!\nNew line"),
      ["It rained.", "Then it \"stopped.\"", "Why?", "3 men came!", "New line"]);
  });

  it("trains on the reserved and val documents only: no train document, no review sentence", () => {
    const { train } = splitCorpus(loadCorpus());
    const trainDocs = new Set(train.split("\n\n").map((d) => d.trim()));
    const text = naturalGoldTrainingText();
    const joined = text.join("\n");
    // every training paragraph's first sentence is checked against the train documents' paragraphs
    const trainParagraphs = new Set([...trainDocs].flatMap((d) => d.split("\n")));
    const { reserved, val } = splitCorpus(loadCorpus());
    for (const para of (reserved + "\n" + val).split("\n").filter((p) => p.length > 200)) {
      assert.ok(!trainParagraphs.has(para), "a reserved/val paragraph is also a train paragraph");
    }
    assert.ok(text.length > 1000 && joined.length > 500_000, `${joined.length} characters of training text`);
    for (const r of loadReviews()) {
      if (r.text.length >= 40) assert.ok(!joined.includes(r.text), `review in the n-gram's training text: ${r.text}`);
    }
    // the text really is the held-out part: a long train paragraph does not occur in it
    const longTrain = [...trainParagraphs].filter((p) => p.length > 300).slice(0, 50);
    for (const p of longTrain) assert.ok(!joined.includes(p.slice(0, 200)), "a train paragraph is in the n-gram's text");
  });
});

describe("naturalGold", () => {
  it("scores every degenerate probe below 0.3 and below the median natural positive sentence", () => {
    const positives = loadReviews().filter((r) => r.label === 1).map((r) => naturalGold(r.text));
    const natMedian = median(positives);
    const bound = Math.min(0.3, natMedian);
    const failures: string[] = [];
    for (const { family, examples } of goldProbeFamilies(8)) {
      for (const e of examples) {
        const s = naturalGold(e);
        if (!(s < bound)) failures.push(`${family}: ${s.toFixed(3)} VADER ${goldScore(e).toFixed(3)} ${JSON.stringify(e)}`);
      }
    }
    console.log(`natural positive median ${natMedian.toFixed(3)}; ${goldProbeFamilies(8).length} families x 8 probes`);
    assert.deepEqual(failures, []);
  });

  it("keeps the sentiment of natural review sentences (medians within 10% of VADER's)", () => {
    const all = loadReviews();
    for (const label of [1, 0]) {
      const texts = all.filter((r) => r.label === label).map((r) => r.text);
      const v = median(texts.map(goldScore)), n = median(texts.map(naturalGold));
      console.log(`label ${label}: median VADER ${v.toFixed(4)}, natural gold ${n.toFixed(4)}`);
      assert.ok(Math.abs(n - v) <= 0.1 * Math.abs(v), `label ${label}: ${n} vs VADER ${v}`);
    }
    for (const t of NATURAL_POSITIVE_EXAMPLES) assert.ok(naturalGold(t) > 0.3, `${t}: ${naturalGold(t)}`);
    assert.ok(naturalGold("The food was cold and the waiter was rude.") < -0.3, "natural negative stays negative");
  });

  it("agrees with the human labels at least as well as VADER (val threshold, test accuracy)", () => {
    const val = loadReviews("val"), test = loadReviews("test");
    const vl = val.map((r) => r.label), tl = test.map((r) => r.label);
    const agreement = (f: (t: string) => number) =>
      thresholdAccuracy(test.map((r) => f(r.text)), tl, valThreshold(val.map((r) => f(r.text)), vl));
    const natural = agreement(naturalGold), vader = agreement(goldScore);
    console.log(`human-label agreement: natural gold ${natural.toFixed(4)}, VADER ${vader.toFixed(4)}`);
    assert.ok(natural >= vader, `natural ${natural} < VADER ${vader}`);
  });

  it("is deterministic, in [-1, 1], and its parts add up", () => {
    for (const t of [...NATURAL_POSITIVE_EXAMPLES, ...goldProbeFamilies(2).flatMap((f) => f.examples), "", "!!!", "a"]) {
      const a = naturalGoldParts(t), b = naturalGoldParts(t);
      assert.deepEqual(a, b);
      assert.ok(a.score >= -1 && a.score <= 1, `${t}: ${a.score}`);
      const sum = a.unnatural + a.shouting + a.repetition + a.list + a.incomplete;
      assert.ok(Math.abs(sum - a.penalty) < 1e-12);
      assert.equal(naturalGold(t), a.score);
    }
    // a fresh model from the same text gives the same numbers
    const fresh = new CharNgramModel(naturalGoldTrainingText(), 6);
    assert.equal(fresh.bitsPerChar("The soup was lovely."), naturalGoldModel().bitsPerChar("The soup was lovely."));
  });

  it("is smooth: a slightly more repetitive text scores slightly lower, never with a jump", () => {
    const scores = [2, 3, 4, 5, 6, 7].map((k) => naturalGold(`The view was ${Array(k).fill("stunning").join(" ")}`));
    for (let i = 1; i < scores.length; i++) assert.ok(scores[i] <= scores[i - 1] + 1e-9, `not decreasing: ${scores}`);
  });

  it("normalises away repetition, emoticons and shouting before VADER reads the text", () => {
    assert.equal(normaliseForSentiment("Nice nice NICE :) :D <3 place!!!!"), "Nice place!");
    assert.equal(normaliseForSentiment("good food, good wine"), "good food, wine");
    assert.equal(normaliseForSentiment("good food but not good wine"), "good food but not good wine", "a negated repeat stays");
  });

  it("calls short complete reviews complete and cut-off ones incomplete", () => {
    for (const t of ["Great food.", "I loved it", "Would go again", "Highly recommended"]) {
      assert.ok(naturalGoldParts(t).incomplete < 0.05, `${t}: ${naturalGoldParts(t).incomplete}`);
    }
    for (const t of ["The room was clean and the", "The staff were friendly but", "Lovely view with"]) {
      assert.ok(naturalGoldParts(t).incomplete > 0.5, `${t}: ${naturalGoldParts(t).incomplete}`);
    }
  });
});
