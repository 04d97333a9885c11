// lib/lm/fluency.ts: the share of real words in what a model writes.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { initBackend } from "../lib/core/backend";
import * as tf from "@tensorflow/tfjs";
import { bitsPerChar, corpusVocabulary, fluency, heldoutBpcTexts, newPrompts, singleTokenShare, trainingVocabulary, windowedSequences, wordsOf } from "../lib/lm/fluency";
import { loadReviews } from "../lib/lm/data";
import { GPT } from "../lib/lm/model";
import { sftFluency } from "../lib/lm/fluency";
import { Tokenizer, trainTokenizer } from "../lib/lm/tokenizer";

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
  it("bitsPerChar: a uniform model pays log2 V bits a predicted token, summed over sentences, per character", () => {
    const tok = trainTokenizer("the food was good. ".repeat(50), { kind: "bpe", vocab_size: 300 });
    const m = new GPT({ vocab_size: tok.vocabSize, context: 16, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 3 });
    // the LM head is tied to the token embeddings: zero them and every logit is 0, every next token 1/V
    const wte = m.trainableVariables().find((v) => v.name.endsWith("/wte"))!;
    wte.assign(tf.zerosLike(wte));
    const texts = ["the food was good.", "good food", "x".repeat(40), "the food was good, the food was good, the food was good"];
    const r = bitsPerChar(m, tok, texts, 2); // batches of 2: padding in the first batch
    assert.equal(r.sentences, 4, "every text is scored");
    const predicted = texts.reduce((n, t) => n + tok.encode(t).length + 1, 0); // each token and EOS, after BOS
    const chars = texts.reduce((n, t) => n + t.length, 0);
    assert.equal(r.windowed, 1, "the 40 unmerged bytes of x do not fit a context of 16; the rest do");
    assert.ok(Math.abs(r.bpc - (predicted * Math.log2(tok.vocabSize)) / chars) < 1e-4, `bpc ${r.bpc}: windows score each token once`);
    m.dispose();
  });
  it("windowedSequences scores every token once, each with at least half a context before it", () => {
    const ids = Array.from({ length: 37 }, (_, i) => i);
    for (const C of [2, 5, 8, 16, 37, 64]) {
      const parts = windowedSequences(ids, C);
      const scored = parts.flatMap((p) => p.responseIds);
      assert.deepEqual(scored, ids.slice(1), `context ${C}: tokens 1..36 once, in order`);
      for (const p of parts) {
        assert.ok(p.promptIds.length + p.responseIds.length <= C, `context ${C}: a piece fits`);
        assert.ok(p.promptIds.length >= Math.min(Math.floor(C / 2), 1), "something to condition on");
        const first = ids.indexOf(p.responseIds[0]);
        assert.deepEqual(p.promptIds, ids.slice(first - p.promptIds.length, first), "the prompt is the text right before");
      }
    }
    assert.equal(windowedSequences(ids, 64).length, 1);
  });
  it("the frozen evaluation files: 292 held-out sentences, none from training; the word list as made from the training text", () => {
    const texts = heldoutBpcTexts();
    assert.equal(texts.length, 292);
    const train = new Set(loadReviews("train").map((r) => r.text));
    assert.ok(texts.every((t) => !train.has(t)));
    // the list was frozen from the corpus and the training reviews; text added to data/ later must not extend it
    const frozen = trainingVocabulary(), now = corpusVocabulary();
    let inFrozenOnly = 0;
    for (const w of frozen) if (!now.has(w)) inFrozenOnly++;
    assert.equal(inFrozenOnly, 0, "every frozen word still occurs in the data it was made from");
    assert.equal(frozen.size, 29824);
  });
  it("singleTokenShare counts the words a tokenizer keeps whole", () => {
    const char = new Tokenizer("char", []);
    assert.equal(singleTokenShare(char, ["I ate a pie, 42!"]), 1 / 4, "only the one-letter word 'I' is one byte");
    const bpe = trainTokenizer("the food was good. ".repeat(50), { kind: "bpe", vocab_size: 300 });
    assert.equal(singleTokenShare(bpe, ["the food was good"]), 1);
    assert.ok(singleTokenShare(bpe, ["the zebra was good"]) === 3 / 4, "an unseen word is split");
    assert.ok(Number.isNaN(singleTokenShare(bpe, ["42 !!"])));
  });
});

describe("npm run fluency (tools/fluency.ts)", () => {
  const ROOT = path.resolve(__dirname, "..");
  const run = (...a: string[]) => spawnSync(process.execPath, ["--import", "tsx", "tools/fluency.ts", ...a], { cwd: ROOT, encoding: "utf8" });
  it("refuses keys outside tokenizer, model, pretrain and sft with exit code 2", () => {
    const r = run("--name", "x", "--set", "ppo.kl.coef=0.1", "--config", "config/smoke.yaml");
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /only tokenizer\.\*, model\.\*, pretrain\.\* and sft\.\* keys can change, not ppo\.kl\.coef=0\.1/);
    assert.equal(r.stdout, "");
  });
  it("trains a variant's base and SFT models in its own folders and prints their fluency", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fluency-"));
    const cfg = path.join(tmp, "smoke.yaml");
    fs.writeFileSync(cfg, fs.readFileSync(path.join(ROOT, "config/smoke.yaml"), "utf8")
      .replace(/checkpoints: checkpoints\/smoke/, `checkpoints: ${tmp}/ck`).replace(/runs: runs\/smoke/, `runs: ${tmp}/runs`));
    const r = run("--name", "v320", "--set", "tokenizer.vocab_size=320", "--config", cfg);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    assert.deepEqual(out.overrides, ["tokenizer.vocab_size=320"]);
    for (const k of ["fluency", "fluency_seed2", "single_token_words"]) {
      assert.ok(typeof out[k] === "number" && out[k] >= 0 && out[k] <= 1, `${k} = ${out[k]}`);
    }
    for (const k of ["pretrain_bpc", "sft_bpc"]) assert.ok(typeof out[k] === "number" && out[k] > 0 && out[k] < 10, `${k} = ${out[k]}`);
    assert.ok(typeof out.bpc_sentences === "number" && out.bpc_sentences > 0, `bpc_sentences = ${out.bpc_sentences}`);
    assert.ok(fs.existsSync(path.join(tmp, "ck", "variants", "v320", "sft", "model.json")), "the variant's own checkpoint folder");
    assert.equal(JSON.parse(fs.readFileSync(path.join(tmp, "ck", "variants", "v320", "pretrain", "tokenizer.json"), "utf8")).vocab_size, 320);
    assert.match(r.stderr, /\| /, "ten samples on stderr, prompt | completion");
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});
