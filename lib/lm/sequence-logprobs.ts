// log p(response | prompt) of given token sequences, teacher-forced in batches that fit the model's context: DPO's
// sequence log-probs (lib/beyond/dpo.ts) and the held-out bits per character of lib/lm/fluency.ts both read them from
// here.
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "./model";
import { type ScoredBatch, scoreResponses } from "./rollout";

/** What scoring needs of a completion: BOS + prompt tokens, and the response tokens (EOS included when emitted). */
export interface Sequence {
  promptIds: number[];
  responseIds: number[];
}

/** Completions as a teacher-forcing batch: BOS + prompt tokens left-padded, response tokens (EOS included) right-padded. */
export function completionBatch(completions: Sequence[], pad: number): ScoredBatch {
  if (completions.length === 0) throw new Error("completionBatch: no completions");
  const P = Math.max(...completions.map((c) => c.promptIds.length));
  const T = Math.max(1, ...completions.map((c) => c.responseIds.length));
  const B = completions.length;
  const q = new Int32Array(B * P).fill(pad), qm = new Float32Array(B * P);
  const r = new Int32Array(B * T).fill(pad), m = new Float32Array(B * T);
  completions.forEach((c, b) => {
    if (c.promptIds.length === 0) throw new Error(`completionBatch: completion ${b} has no prompt tokens (expected at least BOS)`);
    q.set(c.promptIds, b * P + P - c.promptIds.length);
    qm.fill(1, b * P + P - c.promptIds.length, (b + 1) * P);
    r.set(c.responseIds, b * T);
    m.fill(1, b * T, b * T + c.responseIds.length);
  });
  return { queries: tf.tensor2d(q, [B, P], "int32"), queryMask: tf.tensor2d(qm, [B, P]), responses: tf.tensor2d(r, [B, T], "int32"), mask: tf.tensor2d(m, [B, T]) };
}

export function disposeBatch(b: ScoredBatch): void {
  tf.dispose([b.queries, b.queryMask, b.responses, b.mask]);
}

/**
 * log pi(response | prompt) of each completion: the sum over its response tokens (EOS included when it was emitted)
 * of the log-probs at temperature 1, the model's own distribution (DPO's pi, whatever temperature PPO samples at).
 * Differentiable: call it inside tf.variableGrads. training turns dropout on.
 */
export function sequenceLogprobs(model: GPT, batch: ScoredBatch, training = false): tf.Tensor1D {
  return tf.tidy(() => tf.sum(scoreResponses(model, batch, { temperature: 1, training }).logprobs, 1) as tf.Tensor1D);
}

/**
 * Completions (indices into `completions`) cut into batches that fit the context: a batch is as wide as its longest
 * prompt plus its longest response (left / right padding), so a long prompt and a long response must not meet (a
 * real review sentence answers the empty prompt with up to context - 1 tokens). Sorted by response length, at most
 * maxRows a batch.
 */
export function fittingBatches(completions: Sequence[], idx: number[], context: number, maxRows = Infinity): number[][] {
  const P = (i: number) => completions[i].promptIds.length, T = (i: number) => Math.max(1, completions[i].responseIds.length);
  const order = idx.slice().sort((a, b) => T(a) - T(b) || P(a) - P(b) || a - b);
  const out: number[][] = [];
  let cur: number[] = [], maxP = 0, maxT = 0;
  for (const i of order) {
    if (P(i) + T(i) > context) throw new Error(`completion ${i}: ${P(i)} prompt + ${T(i)} response tokens exceed the model context of ${context}`);
    if (cur.length > 0 && (Math.max(maxP, P(i)) + Math.max(maxT, T(i)) > context || cur.length >= maxRows)) {
      out.push(cur);
      cur = [];
      maxP = maxT = 0;
    }
    cur.push(i);
    maxP = Math.max(maxP, P(i));
    maxT = Math.max(maxT, T(i));
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** sequenceLogprobs of many completions without gradients, in batches of similar length: a Float32Array in input order. */
export function completionLogprobs(model: GPT, completions: Sequence[], pad: number, batchSize = 256): Float32Array {
  const out = new Float32Array(completions.length);
  for (const idx of fittingBatches(completions, completions.map((_, i) => i), model.config.context, batchSize)) {
    const batch = completionBatch(idx.map((i) => completions[i]), pad);
    try {
      const lp = sequenceLogprobs(model, batch);
      const v = lp.dataSync();
      lp.dispose();
      idx.forEach((i, j) => (out[i] = v[j]));
    } finally {
      disposeBatch(batch);
    }
  }
  return out;
}
