import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../lib/core/rng";
import { BOS, EOS, PAD, Tokenizer, pretokenize, tokenizerStats, trainTokenizer } from "../lib/lm/tokenizer";

const TEXT = [
  "The food was great. The service was great, and the staff was great too!",
  "I didn't like the movie; the plot was thin and the acting was poor.",
  "Call me Ishmael. Some years ago, never mind how long precisely, having little money in my purse...",
  "The State of the Union is strong: 2021 was a year of recovery.",
].join("\n").repeat(20);

/** Random strings over ASCII, whitespace runs, accented letters, CJK, emoji (astral plane) and digits. */
function randomString(rng: Rng, n: number): string {
  const pools = [
    () => String.fromCharCode(32 + rng.int(95)),
    () => rng.choice([" ", "  ", "\n", "\t", "\r\n", "   \n "]),
    () => String.fromCodePoint(0xc0 + rng.int(0x180)),
    () => String.fromCodePoint(0x4e00 + rng.int(0x5000)),
    () => String.fromCodePoint(0x1f300 + rng.int(0x300)),
    () => String.fromCodePoint(1 + rng.int(0x10fff0)).replace(/[\ud800-\udfff]/g, "x"),
    () => rng.choice(["'s", "'ll", "don't", "123", "4.5", "!!!", "<eos>"]),
  ];
  let s = "";
  for (let i = 0; i < n; i++) s += rng.choice(pools)();
  return s;
}

test("pre-tokenizer pieces concatenate back to the text (nothing skipped)", () => {
  const rng = new Rng(1);
  for (let i = 0; i < 200; i++) {
    const s = randomString(rng, 40);
    assert.equal(pretokenize(s).join(""), s);
  }
  assert.deepEqual(pretokenize("I don't  like it!"), ["I", " don", "'t", " ", " like", " it", "!"]);
});

test("BPE: exact round-trip over random unicode strings, and on the training text", () => {
  const tok = trainTokenizer(TEXT, { kind: "bpe", vocab_size: 300 });
  const rng = new Rng(2);
  for (let i = 0; i < 300; i++) {
    const s = randomString(rng, 1 + rng.int(60));
    assert.equal(tok.decode(tok.encode(s)), s);
  }
  assert.equal(tok.decode(tok.encode(TEXT)), TEXT);
  assert.equal(tok.decode(tok.encode("")), "");
});

test("BPE learns the most frequent pair first and compresses frequent words", () => {
  // " a" occurs 6 times; "b" next to "c" 3 times: the first merge must be (" ", "a").
  const tok = trainTokenizer(" a a a a a a bc bc bc", { kind: "bpe", vocab_size: 262 });
  assert.deepEqual(tok.merges[0], [32, 97]);
  assert.equal(tok.encode(" a").length, 1);
  const big = trainTokenizer(TEXT, { kind: "bpe", vocab_size: 400 });
  assert.equal(big.encode(" great").length, 1);
  assert.ok(tokenizerStats(big, TEXT).charsPerToken > 3, `chars/token ${tokenizerStats(big, TEXT).charsPerToken}`);
  assert.ok(big.vocabSize <= 400);
});

test("specials are distinct, never produced by encode, dropped or shown by decode", () => {
  const tok = trainTokenizer(TEXT, { kind: "bpe", vocab_size: 300 });
  assert.equal(new Set([PAD, BOS, EOS]).size, 3);
  assert.ok(tok.pad !== tok.eos);
  const ids = tok.encode("<eos> <pad> text");
  assert.ok(!ids.includes(EOS) && !ids.includes(PAD) && !ids.includes(BOS));
  assert.equal(tok.decode([BOS, ...tok.encode("hi"), EOS, PAD]), "hi");
  assert.equal(tok.decode([BOS, ...tok.encode("hi"), EOS], { keepSpecial: true }), "<bos>hi<eos>");
  assert.throws(() => tok.decode([tok.vocabSize]), /outside the vocabulary/);
});

test("save/load JSON gives the same encoder; a tampered file is refused", () => {
  const tok = trainTokenizer(TEXT, { kind: "bpe", vocab_size: 320 });
  const back = Tokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
  assert.equal(back.vocabSize, tok.vocabSize);
  assert.deepEqual(back.encode(TEXT), tok.encode(TEXT));
  const j = tok.toJSON();
  j.vocab_size += 1;
  assert.throws(() => Tokenizer.fromJSON(j), /vocab_size/);
  assert.throws(() => Tokenizer.fromJSON({ ...tok.toJSON(), merges: [[PAD, 97]] }), /special/);
});

test("char-level baseline: one token per ASCII character, same interface, round-trips anything", () => {
  const ch = trainTokenizer(TEXT, { kind: "char", vocab_size: 1024 });
  assert.equal(ch.vocabSize, 259);
  assert.equal(ch.encode("Hello, world").length, 12);
  const rng = new Rng(3);
  for (let i = 0; i < 100; i++) {
    const s = randomString(rng, 30);
    assert.equal(ch.decode(ch.encode(s)), s);
  }
  const bpe = trainTokenizer(TEXT, { kind: "bpe", vocab_size: 400 });
  assert.ok(tokenizerStats(bpe, TEXT).tokens < tokenizerStats(ch, TEXT).tokens / 2);
});

test("vocab_size out of range names the key", () => {
  assert.throws(() => trainTokenizer(TEXT, { kind: "bpe", vocab_size: 100 }), /tokenizer.vocab_size must be an integer in \[259/);
});
