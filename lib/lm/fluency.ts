// Fluency: how much of what a model writes is made of real words. The share of the words in sampled completions that
// occur in a fixed word list (data/eval/words.txt: every word of the corpus and of the reviews' training split as they
// stood when the list was frozen, so adding text to pretraining cannot make a model look more fluent). A model that
// writes "was absolutely por, already fun buffeted." scores 5 of 6; one that writes English scores near 1.
// And held-out bits per character, on a frozen set of review sentences (data/eval/heldout-bpc.txt).

import * as fs from "node:fs";
import { repoPath } from "../core/config";
import type { GPT } from "./model";
import { completionLogprobs, type Sequence } from "./sequence-logprobs";
import { loadCorpus, loadReviews } from "./data";
import { pretokenize, type Tokenizer } from "./tokenizer";
import { generate } from "./sample";
import { InputError } from "../core/config";

export const NEW_PROMPTS_FILE = "data/new_prompts.txt";
/** The frozen word list fluency counts against, one lower-case word a line. */
export const WORDS_FILE = "data/eval/words.txt";
/** The ids (data/reviews.jsonl) of the held-out sentences heldout_bpc is measured on, one a line. */
export const BPC_IDS_FILE = "data/eval/heldout-bpc.txt";

/** The words of a text: lower-cased runs of letters (with inner apostrophes), so "Don't!" is one word, "don't". */
export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/\p{L}+(?:'\p{L}+)*/gu) ?? [];
}

let vocabCache: Set<string> | undefined;

/** The frozen word list (data/eval/words.txt), cached: what counts as a real word. */
export function trainingVocabulary(): Set<string> {
  if (!vocabCache) {
    const words = fs.readFileSync(repoPath(WORDS_FILE), "utf8").split("\n").filter((w) => w !== "");
    if (words.length < 1000) throw new InputError(`${WORDS_FILE}: ${words.length} words; expected the frozen list of ~30,000 (git checkout ${WORDS_FILE})`);
    vocabCache = new Set(words);
  }
  return vocabCache;
}

/** The words of the corpus and of the reviews' training split: how data/eval/words.txt was made (its test compares). */
export function corpusVocabulary(): Set<string> {
  const v = new Set(wordsOf(loadCorpus()));
  for (const r of loadReviews("train")) for (const w of wordsOf(r.text)) v.add(w);
  return v;
}

/** The held-out review sentences heldout_bpc scores: the ids of data/eval/heldout-bpc.txt, in that order. */
export function heldoutBpcTexts(): string[] {
  const ids = fs.readFileSync(repoPath(BPC_IDS_FILE), "utf8").split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const byId = new Map(loadReviews().map((r) => [r.id, r]));
  return ids.map((id, i) => {
    const r = byId.get(id);
    if (!r) throw new InputError(`${BPC_IDS_FILE}:${i + 1}: no review with id "${id}" in data/reviews.jsonl`);
    if (r.split === "train") throw new InputError(`${BPC_IDS_FILE}:${i + 1}: "${id}" is a training sentence; expected held-out (val or test) ids only`);
    return r.text;
  });
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
 * Each text is framed as in training (BOS + text + EOS). Every text is scored, whatever the model's context: one
 * longer than the context is scored in windows (windowedSequences), each token once, with at least half a context
 * of the text before it, so two models of any tokenizer or context score the same characters.
 */
export function bitsPerChar(model: GPT, tok: Tokenizer, texts: string[], batchSize = 64): { bpc: number; sentences: number; chars: number; windowed: number } {
  const seqs: Sequence[] = [], owner: number[] = [];
  let windowed = 0;
  texts.forEach((t, i) => {
    const parts = windowedSequences([tok.bos, ...tok.encode(t), tok.eos], model.config.context);
    if (parts.length > 1) windowed++;
    for (const p of parts) { seqs.push(p); owner.push(i); }
  });
  const nats = new Array<number>(texts.length).fill(0);
  Array.from(completionLogprobs(model, seqs, tok.pad, batchSize)).forEach((lp, j) => (nats[owner[j]] -= lp));
  const chars = texts.map((t) => t.length);
  return { bpc: pooledBitsPerChar(nats, chars), sentences: texts.length, chars: chars.reduce((a, b) => a + b, 0), windowed };
}

/**
 * A token sequence (BOS first) cut into pieces a model of this context can score: the first piece predicts tokens
 * 1..context-1 from what precedes them; each next piece moves on by half a context and predicts only the tokens not
 * yet scored, from the half context before them. One piece when the sequence fits.
 */
export function windowedSequences(ids: number[], context: number): Sequence[] {
  if (context < 2) throw new Error(`windowedSequences: context must be >= 2, got ${context}`);
  if (ids.length <= context) return [{ promptIds: ids.slice(0, 1), responseIds: ids.slice(1) }];
  const out: Sequence[] = [{ promptIds: ids.slice(0, 1), responseIds: ids.slice(1, context) }];
  const stride = Math.max(1, Math.floor(context / 2));
  for (let end = context; end < ids.length; end += stride) {
    const stop = Math.min(ids.length, end + stride); // score ids[end, stop)
    const start = Math.max(0, stop - context);
    out.push({ promptIds: ids.slice(start, end), responseIds: ids.slice(end, stop) });
  }
  return out;
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
