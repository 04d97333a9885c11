// Pretraining's data: the tokenizer trained on the corpus and the review sentences, the batches of the mix, the
// validation loss and its unigram baseline.

import * as tf from "@tensorflow/tfjs";
import { Config } from "../core/config";
import { loadCorpus, loadReviews, splitCorpus, PretrainBatch, makePretrainSampler } from "./data";
import { Rng } from "../core/rng";
import { GPT, ModelConfig } from "./model";
import { crossEntropy } from "./model-kernels";
import { Tokenizer, trainTokenizer } from "./tokenizer";

/**
 * The text the tokenizer learns from: ~1 MB of the training corpus in 40 evenly spaced chunks (both sources), plus
 * the training review sentences six times (~1 MB), so review words earn their own tokens. Measured at vocab 2,048:
 * 71% of held-out review words, and 19 of 24 common sentiment words (" great", " terrible", " delicious"...), are a
 * single token (reviews twice: 67% and 15/24). A word that is one token cannot come out misspelled, and the gold
 * scorer (VADER) only reacts to real words.
 */
export function tokenizerTrainingText(corpusTrain: string, reviewTexts: string[], corpusBytes = 1_000_000, reviewRepeats = 6): string {
  const chunks = 40, size = Math.floor(corpusBytes / chunks);
  const parts: string[] = [];
  const stride = Math.max(size, Math.floor(corpusTrain.length / chunks));
  for (let i = 0; i < chunks && i * stride < corpusTrain.length; i++) parts.push(corpusTrain.slice(i * stride, i * stride + size));
  const reviews = reviewTexts.join("\n");
  return parts.join("\n") + ("\n" + reviews).repeat(reviewRepeats);
}

// ---------------------------------------------------------------------------------------------------------------
// Data

export interface PretrainData {
  tokenizer: Tokenizer;
  corpusTrain: Int32Array;
  corpusVal: Int32Array;
  reviewsTrain: Int32Array[]; // BOS + sentence + EOS each
  reviewsVal: Int32Array[];
  charsPerTokenCorpus: number;
  charsPerTokenReviews: number;
}

/** BOS + tokens + EOS: how every review sentence is framed, in pretraining, SFT and RL alike. */
export function encodeSentence(tok: Tokenizer, text: string): Int32Array {
  return Int32Array.from([tok.bos, ...tok.encode(text), tok.eos]);
}

const tokenizerCache = new Map<string, Tokenizer>();

/**
 * The stage's tokenizer: trained on tokenizerTrainingText (deterministic), memoised per process so a notebook that
 * shows the tokenizer and then calls ensurePretrained trains it once.
 */
export function buildTokenizer(cfg: Config): Tokenizer {
  const key = JSON.stringify(cfg.tokenizer);
  let tok = tokenizerCache.get(key);
  if (!tok) {
    const { train } = splitCorpus(loadCorpus());
    tok = trainTokenizer(tokenizerTrainingText(train, loadReviews("train").map((r) => r.text)), cfg.tokenizer);
    tokenizerCache.set(key, tok);
  }
  return tok;
}

/**
 * The part of the training corpus a run can use: all of it when the run reads about as many tokens as it holds
 * (course.yaml: ~1 epoch), else evenly spaced slices totalling ~8 characters per token the run will read, so a
 * smoke run does not spend its seconds encoding 6 MB it never sees.
 */
export function corpusForRun(train: string, cfg: Config): string {
  const p = cfg.pretrain;
  const needChars = p.steps * p.batch_size * (cfg.model.context + 1) * (1 - p.review_fraction) * 8;
  if (needChars >= train.length / 2) return train;
  const chunks = 20, size = Math.ceil(Math.max(needChars, 200_000) / chunks), stride = Math.floor(train.length / chunks);
  return Array.from({ length: chunks }, (_, i) => train.slice(i * stride, i * stride + size)).join("\n");
}

export function preparePretrainData(cfg: Config, log: (s: string) => void = () => {}): PretrainData {
  const t0 = Date.now();
  const split = splitCorpus(loadCorpus());
  const rTrain = loadReviews("train"), rVal = loadReviews("val");
  const tokenizer = buildTokenizer(cfg);
  const t1 = Date.now();
  const train = corpusForRun(split.train, cfg), val = split.val;
  const corpusTrain = Int32Array.from(tokenizer.encode(train));
  const corpusVal = Int32Array.from(tokenizer.encode(val));
  const reviewsTrain = rTrain.map((r) => encodeSentence(tokenizer, r.text));
  const reviewsVal = rVal.map((r) => encodeSentence(tokenizer, r.text));
  const reviewChars = rTrain.reduce((s, r) => s + r.text.length, 0);
  const reviewToks = reviewsTrain.reduce((s, r) => s + r.length - 2, 0);
  log(`tokenizer ${cfg.tokenizer.kind} (${tokenizer.vocabSize} tokens) ready in ${t1 - t0} ms; ` +
    `corpus ${train.length.toLocaleString("en-US")} chars -> ${corpusTrain.length.toLocaleString("en-US")} tokens ` +
    `(${(train.length / corpusTrain.length).toFixed(2)} chars/token), encoded in ${Date.now() - t1} ms`);
  return {
    tokenizer, corpusTrain, corpusVal, reviewsTrain, reviewsVal,
    charsPerTokenCorpus: train.length / corpusTrain.length,
    charsPerTokenReviews: reviewChars / reviewToks,
  };
}

/** The batch sampler of a run's mix (cfg.pretrain.review_fraction, batch_size, model.context), seeded by rng. */
export function makePretrainSamplerFor(cfg: Config, data: PretrainData, rng: Rng, part: "train" | "val" = "train"): () => PretrainBatch {
  return makePretrainSampler({
    corpus: part === "train" ? data.corpusTrain : data.corpusVal, reviews: part === "train" ? data.reviewsTrain : data.reviewsVal,
    reviewFraction: cfg.pretrain.review_fraction, batchSize: cfg.pretrain.batch_size, blockSize: cfg.model.context, rng,
  });
}

/** Splits [B, T+1] rows into inputs (columns 0..T-1) and targets (columns 1..T), in JS (no StridedSlice). */
export function batchToTensors(b: PretrainBatch): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const T = b.length - 1;
  const xs = new Int32Array(b.batchSize * T), ys = new Int32Array(b.batchSize * T);
  for (let r = 0; r < b.batchSize; r++) {
    xs.set(b.tokens.subarray(r * b.length, r * b.length + T), r * T);
    ys.set(b.tokens.subarray(r * b.length + 1, (r + 1) * b.length), r * T);
  }
  return { x: tf.tensor2d(xs, [b.batchSize, T], "int32"), y: tf.tensor2d(ys, [b.batchSize, T], "int32") };
}

/**
 * The unigram baseline's cross-entropy on the validation batches: p(x) = the training mix's token frequencies,
 * (1 - f) * corpus + f * reviews, add-one smoothed so no validation token has probability 0.
 */
export function unigramLoss(data: PretrainData, reviewFraction: number, valBatches: PretrainBatch[]): number {
  const V = data.tokenizer.vocabSize;
  const corpus = new Float64Array(V).fill(1), reviews = new Float64Array(V).fill(1);
  for (const t of data.corpusTrain) corpus[t]++;
  let nr = V;
  for (const s of data.reviewsTrain) for (const t of s) { reviews[t]++; nr++; }
  const nc = data.corpusTrain.length + V;
  const logp = new Float64Array(V);
  for (let i = 0; i < V; i++) logp[i] = Math.log((1 - reviewFraction) * (corpus[i] / nc) + reviewFraction * (reviews[i] / nr));
  let sum = 0, n = 0;
  for (const b of valBatches) {
    for (let r = 0; r < b.batchSize; r++) for (let t = 1; t < b.length; t++) { sum -= logp[b.tokens[r * b.length + t]]; n++; }
  }
  return sum / n;
}

/** Mean next-token loss of the model over fixed batches, dropout off. */
export function evalLoss(model: GPT, batches: PretrainBatch[]): number {
  let sum = 0;
  for (const b of batches) {
    const { x, y } = batchToTensors(b);
    sum += tf.tidy(() => crossEntropy(model.forward(x).logits, y).dataSync()[0]);
    tf.dispose([x, y]);
  }
  return sum / batches.length;
}

export function modelConfigFor(cfg: Config, tokenizer: Tokenizer): ModelConfig {
  return { ...cfg.model, vocab_size: tokenizer.vocabSize };
}

