// Supervised fine-tuning (SFT): its loss and batches. Demonstrations are review sentences split into a prompt (the
// first 2-4
// words) and a response (the rest); the model learns to continue a prompt the way a human review does, and to stop
// (EOS). The prompt is context, not something to imitate, so it is masked out of the loss:
//
//   sequence  s = [BOS, prompt tokens..., response tokens..., EOS]       inputs s[0..n-2], targets s[1..n-1]
//   m_t = 1 if target s[t+1] belongs to the response (EOS included), else 0 (prompt and padding)
//   loss = - sum_{b,t} m_{b,t} log p_theta(s_{b,t+1} | s_{b,<=t}) / sum_{b,t} m_{b,t}
//
// Batches are right-padded with PAD (causal attention means real tokens never see the padding after them, and the
// mask removes padded targets), so SFT needs no attention mask at all.

import * as tf from "@tensorflow/tfjs";
import { Config } from "../core/config";
import { Demonstration, REVIEWS_FILE, loadReviews, makeDemonstrations } from "../lm/data";
import { GPT } from "../lm/model";
import { crossEntropy } from "../lm/model-kernels";
import { Rng } from "../core/rng";
import { Tokenizer } from "../lm/tokenizer";

export interface SftExample {
  demo: Demonstration;
  ids: number[]; // BOS + prompt + response + EOS
  promptLen: number; // BOS + prompt tokens
}

/** Encodes demonstrations; those longer than context + 1 tokens are dropped (and counted). */
export function encodeDemonstrations(demos: Demonstration[], tok: Tokenizer, context: number): { examples: SftExample[]; dropped: number } {
  const examples: SftExample[] = [];
  let dropped = 0;
  for (const demo of demos) {
    const prompt = [tok.bos, ...tok.encode(demo.prompt)];
    const ids = [...prompt, ...tok.encode(demo.response), tok.eos];
    if (ids.length > context + 1) { dropped++; continue; }
    examples.push({ demo, ids, promptLen: prompt.length });
  }
  return { examples, dropped };
}

/** Inputs, targets and the loss mask of a batch (right-padded to its longest example). */
export function sftBatch(examples: SftExample[], pad: number): { x: tf.Tensor2D; y: tf.Tensor2D; mask: tf.Tensor2D } {
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.ids.length)) - 1;
  const xs = new Int32Array(B * T).fill(pad), ys = new Int32Array(B * T).fill(pad), ms = new Float32Array(B * T);
  examples.forEach((e, r) => {
    for (let t = 0; t < e.ids.length - 1; t++) {
      xs[r * T + t] = e.ids[t];
      ys[r * T + t] = e.ids[t + 1];
      // target s[t+1] is a response token when t + 1 >= promptLen
      if (t + 1 >= e.promptLen) ms[r * T + t] = 1;
    }
  });
  return { x: tf.tensor2d(xs, [B, T], "int32"), y: tf.tensor2d(ys, [B, T], "int32"), mask: tf.tensor2d(ms, [B, T]) };
}

/** The prompt-masked loss (equation at the top of this file). */
export function sftLoss(model: GPT, x: tf.Tensor2D, y: tf.Tensor2D, mask: tf.Tensor2D, training: boolean): tf.Scalar {
  return tf.tidy(() => crossEntropy(model.forward(x, { training }).logits, y, mask));
}

/** Response-token-weighted mean loss over all examples (dropout off). */
export function sftEvalLoss(model: GPT, examples: SftExample[], pad: number, batchSize = 64): number {
  let sum = 0, n = 0;
  examples = [...examples].sort((a, b) => a.ids.length - b.ids.length); // less padding; the mean is order-free
  for (let i = 0; i < examples.length; i += batchSize) {
    const { x, y, mask } = sftBatch(examples.slice(i, i + batchSize), pad);
    const m = mask.sum().dataSync()[0];
    sum += sftLoss(model, x, y, mask, false).dataSync()[0] * m;
    n += m;
    tf.dispose([x, y, mask]);
  }
  return sum / n;
}

/**
 * One epoch of batches (indices into examples), grouped by length: shuffle, cut into chunks of 8 batches, sort each
 * chunk by length, cut it into batches, shuffle the batch order. A batch is padded to its longest example, so random
 * batches of review sentences (5 to 60 tokens) waste about half their compute on padding; grouped ones very little.
 * (Hugging Face's group_by_length does the same.) The last incomplete batch of an epoch is dropped.
 */
export function lengthGroupedBatches(examples: SftExample[], batchSize: number, rng: Rng): number[][] {
  const perm = rng.permutation(examples.length);
  const chunk = batchSize * 8;
  const batches: number[][] = [];
  for (let c = 0; c + batchSize <= perm.length; c += chunk) {
    const part = perm.slice(c, c + chunk).sort((a, b) => examples[a].ids.length - examples[b].ids.length);
    for (let b = 0; b + batchSize <= part.length; b += batchSize) batches.push(part.slice(b, b + batchSize));
  }
  return rng.shuffle(batches);
}

export interface SftData {
  train: SftExample[];
  val: SftExample[];
  dropped: number;
}

/** Train/val demonstrations from the review splits, prompt lengths drawn with the config's seed. */
export function prepareSftData(cfg: Config, tok: Tokenizer): SftData {
  const rng = new Rng(cfg.seed).fork("sft");
  const s = cfg.sft;
  const tr = encodeDemonstrations(makeDemonstrations(loadReviews("train"), rng.fork("split-train"), s.prompt_words_min, s.prompt_words_max), tok, cfg.model.context);
  const va = encodeDemonstrations(makeDemonstrations(loadReviews("val"), rng.fork("split-val"), s.prompt_words_min, s.prompt_words_max), tok, cfg.model.context);
  return { train: tr.examples, val: va.examples, dropped: tr.dropped + va.dropped };
}

/** Why a batch cannot be cut (a batch is never padded with repeats: the last incomplete one of an epoch is dropped). */
export function tooFewExamples(n: number, batchSize: number, where = "sft.batch_size"): string {
  return `${where} is ${batchSize} but only ${n} training demonstrations fit the context (from ${REVIEWS_FILE}); ` +
    `expected sft.batch_size <= ${n}: lower it, or raise model.context`;
}
