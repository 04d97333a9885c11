// Sampling text from a GPT to look at it (notebooks, tools/generate.ts, SFT's EOS rate): a thin layer over the
// rollout sampler (lib/lm/rollout.ts sampleRollout), so what a learner reads is drawn exactly as PPO's rollouts are:
// the same KV cache, left padding, EOS handling and banned ids (PAD, BOS and ids the tokenizer cannot decode are
// never drawn). Temperature 0 means greedy: top-k = 1 at temperature 1, the most likely allowed token.
import { GPT } from "./model";
import { Rng } from "../core/rng";
import { disposeRollout, sampleRollout } from "./rollout";
import { Tokenizer } from "./tokenizer";

export interface GenerateOptions {
  maxNewTokens: number;
  /** Softmax temperature; 0 = greedy (argmax over the allowed tokens). */
  temperature: number;
  /** A seed, or an Rng stream to draw from. */
  seed: number | Rng;
  /** Keep only the k most likely tokens before sampling (0 or undefined = off). */
  topK?: number;
  /** Nucleus sampling: keep the most likely tokens up to this probability mass (1 or undefined = off). */
  topP?: number;
  /** Prompts per forward pass (default 64). */
  batchSize?: number;
  /** Called after each batch with the number of prompts done (progress). */
  onBatch?: (done: number, total: number) => void;
}

export interface Generation {
  prompt: string;
  completion: string; // decoded, without EOS
  /** Completion token ids, EOS included when it was emitted. */
  tokens: number[];
  /** True when the model emitted EOS within maxNewTokens. */
  ended: boolean;
}

/**
 * Continues each prompt (BOS + prompt tokens) with up to maxNewTokens sampled tokens, stopping a row at EOS.
 * Throws when a prompt plus maxNewTokens would not fit the model's context.
 */
export function generate(model: GPT, tokenizer: Tokenizer, prompts: string[], opts: GenerateOptions): Generation[] {
  if (!(opts.temperature >= 0)) throw new Error(`generate: temperature must be >= 0 (0 = greedy), got ${opts.temperature}`);
  const rng = typeof opts.seed === "number" ? new Rng(opts.seed) : opts.seed;
  const bs = opts.batchSize ?? 64;
  const greedy = opts.temperature === 0;
  const out: Generation[] = [];
  for (let start = 0; start < prompts.length; start += bs) {
    const chunk = prompts.slice(start, start + bs);
    const r = sampleRollout(model, tokenizer, chunk, {
      maxNewTokens: opts.maxNewTokens,
      temperature: greedy ? 1 : opts.temperature,
      topK: greedy ? 1 : (opts.topK ?? 0),
      topP: greedy ? 1 : (opts.topP ?? 1),
      rng,
    });
    try {
      const ids = r.responses.dataSync();
      const T = r.responses.shape[1];
      chunk.forEach((prompt, b) => {
        const tokens = Array.from(ids.subarray(b * T, b * T + r.lengths[b]));
        out.push({ prompt, completion: r.completions[b], tokens, ended: r.eos[b] });
      });
    } finally {
      disposeRollout(r);
    }
    opts.onBatch?.(Math.min(start + bs, prompts.length), prompts.length);
  }
  return out;
}
