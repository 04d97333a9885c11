// Rollouts: a batch of prompts -> sampled responses with their log-probs, masks and EOS flags; and the teacher-forced
// pass that scores those same tokens again (policy in PPO epochs, frozen reference, value head, reward model).
//
// Layout of one batch (B rows, P query tokens, T = maxNewTokens response tokens):
//
//   queries   [B,P]  <pad> <pad> <bos> The  food        LEFT padding: every row's last prompt token sits at P-1,
//   queryMask [B,P]    0     0     1    1    1          so generation appends in lockstep for the whole batch
//   responses [B,T]  was  great  .  <eos> <pad> <pad>   RIGHT padding after EOS
//   mask      [B,T]   1     1    1    1     0     0     1 up to and including EOS
//
// Sampling, step by step (the model's KV cache holds every earlier key/value, so a step costs one token, not P+t):
//   logits_t / temperature -> log-softmax = log pi(. | state)  <- the log-prob we record (TRL's convention: at the
//   sampling temperature, BEFORE top-k/top-p truncation, so the reference and later PPO passes can recompute it
//   exactly with scoreResponses) -> top-k / top-p truncation -> draw with the seeded Rng (one uniform per row: on
//   the backend by inverse CDF when nothing is truncated, drawTokens; in JS with top-k/top-p, sampleToken).
// Rows that already emitted EOS keep emitting <pad> (mask 0, log-prob 0); once a quarter of the batch has finished,
// their rows are dropped from the cache.
//
// Never sampled, whatever the model says: <pad> (it would be indistinguishable from padding), <bos> (only starts a
// sequence) and ids the tokenizer cannot decode (a model vocabulary larger than the tokenizer's). A trained policy
// gives them ~0 mass; like top-k/top-p, this truncation does not enter the recorded log-prob.
import * as tf from "@tensorflow/tfjs";
import type { GPT, KVCache } from "./model";
import { disposeCache } from "./model";
import { tokenLogProbs } from "./model-kernels";
import { drawTokensNative, nativeBackend } from "../core/native";
import type { Tokenizer } from "./tokenizer";
import type { Rng } from "../core/rng";

export interface SampleOptions {
  maxNewTokens: number;
  /** > 0. The logits are divided by it; 1 = the model's own distribution. */
  temperature: number;
  /** Keep the k most likely tokens; 0 or undefined = off. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (nucleus sampling); 1 or undefined = off. */
  topP?: number;
  rng: Rng;
  /** Use the KV cache (default true). false recomputes the full forward pass every step: same tokens, much slower;
   *  it exists so notebook 04 and the tests can measure the cache's speed-up. */
  useCache?: boolean;
}

export interface Rollout {
  prompts: string[];
  queries: tf.Tensor2D; // int32 [B,P]  BOS + prompt tokens, LEFT-padded with PAD
  queryMask: tf.Tensor2D; // float32 [B,P] 1 = real token
  responses: tf.Tensor2D; // int32 [B,T] sampled tokens, RIGHT-padded with PAD after EOS (T = maxNewTokens)
  mask: tf.Tensor2D; // float32 [B,T] 1 for real response tokens up to and including EOS, 0 after
  logprobs: tf.Tensor2D; // float32 [B,T] log pi_temperature(token), no top-k/top-p; 0 at padding
  eos: boolean[]; // row emitted EOS within maxNewTokens
  lengths: number[]; // real response tokens per row (incl. EOS)
  completions: string[]; // decoded response text, without EOS/PAD
}

export type ScoredBatch = Pick<Rollout, "queries" | "queryMask" | "responses" | "mask">;

export function disposeRollout(r: Rollout): void {
  tf.dispose([r.queries, r.queryMask, r.responses, r.mask, r.logprobs]);
}

// ------------------------------------------------------------------------------------------------ encoding

/** BOS + prompt tokens per row, left-padded with PAD to the longest row: queries int32 [B,P], queryMask float32 [B,P]. */
export function encodeQueries(tok: Tokenizer, prompts: string[]): { queries: tf.Tensor2D; queryMask: tf.Tensor2D } {
  if (prompts.length === 0) throw new Error("encodeQueries: no prompts");
  const rows = prompts.map((p) => [tok.bos, ...tok.encode(p)]);
  const P = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * P).fill(tok.pad);
  const m = new Float32Array(rows.length * P);
  rows.forEach((r, b) => {
    const off = b * P + (P - r.length);
    ids.set(r, off);
    m.fill(1, off, off + r.length);
  });
  return { queries: tf.tensor2d(ids, [rows.length, P], "int32"), queryMask: tf.tensor2d(m, [rows.length, P]) };
}

/**
 * Texts as responses: tokens (+ EOS when withEos) right-padded with PAD to T: responses int32 [B,T], mask float32
 * [B,T]. A text longer than T (with its EOS) is cut at T tokens, as sampling would have cut it. For scoring given
 * completions (e.g. demonstrations or preference pairs) with scoreResponses / rewardScores.
 */
export function encodeResponses(tok: Tokenizer, texts: string[], T: number, withEos = true): { responses: tf.Tensor2D; mask: tf.Tensor2D } {
  if (!(Number.isInteger(T) && T >= 1)) throw new Error(`encodeResponses: T must be a positive integer, got ${T}`);
  const ids = new Int32Array(texts.length * T).fill(tok.pad);
  const m = new Float32Array(texts.length * T);
  texts.forEach((text, b) => {
    const row = tok.encode(text);
    if (withEos) row.push(tok.eos);
    const n = Math.min(row.length, T);
    ids.set(row.slice(0, n), b * T);
    m.fill(1, b * T, b * T + n);
  });
  return { responses: tf.tensor2d(ids, [texts.length, T], "int32"), mask: tf.tensor2d(m, [texts.length, T]) };
}

// ------------------------------------------------------------------------------------------------ sampling

/**
 * Draw one token from log-probs `logp` (length V, already temperature-scaled and normalised) after top-k/top-p
 * truncation, never choosing a banned id. Pure JS on the numbers: V is ~1k, so this is cheap next to the model.
 */
export function sampleToken(logp: ArrayLike<number>, banned: (id: number) => boolean, topK: number, topP: number, rng: Rng): number {
  const V = logp.length;
  const cand: number[] = [];
  for (let i = 0; i < V; i++) if (!banned(i)) cand.push(i);
  if (cand.length === 0) throw new Error("sampleToken: every token is banned");
  const truncating = (topK > 0 && topK < cand.length) || topP < 1;
  let keep = cand;
  if (truncating) {
    keep = cand.slice().sort((a, b) => logp[b] - logp[a]); // most likely first
    if (topK > 0 && topK < keep.length) keep = keep.slice(0, topK);
    if (topP < 1) {
      // smallest prefix whose mass (renormalised over the allowed tokens) reaches topP; always at least one token
      let total = 0;
      for (const i of keep) total += Math.exp(logp[i]);
      let acc = 0, n = 0;
      while (n < keep.length) {
        acc += Math.exp(logp[keep[n]]) / total;
        n++;
        if (acc >= topP) break;
      }
      keep = keep.slice(0, n);
    }
  }
  // Subtract the best log-prob before exp so a very peaked distribution never underflows to all zeros.
  let best = -Infinity;
  for (const i of keep) if (logp[i] > best) best = logp[i];
  const w = keep.map((i) => Math.exp(logp[i] - best));
  return keep[rng.categorical(w)];
}

/**
 * One token per row of logits [R,V] (not disposed), drawn natively by inverse CDF: with u_j uniform in (0,1), row j
 * gets the first id whose cumulative probability over the allowed ids reaches u_j * (their total), which is what
 * sampleToken draws without truncation for the same u (up to float32 rounding of the running sum). `allowed` is
 * float32 [V], 1 for ids that may be drawn and 0 for banned ones. Returns the ids and their log-probs at
 * `temperature` (before the ban, as sampleToken's callers record them). A row's u must be in (0,1): u = 0 could
 * land on a banned id, so callers give it at least 2^-32.
 * Why native: the JS loop costs one exp per id (~60 ms for 512 x 2,048 logits per step, plus moving them to JS);
 * here only 2 numbers per row leave the backend.
 */
export function drawTokens(logits: tf.Tensor2D, temperature: number, allowed: tf.Tensor1D, u: Float32Array): { ids: Int32Array; logprobs: Float32Array } {
  const [R, V] = logits.shape;
  if (u.length !== R) throw new Error(`drawTokens: ${u.length} uniforms for ${R} rows`);
  const nb = nativeBackend("draw"); // the same draw in 3 fused kernels where TensorFlow is the backend (lib/core/native.ts)
  if (nb) return drawTokensNative(nb, logits, temperature, allowed, u);
  const out = tf.tidy(() => {
    const logp = tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature)) as tf.Tensor2D;
    const cum = tf.cumsum(tf.mul(tf.exp(logp), allowed), 1);
    const target = tf.mul(tf.tensor2d(u, [R, 1]), tf.slice(cum, [0, V - 1], [R, 1]));
    // first id with cum >= target; since u > 0 and cum only grows where p > 0, that id has positive probability
    const ids = tf.sum(tf.cast(tf.less(cum, target), "int32"), 1);
    const lp = tf.sum(tf.mul(logp, tf.cast(tf.oneHot(ids, V), "float32")), 1);
    return tf.stack([tf.cast(ids, "float32"), lp], 1); // one transfer: ids are exact in float32 (V < 2^24)
  });
  const both = out.dataSync() as Float32Array;
  out.dispose();
  const ids = new Int32Array(R), logprobs = new Float32Array(R);
  for (let j = 0; j < R; j++) { ids[j] = both[2 * j]; logprobs[j] = both[2 * j + 1]; }
  return { ids, logprobs };
}

/** The cache of some of its rows (indices into its batch, in order); disposes the old cache. */
function compactCache(c: KVCache, keep: number[]): KVCache {
  const idx = tf.tensor1d(keep, "int32");
  const g = <R extends tf.Rank>(x: tf.Tensor<R>) => tf.gather(x, idx, 0) as tf.Tensor<R>;
  const out: KVCache = { keys: c.keys.map(g), values: c.values.map(g), mask: g(c.mask), positions: g(c.positions), length: c.length };
  idx.dispose();
  disposeCache(c);
  return out;
}

function checkOptions(model: GPT, P: number, opts: SampleOptions): void {
  const { maxNewTokens: T, temperature, topK = 0, topP = 1 } = opts;
  if (!(Number.isInteger(T) && T >= 1)) throw new Error(`sampleRollout: maxNewTokens must be a positive integer, got ${T}`);
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new Error(`sampleRollout: temperature must be > 0, got ${temperature}`);
  if (!(Number.isInteger(topK) && topK >= 0)) throw new Error(`sampleRollout: topK must be an integer >= 0 (0 = off), got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`sampleRollout: topP must be in (0, 1] (1 = off), got ${topP}`);
  const C = model.config.context;
  if (P + T > C) {
    throw new Error(`sampleRollout: the longest prompt is ${P} tokens (BOS included) and maxNewTokens is ${T}: ` +
      `${P} + ${T} = ${P + T} exceeds the model context of ${C} tokens. Use shorter prompts or fewer new tokens.`);
  }
}

/**
 * Sample a response for every prompt, in one batch, with the KV cache (dropout off: prefill/decodeStep never use it).
 * Deterministic given opts.rng's state. The returned tensors belong to the caller: disposeRollout(r).
 */
export function sampleRollout(model: GPT, tok: Tokenizer, prompts: string[], opts: SampleOptions): Rollout {
  const { queries, queryMask } = encodeQueries(tok, prompts);
  let allowed: tf.Tensor1D | undefined; // drawTokens' mask of the ids that may be drawn
  try {
    const [B, P] = queries.shape;
    checkOptions(model, P, opts);
    const T = opts.maxNewTokens;
    const V = model.config.vocab_size;
    const topK = opts.topK ?? 0, topP = opts.topP ?? 1;
    const banned = (id: number) => id === tok.pad || id === tok.bos || id >= tok.vocabSize;

    const ids = new Int32Array(B * T).fill(tok.pad);
    const m = new Float32Array(B * T);
    const lp = new Float32Array(B * T);
    const done = new Array<boolean>(B).fill(false);
    const lengths = new Array<number>(B).fill(0);

    // Without top-k/top-p the draw runs natively (drawTokens); with them, in JS on the log-probs (sampleToken).
    const truncating = topK > 0 || topP < 1;
    allowed = truncating ? undefined : tf.tensor1d(Float32Array.from({ length: V }, (_, id) => (banned(id) ? 0 : 1)));

    // One step's sampling from logits [rows.length, V] (disposed here), whose row j is the rollout's row rows[j];
    // returns the tokens fed to the next step, one per logits row. Rows are visited in increasing rollout order and
    // each unfinished row takes one number from the rng, so the draws do not depend on which finished rows were
    // dropped from the batch.
    const step = (logits: tf.Tensor2D, t: number, rows: number[]): Int32Array => {
      const R = rows.length;
      let chosen: Int32Array, chosenLp: Float32Array;
      if (allowed) {
        const u = new Float32Array(R);
        for (let j = 0; j < R; j++) if (!done[rows[j]]) u[j] = Math.max(opts.rng.next(), 2 ** -32);
        ({ ids: chosen, logprobs: chosenLp } = drawTokens(logits, opts.temperature, allowed, u));
        logits.dispose();
      } else {
        const logp = tf.tidy(() => tf.logSoftmax(tf.div(logits, opts.temperature))); // [rows, V]
        const flat = logp.dataSync() as Float32Array;
        tf.dispose([logits, logp]);
        chosen = new Int32Array(R);
        chosenLp = new Float32Array(R);
        for (let j = 0; j < R; j++) {
          if (done[rows[j]]) continue;
          const row = flat.subarray(j * V, (j + 1) * V);
          chosen[j] = sampleToken(row, banned, topK, topP, opts.rng);
          chosenLp[j] = row[chosen[j]];
        }
      }
      const next = new Int32Array(R).fill(tok.pad);
      for (let j = 0; j < R; j++) {
        const b = rows[j];
        if (done[b]) continue;
        const id = chosen[j];
        next[j] = id;
        ids[b * T + t] = id;
        m[b * T + t] = 1;
        lp[b * T + t] = chosenLp[j];
        lengths[b]++;
        if (id === tok.eos) done[b] = true;
      }
      return next;
    };

    if (opts.useCache ?? true) {
      const first = model.prefill(queries, queryMask);
      let logits = first.logits;
      let c: KVCache | undefined = first.cache;
      let rows = Array.from({ length: B }, (_, b) => b); // the rollout rows still in the batch, in order
      try {
        for (let t = 0; t < T; t++) {
          let next = step(logits, t, rows);
          if (t === T - 1 || done.every(Boolean)) break; // nothing more to sample: skip the cache update
          // Once a quarter of the batch has emitted EOS, drop the finished rows from the cache: a finished row's
          // later tokens are PAD and never used, and with ~half the rows done by mid-rollout this saves ~40%.
          const keep = rows.map((b, j) => (done[b] ? -1 : j)).filter((j) => j >= 0);
          if (keep.length <= 0.75 * rows.length) {
            c = compactCache(c, keep);
            next = Int32Array.from(keep, (j) => next[j]);
            rows = keep.map((j) => rows[j]);
          }
          const nextT = tf.tensor1d(next, "int32");
          const out = model.decodeStep(nextT, c); // consumes c
          c = undefined;
          nextT.dispose();
          logits = out.logits;
          c = out.cache;
        }
      } finally {
        if (c) disposeCache(c);
      }
    } else {
      // No cache: run the whole [queries ; tokens so far] through the model at every step (what the cache avoids).
      const qIds = queries.dataSync() as Int32Array, qm = queryMask.dataSync() as Float32Array;
      const everyRow = Array.from({ length: B }, (_, b) => b);
      for (let t = 0; t < T; t++) {
        const L = P + t;
        const logits = tf.tidy(() => {
          const seq = new Int32Array(B * L), sm = new Float32Array(B * L);
          for (let b = 0; b < B; b++) {
            seq.set(qIds.subarray(b * P, (b + 1) * P), b * L);
            sm.set(qm.subarray(b * P, (b + 1) * P), b * L);
            seq.set(ids.subarray(b * T, b * T + t), b * L + P);
            sm.fill(1, b * L + P, b * L + P + t); // finished rows' PAD steps count as real here, as in the cache
          }
          const { logits: all } = model.forward(tf.tensor2d(seq, [B, L], "int32"), { attnMask: tf.tensor2d(sm, [B, L]) });
          return tf.slice(all, [0, L - 1, 0], [B, 1, V]).reshape([B, V]) as tf.Tensor2D;
        });
        step(logits, t, everyRow);
        if (done.every(Boolean)) break;
      }
    }

    allowed?.dispose();
    const completions = Array.from({ length: B }, (_, b) => tok.decode(Array.from(ids.subarray(b * T, b * T + lengths[b])).filter((id) => id !== tok.eos)));
    return {
      prompts: prompts.slice(),
      queries,
      queryMask,
      responses: tf.tensor2d(ids, [B, T], "int32"),
      mask: tf.tensor2d(m, [B, T]),
      logprobs: tf.tensor2d(lp, [B, T]),
      eos: done.slice(),
      lengths,
      completions,
    };
  } catch (e) {
    tf.dispose([queries, queryMask]);
    allowed?.dispose();
    throw e;
  }
}

// ------------------------------------------------------------------------------------------------ scoring

function checkBatch(fn: string, model: GPT, r: ScoredBatch): { B: number; P: number; T: number } {
  const [B, P] = r.queries.shape;
  const [B2, T] = r.responses.shape;
  if (B2 !== B) throw new Error(`${fn}: ${B} queries but ${B2} responses`);
  if (!tf.util.arraysEqual(r.queryMask.shape, r.queries.shape)) throw new Error(`${fn}: queryMask [${r.queryMask.shape}] vs queries [${r.queries.shape}]`);
  if (!tf.util.arraysEqual(r.mask.shape, r.responses.shape)) throw new Error(`${fn}: mask [${r.mask.shape}] vs responses [${r.responses.shape}]`);
  if (P + T > model.config.context) {
    throw new Error(`${fn}: ${P} query + ${T} response tokens = ${P + T} exceed the model context of ${model.config.context}`);
  }
  return { B, P, T };
}

/** [queries ; responses] and [queryMask ; mask]: the full sequences a teacher-forced pass reads. */
function fullSequence(r: ScoredBatch): { tokens: tf.Tensor2D; attnMask: tf.Tensor2D } {
  return {
    tokens: tf.concat([r.queries.toInt(), r.responses.toInt()], 1) as tf.Tensor2D,
    attnMask: tf.concat([r.queryMask.toFloat(), r.mask.toFloat()], 1) as tf.Tensor2D,
  };
}

/**
 * Teacher-forced pass over [queries ; responses]: the logits that predicted each response token, at temperature.
 * Response token t was predicted from full position P-1+t (the state before it), so the slice starts at P-1.
 *   logits   [B,T,V]  already divided by the temperature
 *   logprobs [B,T]    log-softmax(logits) at the response token, 0 at padding
 *   hidden   [B,T,D]  final hidden state before each token: model.scalar(hidden) is the value V(s_t)
 * Differentiable (tf.slice, masks as multiplications): call it inside tf.variableGrads. Padding (left in the queries,
 * right in the responses) never changes a real position's output: padded keys are masked out of attention.
 */
export function scoreResponses(
  model: GPT,
  r: ScoredBatch,
  opts: { temperature: number; training?: boolean },
): { logits: tf.Tensor3D; logprobs: tf.Tensor2D; hidden: tf.Tensor3D } {
  const { B, P, T } = checkBatch("scoreResponses", model, r);
  if (!(opts.temperature > 0)) throw new Error(`scoreResponses: temperature must be > 0, got ${opts.temperature}`);
  const V = model.config.vocab_size, D = model.config.d_model;
  return tf.tidy(() => {
    const { tokens, attnMask } = fullSequence(r);
    const out = model.forward(tokens, { attnMask, training: opts.training ?? false });
    const logits = tf.div(tf.slice(out.logits, [0, P - 1, 0], [B, T, V]), opts.temperature) as tf.Tensor3D;
    const hidden = tf.slice(out.hidden, [0, P - 1, 0], [B, T, D]) as tf.Tensor3D;
    const logprobs = tf.mul(tokenLogProbs(logits, r.responses.toInt() as tf.Tensor2D), r.mask.toFloat()) as tf.Tensor2D;
    return { logits, logprobs, hidden };
  });
}

/**
 * 1.0 at the last real token of each row of a 0/1 mask, 0 elsewhere, whatever the padding on either side:
 * position j is last when m_j = 1 and no real token follows (suffix sum from j equals 1).
 */
export function lastRealMask(mask: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const m = mask.toFloat();
    const suffix = tf.cumsum(m, 1, false, true); // sum over k >= j
    return tf.mul(m, tf.cast(tf.equal(suffix, 1), "float32")) as tf.Tensor2D;
  });
}

/**
 * The reward model's scalar at the LAST REAL token of each row of [queries ; responses] (the EOS when one was
 * emitted, else the last sampled token) -> [B]. Differentiable in the model's weights (the position is picked by
 * multiplying with a constant one-hot mask), so Bradley-Terry training can use it; opts.training turns dropout on.
 */
export function rewardScores(rm: GPT, r: ScoredBatch, opts: { training?: boolean } = {}): tf.Tensor1D {
  checkBatch("rewardScores", rm, r);
  return tf.tidy(() => {
    const { tokens, attnMask } = fullSequence(r);
    const hidden = rm.hiddenStates(tokens, { attnMask, training: opts.training ?? false });
    const s = rm.scalar(hidden); // [B, P+T]
    return tf.sum(tf.mul(s, lastRealMask(attnMask)), 1) as tf.Tensor1D;
  });
}
