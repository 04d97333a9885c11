// Fluency: how much of what a model writes is made of real words. The share of the words in sampled completions that
// occur anywhere in the training text (the pretraining corpus and the training split of the reviews). A model that
// writes "was absolutely por, already fun buffeted." scores 5 of 6; one that writes English scores near 1.

import * as fs from "node:fs";
import { repoPath } from "../core/config";
import type { GPT } from "./model";
import { completionLogprobs, type Sequence } from "./sequence-logprobs";
import { loadCorpus, loadReviews } from "./data";
import { pretokenize, type Tokenizer } from "./tokenizer";
import { generate } from "./sample";

export const NEW_PROMPTS_FILE = "data/new_prompts.txt";

/** The words of a text: lower-cased runs of letters (with inner apostrophes), so "Don't!" is one word, "don't". */
export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/\p{L}+(?:'\p{L}+)*/gu) ?? [];
}

let vocabCache: Set<string> | undefined;

/** Every word of the training text: the corpus and the reviews' training split (cached). */
export function trainingVocabulary(): Set<string> {
  if (!vocabCache) {
    vocabCache = new Set(wordsOf(loadCorpus()));
    for (const r of loadReviews("train")) for (const w of wordsOf(r.text)) vocabCache.add(w);
  }
  return vocabCache;
}

/** The share of the completions' words found in vocab (NaN when they hold no word), and the word count. */
export function fluency(completions: string[], vocab: Set<string> = trainingVocabulary()): { share: number; words: number } {
  let known = 0;
  let total = 0;
  for (const c of completions) {
    for (const w of wordsOf(c)) {
      total++;
      if (vocab.has(w)) known++;
    }
  }
  return { share: total ? known / total : NaN, words: total };
}

/** The hand-written prompts of data/new_prompts.txt (from no review): one a line, empty lines skipped. */
export function newPrompts(): string[] {
  return fs.readFileSync(repoPath(NEW_PROMPTS_FILE), "utf8").split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

/**
 * The share of the words of texts (the pre-tokenizer's pieces that hold a letter, leading space included) that tok
 * encodes as one token: a word that is one token cannot come out misspelled. NaN when the texts hold no word.
 */
export function singleTokenShare(tok: Tokenizer, texts: string[]): number {
  let words = 0, single = 0;
  for (const t of texts) {
    for (const piece of pretokenize(t)) {
      if (!/\p{L}/u.test(piece)) continue;
      words++;
      if (tok.encode(piece).length === 1) single++;
    }
  }
  return words ? single / words : NaN;
}

/**
 * Held-out bits per character: how well a model predicts English it has not seen, in a unit that does not depend on
 * its tokenizer (a loss per token does: a token of a 16k vocabulary holds more text than one of a 2k vocabulary).
 *   bpc = sum over sentences of -log2 p(sentence + EOS | BOS)  /  sum of their characters
 * Each text is framed as in training (BOS + text + EOS). Texts longer than maxChars characters are left out, so that
 * tokenizers of 2,048 tokens and more, at a context of 64, all score the same sentences; a text that still does not
 * fit the model's context is left out too and counted in `skipped` (compare two models only when their `sentences` agree).
 */
export function bitsPerChar(model: GPT, tok: Tokenizer, texts: string[], maxChars = 150, batchSize = 64): { bpc: number; sentences: number; chars: number; skipped: number } {
  const kept: string[] = [], seqs: Sequence[] = [];
  let skipped = 0;
  for (const t of texts) {
    if (t.length > maxChars) continue;
    const responseIds = [...tok.encode(t), tok.eos];
    if (1 + responseIds.length > model.config.context) { skipped++; continue; }
    kept.push(t);
    seqs.push({ promptIds: [tok.bos], responseIds });
  }
  const nats = Array.from(completionLogprobs(model, seqs, tok.pad, batchSize), (lp) => -lp); // per sentence
  const chars = kept.map((t) => t.length);
  return { bpc: pooledBitsPerChar(nats, chars), sentences: kept.length, chars: chars.reduce((a, b) => a + b, 0), skipped };
}

/**
 * Bits per character of a set of texts from their losses: total nats / ln 2 / total characters. Pooled, not a mean
 * of each text's bpc: a long sentence counts for its length. NaN without characters.
 */
export function pooledBitsPerChar(nats: number[], chars: number[]): number {
  const c = chars.reduce((a, b) => a + b, 0);
  return c ? nats.reduce((a, b) => a + b, 0) / Math.LN2 / c : NaN;
}

/** EOS rate and mean length of completions on held-out prompts (what RM sampling and PPO will see). */
export function completionStats(model: GPT, tok: Tokenizer, prompts: string[], maxNewTokens: number, seed: number): { eos_rate: number; mean_tokens: number } {
  const gens = generate(model, tok, prompts, { maxNewTokens, temperature: 1, seed });
  return {
    eos_rate: gens.filter((g) => g.ended).length / gens.length,
    mean_tokens: gens.reduce((s, g) => s + g.tokens.length, 0) / gens.length,
  };
}

/** Fluency (lib/lm/fluency.ts) of 8 completions of each new prompt at temperature 1: does the policy write real words? */
export function sftFluency(model: GPT, tok: Tokenizer, maxNewTokens: number, seed: number): { share: number; words: number } {
  const prompts = newPrompts().flatMap((p) => Array.from({ length: 8 }, () => p));
  return fluency(generate(model, tok, prompts, { maxNewTokens, temperature: 1, seed }).map((g) => g.completion));
}
