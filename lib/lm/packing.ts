// Sequence packing: several short sequences share one row of a batch, and attention keeps them apart.
//
// A batch padded to its longest sequence wastes compute on padding: the reward model's rows (prompt + completion)
// average ~18 tokens in batches padded to ~34, so about half of every matmul is padding. Packing places the
// sequences end to end in rows of the longest sequence's length (first-fit decreasing) and gives the model:
//
//   positions [S,T]      restart at 0 where each sequence starts, exactly as in an unpadded row of its own
//   bias      [S,1,T,T]  0 where query i may attend to key j (same sequence and j <= i), -1e9 elsewhere
//
// so every sequence computes what it would alone (to float rounding), with about half the tokens. The score of a
// sequence is read at its last token: `last` holds that token's flat index (row * T + column) in input order.
// A padding position (after the last sequence of a row) attends only to itself; nothing reads it.
import * as tf from "@tensorflow/tfjs";
import { type GPT, NEG } from "./model";

export interface Packing {
  /** rows S and columns T of the packed batch */
  rows: number;
  length: number;
  tokens: Int32Array; // [S*T], PAD after the last sequence of a row
  positions: Int32Array; // [S*T], 0 at each sequence's first token
  bias: Float32Array; // [S*T*T], additive attention bias per row
  /** flat index (row * T + column) of each input sequence's last token, in input order */
  last: Int32Array;
}

/**
 * Packs token sequences into rows of `length` tokens (default: the longest sequence), first-fit decreasing: longest
 * first, each into the first row with room. Deterministic. Throws on an empty sequence or one longer than `length`.
 */
export function packSequences(seqs: number[][], pad: number, length?: number): Packing {
  if (seqs.length === 0) throw new Error("packSequences: no sequences");
  const T = length ?? Math.max(...seqs.map((s) => s.length));
  seqs.forEach((s, i) => {
    if (s.length === 0) throw new Error(`packSequences: sequence ${i} is empty`);
    if (s.length > T) throw new Error(`packSequences: sequence ${i} has ${s.length} tokens, more than the row length ${T}`);
  });
  // First-fit decreasing; ties keep input order so the layout depends only on the lengths.
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[b].length - seqs[a].length || a - b);
  const free: number[] = []; // room left in each row
  const place = new Int32Array(seqs.length * 2); // per sequence: row, start column
  for (const i of order) {
    const n = seqs[i].length;
    let r = free.findIndex((room) => room >= n);
    if (r < 0) { r = free.length; free.push(T); }
    place[2 * i] = r;
    place[2 * i + 1] = T - free[r];
    free[r] -= n;
  }
  const S = free.length;
  const tokens = new Int32Array(S * T).fill(pad);
  const positions = new Int32Array(S * T);
  const segment = new Int32Array(S * T).fill(-1); // which sequence holds each slot; -1 = padding
  const last = new Int32Array(seqs.length);
  seqs.forEach((s, i) => {
    const off = place[2 * i] * T + place[2 * i + 1];
    tokens.set(s, off);
    for (let j = 0; j < s.length; j++) { positions[off + j] = j; segment[off + j] = i; }
    last[i] = off + s.length - 1;
  });
  const bias = new Float32Array(S * T * T).fill(NEG);
  for (let r = 0; r < S; r++) {
    for (let q = 0; q < T; q++) {
      const seg = segment[r * T + q], rowOff = (r * T + q) * T;
      if (seg < 0) { bias[rowOff + q] = 0; continue; }
      for (let k = q; k >= 0 && segment[r * T + k] === seg; k--) bias[rowOff + k] = 0;
    }
  }
  return { rows: S, length: T, tokens, positions, bias, last };
}

/** The packing as tensors for GPT.hiddenStates({ packed }): tokens and positions int32 [S,T], bias [S,1,T,T]. */
export function packingTensors(p: Packing): { tokens: tf.Tensor2D; positions: tf.Tensor2D; bias: tf.Tensor4D; last: tf.Tensor1D } {
  const { rows: S, length: T } = p;
  return {
    tokens: tf.tensor2d(p.tokens, [S, T], "int32"),
    positions: tf.tensor2d(p.positions, [S, T], "int32"),
    bias: tf.tensor4d(p.bias, [S, 1, T, T]),
    last: tf.tensor1d(p.last, "int32"),
  };
}

/**
 * A model's scalar head read at the last token of each sequence, packed several to a row -> [n], in input order;
 * the numbers a padded batch gives, to float rounding. Differentiable in the weights; opts.training turns dropout on.
 */
export function packedLastScores(model: GPT, seqs: number[][], pad: number, opts: { training?: boolean } = {}): tf.Tensor1D {
  const p = packSequences(seqs, pad);
  return tf.tidy(() => {
    const t = packingTensors(p);
    const D = model.config.d_model, n = seqs.length;
    const hidden = model.hiddenStates(t.tokens, { packed: { positions: t.positions, bias: t.bias }, training: opts.training ?? false });
    const last = tf.gather(hidden.reshape([p.rows * p.length, D]), t.last); // [n, D]
    return model.scalar(last.reshape([n, 1, D]) as tf.Tensor3D).reshape([n]) as tf.Tensor1D;
  });
}
