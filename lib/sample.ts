// Sampling text from a GPT: batched, left-padded prompts, KV cache, temperature (and optional top-k), stop at EOS.
// For looking at a model (notebooks, tools/generate.ts). PPO's rollouts, which also need log-probs and masks, live
// in lib/rollout.ts; both use the same prefill/decodeStep.
import * as tf from "@tensorflow/tfjs";
import { GPT, disposeCache } from "./model";
import { Rng } from "./rng";
import { Tokenizer } from "./tokenizer";

export interface GenerateOptions {
  maxNewTokens: number;
  /** Softmax temperature; 0 = greedy (argmax). */
  temperature: number;
  /** A seed, or an Rng stream to draw from. */
  seed: number | Rng;
  /** Keep only the k most likely tokens before sampling (0 or undefined = off). */
  topK?: number;
  /** Prompts per forward pass (default 64). */
  batchSize?: number;
}

export interface Generation {
  prompt: string;
  completion: string; // decoded, without EOS
  /** Completion token ids, EOS included when it was emitted. */
  tokens: number[];
  /** True when the model emitted EOS within maxNewTokens. */
  ended: boolean;
}

/** Draws one index from logits (already divided by the temperature) with the rng; top-k if k > 0. */
export function sampleFromLogits(logits: Float32Array, rng: Rng, topK = 0): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let cutoff = -Infinity;
  if (topK > 0 && topK < logits.length) cutoff = Array.from(logits).sort((a, b) => b - a)[topK - 1];
  const w = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) w[i] = logits[i] >= cutoff ? Math.exp(logits[i] - max) : 0;
  return rng.categorical(w);
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * Continues each prompt (BOS + prompt tokens) with up to maxNewTokens sampled tokens, stopping a row at EOS.
 * Throws when a prompt plus maxNewTokens would not fit the model's context.
 */
export function generate(model: GPT, tokenizer: Tokenizer, prompts: string[], opts: GenerateOptions): Generation[] {
  const rng = typeof opts.seed === "number" ? new Rng(opts.seed) : opts.seed;
  const bs = opts.batchSize ?? 64;
  const out: Generation[] = [];
  for (let start = 0; start < prompts.length; start += bs) {
    out.push(...generateBatch(model, tokenizer, prompts.slice(start, start + bs), opts, rng));
  }
  return out;
}

function generateBatch(model: GPT, tokenizer: Tokenizer, prompts: string[], opts: GenerateOptions, rng: Rng): Generation[] {
  const B = prompts.length;
  const V = model.config.vocab_size;
  const encoded = prompts.map((p) => [tokenizer.bos, ...tokenizer.encode(p)]);
  const P = Math.max(...encoded.map((e) => e.length));
  const C = model.config.context;
  if (P + opts.maxNewTokens > C) {
    throw new Error(`generate: the longest prompt has ${P} tokens (BOS included); with max_new_tokens ${opts.maxNewTokens} ` +
      `that exceeds the model context of ${C}. Use max_new_tokens <= ${Math.max(0, C - P)} or shorter prompts.`);
  }
  // Left padding: every row's last prompt token sits at P-1, so generation appends in lockstep.
  const ids = new Int32Array(B * P).fill(tokenizer.pad);
  const mask = new Float32Array(B * P);
  encoded.forEach((e, r) => {
    ids.set(e, r * P + P - e.length);
    mask.fill(1, r * P + P - e.length, (r + 1) * P);
  });
  const tokIn = tf.tensor2d(ids, [B, P], "int32");
  const maskIn = tf.tensor2d(mask, [B, P]);
  let { logits, cache } = model.prefill(tokIn, maskIn);
  tf.dispose([tokIn, maskIn]);
  const gen: number[][] = prompts.map(() => []);
  const done = new Array<boolean>(B).fill(false);
  try {
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const scaled = tf.tidy(() => (opts.temperature > 0 ? tf.div(logits, opts.temperature) : logits.clone()));
      const values = scaled.dataSync() as Float32Array;
      scaled.dispose();
      const next = new Int32Array(B);
      for (let r = 0; r < B; r++) {
        if (done[r]) { next[r] = tokenizer.pad; continue; }
        const row = values.subarray(r * V, (r + 1) * V);
        const t = opts.temperature > 0 ? sampleFromLogits(row, rng, opts.topK ?? 0) : argmax(row);
        next[r] = t;
        gen[r].push(t);
        if (t === tokenizer.eos) done[r] = true;
      }
      if (done.every(Boolean) || step === opts.maxNewTokens - 1) break;
      const nextT = tf.tensor1d(next, "int32");
      logits.dispose();
      ({ logits, cache } = model.decodeStep(nextT, cache));
      nextT.dispose();
    }
  } finally {
    logits.dispose();
    disposeCache(cache);
  }
  return prompts.map((prompt, r) => {
    const ended = gen[r][gen[r].length - 1] === tokenizer.eos;
    const body = ended ? gen[r].slice(0, -1) : gen[r];
    return { prompt, completion: tokenizer.decode(body), tokens: gen[r], ended };
  });
}
