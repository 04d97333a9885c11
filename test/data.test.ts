// lib/lm/data and data/: normalisation, the committed files (counts, splits, ASCII, regeneration), prompt/response
// splitting and the pretraining batch sampler.
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { initBackend } from "../lib/core/backend";
import { repoPath, repoRoot } from "../lib/core/config";
import {
  loadCorpus,
  loadReviews,
  makeDemonstrations,
  makePretrainSampler,
  normalizeText,
  parseReviews,
  splitAtWord,
  splitCorpus,
  splitReview,
} from "../lib/lm/data";
import { Rng } from "../lib/core/rng";

before(async () => {
  await initBackend();
});

describe("normalizeText", () => {
  it("folds typography, strips accents, drops other non-ASCII, collapses whitespace", () => {
    assert.equal(normalizeText("\u201cHello\u201d\u2014the world\u2019s caf\u00e9\u2026"), '"Hello"--the world\'s cafe...');
    // Windows-1252 bytes mis-read as Latin-1 in the IMDB file: en dash, em dash, ellipsis.
    assert.equal(normalizeText("them \u0096 a true"), "them - a true");
    assert.equal(normalizeText("problems\u0097the acting"), "problems--the acting");
    assert.equal(normalizeText("is\u0085was"), "is...was");
    assert.equal(normalizeText("WH\u0152L  Qu\u00e9bec"), "WHOEL Quebec");
    assert.equal(normalizeText("\u03f0\u03b7\u03c4\u03bf\u03c2, Greek."), ", Greek.");
    assert.equal(normalizeText("  a\n\n b\t\u00a0c  "), "a b c");
  });
});

describe("data files", () => {
  it("reviews: 2,982 unique ASCII sentences, stratified 80/10/10 split", () => {
    const all = loadReviews();
    assert.equal(all.length, 2982);
    assert.equal(new Set(all.map((r) => r.text)).size, 2982, "duplicates left");
    assert.equal(new Set(all.map((r) => r.id)).size, 2982);
    for (const r of all) assert.ok(/^[\x20-\x7e]+$/.test(r.text) && r.text === r.text.trim() && !r.text.includes("  "), r.id);
    const count = (split: "train" | "val" | "test", f: (r: (typeof all)[0]) => boolean = () => true) =>
      loadReviews(split).filter(f).length;
    assert.deepEqual([count("train"), count("val"), count("test")], [2385, 299, 298]);
    assert.deepEqual([count("train", (r) => r.label === 1), count("val", (r) => r.label === 1), count("test", (r) => r.label === 1)], [1191, 149, 150]);
    for (const s of ["imdb", "yelp", "amazon"] as const) {
      const n = all.filter((r) => r.source === s).length;
      const v = count("val", (r) => r.source === s);
      assert.ok(Math.abs(v - n / 10) <= 1, `${s}: ${v} of ${n} in val`);
    }
    // Spot check against the source: the first IMDB sentence, label 0.
    assert.deepEqual(
      all.find((r) => r.id === "imdb-0000"),
      { id: "imdb-0000", text: "A very, very, very slow-moving, aimless movie about a distressed, drifting young man.", label: 0, source: "imdb", split: "val" },
    );
  });

  it("parseReviews rejects a malformed line with its line number", () => {
    const good = '{"id":"x-1","text":"Fine.","label":1,"source":"yelp","split":"train"}';
    assert.equal(parseReviews(good + "\n").length, 1);
    assert.throws(() => parseReviews(good + '\n{"id":"x-2","text":"Bad.","label":2,"source":"yelp","split":"train"}\n', "r.jsonl"), /^InputError: r\.jsonl:2: malformed review/);
  });

  it("corpus: ASCII, 261 documents (123 addresses + 138 Moby Dick parts); splitCorpus holds out every 20th and reserves every 10th", () => {
    const text = loadCorpus();
    assert.ok(/^[\x20-\x7e\n]*$/.test(text), "non-ASCII byte in corpus.txt");
    const docs = text.split("\n\n");
    assert.equal(docs.length, 261);
    assert.ok(docs[0].startsWith("To the Senate and House of Representatives: At the outgoing of the old"));
    assert.ok(text.includes("\nCall me Ishmael. Some years ago--never mind how long precisely--"));
    const { train, val, reserved } = splitCorpus(text);
    assert.equal(val.split("\n\n").length, 13); // documents 19, 39, ..., 259
    assert.equal(reserved.split("\n\n").length, 26); // documents 4, 14, ..., 254
    assert.equal(train.split("\n\n").length, 222);
    // 261 documents joined by 260 "\n\n" plus a final "\n"; the parts have 221 + 12 + 25 separators and a final "\n" each.
    assert.equal(train.length + val.length + reserved.length, text.length - 2);
    assert.ok(val.startsWith(docs[19]) && !train.includes(docs[19]));
    assert.ok(reserved.startsWith(docs[4]) && !train.includes(docs[4]) && !val.includes(docs[4]));
  });

  it("MANIFEST.json matches the files, and npm run data -- --check regenerates them byte-identically", () => {
    const manifest = JSON.parse(fs.readFileSync(repoPath("data/MANIFEST.json"), "utf8"));
    for (const f of ["corpus.txt", "reviews.jsonl"]) {
      const buf = fs.readFileSync(repoPath(`data/${f}`));
      assert.equal(buf.length, manifest[f].bytes, f);
      assert.equal(crypto.createHash("sha256").update(buf).digest("hex"), manifest[f].sha256, f);
    }
    const r = spawnSync(process.execPath, ["--import", "tsx", "tools/make-data.ts", "--check"], { cwd: repoRoot(), encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal((r.stdout.match(/^ok /gm) ?? []).length, 3, r.stdout);
  });
});

describe("prompts and responses", () => {
  it("splitAtWord keeps prompt + response === text", () => {
    assert.deepEqual(splitAtWord("The food was terrible.", 2), { prompt: "The food", response: " was terrible." });
    assert.deepEqual(splitAtWord("The food was terrible.", 3), { prompt: "The food was", response: " terrible." });
    assert.throws(() => splitAtWord("The food was terrible.", 4), /k=4 must be in \[1, 3\]/);
    assert.throws(() => splitAtWord("The food was terrible.", 0), /k=0/);
  });

  it("splitReview draws k in [min, max], capped so the response is never empty", () => {
    const rng = new Rng(7);
    const seen = new Set<number>();
    const text = "one two three four five six seven";
    for (let i = 0; i < 200; i++) {
      const pr = splitReview(text, rng, 2, 4)!;
      assert.equal(pr.prompt + pr.response, text);
      seen.add(pr.prompt.split(" ").length);
    }
    assert.deepEqual([...seen].sort(), [2, 3, 4]);
    assert.deepEqual(splitReview("Great phone.", new Rng(1), 2, 4), { prompt: "Great", response: " phone." });
    assert.equal(splitReview("Excellent.", new Rng(1), 2, 4), undefined);
  });

  it("makeDemonstrations is reproducible and skips one-word sentences", () => {
    const val = loadReviews("val");
    const a = makeDemonstrations(val, new Rng(3), 2, 4);
    const b = makeDemonstrations(val, new Rng(3), 2, 4);
    assert.deepEqual(a, b);
    const oneWord = val.filter((r) => !r.text.includes(" ")).length;
    assert.equal(a.length, val.length - oneWord);
    for (const d of a) assert.equal(d.prompt + d.response, val.find((r) => r.id === d.id)!.text);
  });
});

describe("makePretrainSampler", () => {
  // Corpus token i has value i, so a corpus window is a run of consecutive integers. Review sentence j holds
  // values 10000 + 100 * j + t, so a review row is a run of whole sentences from a sentence start.
  const corpus = Int32Array.from({ length: 1000 }, (_, i) => i);
  const reviews = Array.from({ length: 20 }, (_, j) => Int32Array.from({ length: 3 + (j % 4) }, (_, t) => 10000 + 100 * j + t));

  it("mixes round(batch * review_fraction) review rows with contiguous corpus windows", () => {
    const sample = makePretrainSampler({ corpus, reviews, reviewFraction: 0.25, batchSize: 8, blockSize: 9, rng: new Rng(5) });
    for (let step = 0; step < 20; step++) {
      const b = sample();
      assert.equal(b.length, 10);
      assert.equal(b.reviewRows, 2);
      assert.equal(b.tokens.length, 80);
      for (let r = 0; r < 8; r++) {
        const row = Array.from(b.tokens.subarray(r * 10, r * 10 + 10));
        if (r < 2) {
          assert.equal(row[0] % 100, 0, `review row ${row} does not start at a sentence start`);
          for (let t = 1; t < 10; t++) {
            const sameSentence = row[t] === row[t - 1] + 1;
            const nextSentenceStart = row[t] % 100 === 0;
            assert.ok(sameSentence || nextSentenceStart, `review row ${row} breaks at ${t}`);
          }
        } else {
          assert.ok(row[0] >= 0 && row[9] <= 999, `corpus row ${row} out of bounds`);
          for (let t = 1; t < 10; t++) assert.equal(row[t], row[t - 1] + 1);
        }
      }
    }
  });

  it("is reproducible from the seed; fraction 0 needs no reviews; too-short sources are an error", () => {
    const opts = { corpus, reviews, reviewFraction: 0.5, batchSize: 4, blockSize: 7 };
    const a = makePretrainSampler({ ...opts, rng: new Rng(9) });
    const b = makePretrainSampler({ ...opts, rng: new Rng(9) });
    for (let i = 0; i < 5; i++) assert.deepEqual(a().tokens, b().tokens);
    const c = makePretrainSampler({ ...opts, rng: new Rng(10) });
    assert.notDeepEqual(makePretrainSampler({ ...opts, rng: new Rng(9) })().tokens, c().tokens);
    const none = makePretrainSampler({ corpus, reviews: [], reviewFraction: 0, batchSize: 4, blockSize: 7, rng: new Rng(1) });
    assert.equal(none().reviewRows, 0);
    assert.throws(() => makePretrainSampler({ ...opts, corpus: corpus.subarray(0, 5), rng: new Rng(1) }), /corpus has 5 tokens, fewer than one window of 8/);
    assert.throws(() => makePretrainSampler({ ...opts, reviewFraction: 1.5, rng: new Rng(1) }), /review_fraction must be in \[0, 1\]/);
  });
});
