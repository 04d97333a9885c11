// A tiny decoder-only transformer (GPT) written with TensorFlow.js ops, in the spirit of nanoGPT: read it top to
// bottom.
//
//   x_0   = W_te[token] + W_pe[position]                      (learned positions)
//   x_l'  = x_l  + Attn(LN_1(x_l))                            (pre-LayerNorm, causal self-attention)
//   x_l+1 = x_l' + MLP(LN_2(x_l'))                            (GELU MLP, 4x wide)
//   h     = LN_f(x_L);  logits = h W_te^T                     (LM head weight-tied to the token embedding)
//   value / reward = h w_head + b_head                        (a scalar per position, for PPO's critic or the RM)
//
// Choices, and why:
// - Weight tying (Press & Wolf 2017, GPT-2): saves vocab*d parameters (2048*128 = 262k with config/course.yaml) and
//   trains better on small data. The logits are a matmul with W_te transposed.
// - Padding is on the LEFT for prompts (so every row's last token is at T-1 and generation appends in lockstep).
//   attnMask is 1 for real tokens, 0 for padding; padded keys are masked out of attention, and positions count only
//   real tokens (cumsum(mask) - 1), so a padded row computes exactly what the unpadded row would.
// - Masks enter attention as an additive bias (0 or -1e9) built from constants, never as tf.where on a differentiated
//   tensor (a comparison has no gradient in tfjs).
// - Every backend: tf.slice, never StridedSlice (no gradient). On wasm, tf.gather's gradient and fast transposed
//   matmuls come from the kernels lib/core/backend.ts installs when wasm is active (a JS UnsortedSegmentSum, and a
//   BatchMatMul that transposes explicitly), so this file needs no backend-specific path: call initBackend() first.
// - Variables have stable logical names ("h0.attn.w_qkv", ...) used by checkpoints; the tfjs registry needs globally
//   unique names, so each instance prefixes them with "gpt<k>/".
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng";
import { mm, linear, mmInfer, gelu, layerNorm, layerNormInfer } from "./model-kernels";

export interface ModelConfig {
  vocab_size: number;
  context: number;
  d_model: number;
  n_layers: number;
  n_heads: number;
  dropout: number;
}

export type HeadKind = "none" | "value" | "reward";

/**
 * Per-layer keys and values of every position seen so far, plus the key mask and each row's next position.
 * decodeStep consumes a cache (disposes its tensors) and returns the next one; disposeCache frees one you drop.
 */
export interface KVCache {
  keys: tf.Tensor4D[]; // per layer [B, H, length, d_head]
  values: tf.Tensor4D[]; // per layer [B, H, length, d_head]
  mask: tf.Tensor2D; // [B, length] float32, 1 = real token
  positions: tf.Tensor1D; // [B] int32, position of the next token of each row (= real tokens so far)
  length: number; // tokens held (padding included); at most config.context
}

/** Several sequences in each row: per-token positions (int32 [B,T]) and the additive attention bias [B,1,T,T]. */
export interface PackedLayout {
  positions: tf.Tensor2D;
  bias: tf.Tensor4D;
}

export function disposeCache(cache: KVCache): void {
  tf.dispose([...cache.keys, ...cache.values, cache.mask, cache.positions]);
}

export const NEG = -1e9; // additive mask; finite so a fully masked (padding) row gives a uniform softmax, not NaN

let instanceCounter = 0;

interface LayerVars {
  ln1_g: tf.Variable; ln1_b: tf.Variable;
  w_qkv: tf.Variable; b_qkv: tf.Variable;
  w_o: tf.Variable; b_o: tf.Variable;
  ln2_g: tf.Variable; ln2_b: tf.Variable;
  w_fc: tf.Variable; b_fc: tf.Variable;
  w_proj: tf.Variable; b_proj: tf.Variable;
}

export interface GPTOptions {
  seed: number;
  head?: HeadKind;
  /** false for frozen copies (reference policy): tf.variableGrads without a list then skips them. Default true. */
  trainable?: boolean;
}

export class GPT {
  readonly config: ModelConfig;
  readonly head: HeadKind;
  readonly seed: number;
  /** tfjs registry prefix of this instance's variables ("gpt3/"). */
  readonly prefix: string;
  private readonly vars = new Map<string, tf.Variable>(); // logical name -> variable, in creation order
  private readonly layers: LayerVars[] = [];
  private readonly causalBias: tf.Tensor2D; // [context, context], 0 on/below the diagonal, -1e9 above
  private readonly dropoutRng: Rng;
  private disposed = false;

  constructor(config: ModelConfig, opts: GPTOptions) {
    validateModelConfig(config);
    this.config = { ...config };
    this.head = opts.head ?? "none";
    this.seed = opts.seed;
    this.prefix = `gpt${instanceCounter++}/`;
    const trainable = opts.trainable ?? true;
    const rng = new Rng(opts.seed);
    this.dropoutRng = rng.fork("dropout");
    const { vocab_size: V, context: C, d_model: D, n_layers: L } = config;
    const std = 0.02;
    const residStd = std / Math.sqrt(2 * L); // GPT-2: scale residual projections by 1/sqrt(2 * layers)

    // Each variable's init stream is forked by its name, so adding a variable never changes the others' init.
    const make = (name: string, shape: number[], init: "normal" | "zeros" | "ones", s = std): tf.Variable => {
      const size = shape.reduce((a, b) => a * b, 1);
      let values: Float32Array;
      if (init === "normal") values = rng.fork(name).normalArray(size, 0, s);
      else values = new Float32Array(size).fill(init === "ones" ? 1 : 0);
      const initial = tf.tensor(values, shape, "float32");
      const v = tf.variable(initial, trainable, this.prefix + name);
      initial.dispose(); // the variable keeps its own reference to the data; the initial tensor would leak otherwise
      this.vars.set(name, v);
      return v;
    };

    make("wte", [V, D], "normal");
    make("wpe", [C, D], "normal", 0.01);
    for (let l = 0; l < L; l++) {
      const p = `h${l}.`;
      this.layers.push({
        ln1_g: make(p + "ln1.gamma", [D], "ones"),
        ln1_b: make(p + "ln1.beta", [D], "zeros"),
        w_qkv: make(p + "attn.w_qkv", [D, 3 * D], "normal"),
        b_qkv: make(p + "attn.b_qkv", [3 * D], "zeros"),
        w_o: make(p + "attn.w_o", [D, D], "normal", residStd),
        b_o: make(p + "attn.b_o", [D], "zeros"),
        ln2_g: make(p + "ln2.gamma", [D], "ones"),
        ln2_b: make(p + "ln2.beta", [D], "zeros"),
        w_fc: make(p + "mlp.w_fc", [D, 4 * D], "normal"),
        b_fc: make(p + "mlp.b_fc", [4 * D], "zeros"),
        w_proj: make(p + "mlp.w_proj", [4 * D, D], "normal", residStd),
        b_proj: make(p + "mlp.b_proj", [D], "zeros"),
      });
    }
    make("ln_f.gamma", [D], "ones");
    make("ln_f.beta", [D], "zeros");
    if (this.head !== "none") {
      make(`${this.head}_head.w`, [D, 1], "normal", 1 / Math.sqrt(D + 1));
      make(`${this.head}_head.b`, [1], "zeros");
    }

    const causal = new Float32Array(C * C);
    for (let i = 0; i < C; i++) for (let j = i + 1; j < C; j++) causal[i * C + j] = NEG;
    // tf.keep: a GPT built inside someone's tf.tidy must not lose its constant when that scope ends.
    this.causalBias = tf.keep(tf.tensor2d(causal, [C, C]));
  }

  // ---------------------------------------------------------------- variables

  private v(name: string): tf.Variable {
    const x = this.vars.get(name);
    if (!x) throw new Error(`GPT: no variable "${name}"`);
    return x;
  }

  /** Logical name -> variable (trunk, then head), the names checkpoints use. */
  namedVariables(): Map<string, tf.Variable> {
    return new Map(this.vars);
  }

  /** Logical name of one of this model's variables (strips the instance prefix). */
  logicalName(v: tf.Variable): string {
    return v.name.startsWith(this.prefix) ? v.name.slice(this.prefix.length) : v.name;
  }

  /** Trunk + head, in a stable order. */
  trainableVariables(): tf.Variable[] {
    return [...this.vars.values()];
  }

  private isHeadName(name: string): boolean {
    return name.endsWith("_head.w") || name.endsWith("_head.b");
  }

  /** Make all variables (not) trainable, e.g. to freeze a reference copy. */
  setTrainable(trainable: boolean): void {
    for (const v of this.vars.values()) v.trainable = trainable;
  }

  /**
   * Assign weights by logical name. Every variable of this model must be given with the same shape; extra names are
   * an error unless allowExtra; a missing head is allowed with allowMissingHead. The message names every mismatch.
   */
  loadWeights(weights: Map<string, tf.Tensor> | Record<string, tf.Tensor>, opts: { allowExtra?: boolean; allowMissingHead?: boolean } = {}): void {
    const map = weights instanceof Map ? weights : new Map(Object.entries(weights));
    const problems: string[] = [];
    for (const [name, v] of this.vars) {
      const w = map.get(name);
      if (!w) {
        if (!(opts.allowMissingHead && this.isHeadName(name))) problems.push(`missing "${name}" (expected shape [${v.shape}])`);
      } else if (!tf.util.arraysEqual(w.shape, v.shape)) {
        problems.push(`"${name}" has shape [${w.shape}], the model expects [${v.shape}]`);
      }
    }
    if (!opts.allowExtra) for (const name of map.keys()) if (!this.vars.has(name)) problems.push(`unexpected "${name}"`);
    if (problems.length) throw new Error(`GPT.loadWeights: weights do not match the model:\n  ${problems.join("\n  ")}`);
    for (const [name, v] of this.vars) {
      const w = map.get(name);
      if (w) v.assign(w.dtype === "float32" ? w : w.toFloat());
    }
  }

  /** Copy every trunk weight (not the head) from a model with the same config; with includeHead also the head. */
  copyTrunkFrom(other: GPT, opts: { includeHead?: boolean } = {}): void {
    assertSameArch(this.config, other.config);
    for (const [name, v] of this.vars) {
      if (this.isHeadName(name)) {
        if (!opts.includeHead) continue;
        const src = other.vars.get(name);
        if (!src) throw new Error(`GPT.copyTrunkFrom: includeHead but the source has no "${name}" (its head is "${other.head}")`);
        v.assign(src);
        continue;
      }
      v.assign(other.v(name));
    }
  }

  /** A new model with the same config and weights (the head is copied when the kind matches, else freshly initialised). */
  clone(opts: { head?: HeadKind; trainable?: boolean; seed?: number } = {}): GPT {
    const head = opts.head ?? this.head;
    const copy = new GPT(this.config, { seed: opts.seed ?? this.seed, head, trainable: opts.trainable });
    copy.copyTrunkFrom(this, { includeHead: head !== "none" && head === this.head });
    return copy;
  }

  paramCount(): number {
    let n = 0;
    for (const v of this.vars.values()) n += v.size;
    return n;
  }

  /** One line for notebooks and logs. */
  describe(): string {
    const c = this.config;
    return `GPT: ${this.paramCount().toLocaleString("en-US")} parameters (vocab ${c.vocab_size}, context ${c.context}, ` +
      `d_model ${c.d_model}, ${c.n_layers} layers, ${c.n_heads} heads, dropout ${c.dropout}, head ${this.head}, tied LM head)`;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.vars.values()) v.dispose();
    this.causalBias.dispose();
  }

  // ---------------------------------------------------------------- building blocks

  private dropout(x: tf.Tensor, training: boolean): tf.Tensor {
    const p = this.config.dropout;
    if (!training || p <= 0) return x;
    return tf.dropout(x, p, undefined, this.dropoutRng.nextSeed());
  }

  /** Token + position embeddings: ids [B,T] int32, positions [B,T] int32 -> [B,T,D]. */
  private embed(ids: tf.Tensor2D, positions: tf.Tensor2D | undefined): tf.Tensor3D {
    const tokens = tf.gather(this.v("wte"), ids);
    // Without padding every row has positions 0..T-1: a slice of W_pe broadcast over the batch (cheaper than a gather).
    const pos = positions ? tf.gather(this.v("wpe"), positions) : tf.slice(this.v("wpe"), [0, 0], [ids.shape[1], this.config.d_model]);
    return tf.add(tokens, pos) as tf.Tensor3D;
  }

  /** [B,T,D] -> q, k, v each [B,H,T,dh]. */
  private qkv(x: tf.Tensor3D, lv: LayerVars): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
    const [B, T, D] = x.shape;
    const H = this.config.n_heads, dh = D / H;
    const h = layerNorm(x, lv.ln1_g, lv.ln1_b).reshape([B * T, D]) as tf.Tensor2D;
    const proj = linear(h, lv.w_qkv, lv.b_qkv); // [B*T, 3D]
    const parts = tf.split(proj, 3, 1);
    const heads = (t: tf.Tensor) => tf.transpose(t.reshape([B, T, H, dh]), [0, 2, 1, 3]) as tf.Tensor4D;
    return [heads(parts[0]), heads(parts[1]), heads(parts[2])];
  }

  /** softmax(q k^T / sqrt(dh) + bias) v, heads merged and projected: -> [B,Tq,D]. bias broadcasts to [B,H,Tq,Tk]. */
  private attend(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor, lv: LayerVars, training: boolean): tf.Tensor3D {
    const [B, H, Tq, dh] = q.shape;
    const D = H * dh;
    // (q / sqrt(dh)) k^T: scaling q ([.., Tq, dh]) is cheaper than scaling the scores ([.., Tq, Tk]).
    const scores = tf.add(mm(tf.mul(q, 1 / Math.sqrt(dh)), k, true), bias);
    const att = this.dropout(tf.softmax(scores, -1), training) as tf.Tensor4D;
    const y = tf.transpose(mm(att, v), [0, 2, 1, 3]).reshape([B * Tq, D]) as tf.Tensor2D;
    const out = linear(y, lv.w_o, lv.b_o).reshape([B, Tq, D]);
    return this.dropout(out, training) as tf.Tensor3D;
  }

  private mlp(x: tf.Tensor3D, lv: LayerVars, training: boolean): tf.Tensor3D {
    const [B, T, D] = x.shape;
    const h = layerNorm(x, lv.ln2_g, lv.ln2_b).reshape([B * T, D]) as tf.Tensor2D;
    const a = gelu(linear(h, lv.w_fc, lv.b_fc)) as tf.Tensor2D;
    const out = linear(a, lv.w_proj, lv.b_proj).reshape([B, T, D]);
    return this.dropout(out, training) as tf.Tensor3D;
  }

  /** Final LayerNorm output h [B,T,D] -> tied logits [B,T,V]. */
  private lmHead(h: tf.Tensor3D): tf.Tensor3D {
    const [B, T, D] = h.shape;
    return mm(h.reshape([B * T, D]) as tf.Tensor2D, this.v("wte"), true).reshape([B, T, this.config.vocab_size]);
  }

  private checkTokens(tokens: tf.Tensor, attnMask?: tf.Tensor): void {
    if (this.disposed) throw new Error("GPT: model was disposed");
    if (tokens.rank !== 2) throw new Error(`GPT: tokens must be [B,T], got shape [${tokens.shape}]`);
    if (tokens.dtype !== "int32") throw new Error(`GPT: tokens must be int32, got ${tokens.dtype}`);
    const T = tokens.shape[1] as number;
    if (T > this.config.context) {
      throw new Error(`GPT: sequence of ${T} tokens exceeds the model context of ${this.config.context}`);
    }
    if (attnMask && !tf.util.arraysEqual(attnMask.shape, tokens.shape)) {
      throw new Error(`GPT: attnMask shape [${attnMask.shape}] differs from tokens shape [${tokens.shape}]`);
    }
  }

  /** Positions from the mask (cumsum - 1, padding clamped to 0); undefined (0..T-1 for every row) without one. */
  private positionsFor(attnMask?: tf.Tensor2D): tf.Tensor2D | undefined {
    if (!attnMask) return undefined;
    return tf.relu(tf.sub(tf.cumsum(attnMask.toFloat(), 1), 1)).toInt() as tf.Tensor2D;
  }

  /** Additive attention bias [B,1,T,T]: causal plus key padding. */
  private fullBias(B: number, T: number, attnMask?: tf.Tensor2D): tf.Tensor {
    const causal = tf.slice(this.causalBias, [0, 0], [T, T]);
    if (!attnMask) return causal;
    const keyPad = tf.mul(tf.sub(1, attnMask.toFloat()), NEG).reshape([B, 1, 1, T]);
    return tf.add(causal, keyPad);
  }

  /**
   * Shared by forward, hiddenStates and prefill: the final hidden states, optionally recording each layer's k and v.
   * `packed` replaces the mask-derived positions and bias (several sequences in one row: lib/lm/packing.ts).
   */
  private trunk(tokens: tf.Tensor2D, attnMask: tf.Tensor2D | undefined, training: boolean, kv?: { k: tf.Tensor4D[]; v: tf.Tensor4D[] },
    packed?: PackedLayout): tf.Tensor3D {
    const [B, T] = tokens.shape;
    let x = this.dropout(this.embed(tokens, packed ? packed.positions : this.positionsFor(attnMask)), training) as tf.Tensor3D;
    const bias = packed ? packed.bias : this.fullBias(B, T, attnMask);
    for (const lv of this.layers) {
      const [q, k, v] = this.qkv(x, lv);
      if (kv) { kv.k.push(k); kv.v.push(v); }
      x = tf.add(x, this.attend(q, k, v, bias, lv, training));
      x = tf.add(x, this.mlp(x, lv, training));
    }
    return layerNorm(x, this.v("ln_f.gamma"), this.v("ln_f.beta")) as tf.Tensor3D;
  }

  // ---------------------------------------------------------------- public passes

  /**
   * Final hidden states only (after ln_f), [B,T,D]: for the reward model and value head, skipping the LM head.
   * opts.packed: rows holding several sequences (positions [B,T] and bias [B,1,T,T] from lib/lm/packing.ts), in place
   * of attnMask.
   */
  hiddenStates(tokens: tf.Tensor2D, opts: { attnMask?: tf.Tensor2D; training?: boolean; packed?: PackedLayout } = {}): tf.Tensor3D {
    this.checkTokens(tokens, opts.attnMask);
    const p = opts.packed;
    if (p) {
      if (opts.attnMask) throw new Error("GPT.hiddenStates: give attnMask or packed, not both");
      const [B, T] = tokens.shape;
      if (!tf.util.arraysEqual(p.positions.shape, [B, T]) || !tf.util.arraysEqual(p.bias.shape, [B, 1, T, T])) {
        throw new Error(`GPT.hiddenStates: packed positions [${p.positions.shape}] and bias [${p.bias.shape}] must be ` +
          `[${B},${T}] and [${B},1,${T},${T}] for tokens [${B},${T}]`);
      }
    }
    return tf.tidy(() => this.trunk(tokens, opts.attnMask, opts.training ?? false, undefined, p));
  }

  /**
   * Training / scoring pass. tokens int32 [B,T]; attnMask float32 [B,T] (1 = real, 0 = padding; default all ones).
   * Returns next-token logits [B,T,V] and the final hidden states [B,T,D]. Dropout only when training is true.
   */
  forward(tokens: tf.Tensor2D, opts: { attnMask?: tf.Tensor2D; training?: boolean } = {}): { logits: tf.Tensor3D; hidden: tf.Tensor3D } {
    this.checkTokens(tokens, opts.attnMask);
    return tf.tidy(() => {
      const hidden = this.trunk(tokens, opts.attnMask, opts.training ?? false);
      return { logits: this.lmHead(hidden), hidden };
    });
  }

  /** The value or reward head on every position: hidden [B,T,D] -> [B,T]. */
  scalar(hidden: tf.Tensor3D): tf.Tensor2D {
    if (this.head === "none") throw new Error("GPT.scalar: this model has no head (constructed with head 'none')");
    return tf.tidy(() => {
      const [B, T, D] = hidden.shape;
      const w = this.v(`${this.head}_head.w`), b = this.v(`${this.head}_head.b`);
      return tf.add(mm(hidden.reshape([B * T, D]) as tf.Tensor2D, w), b).reshape([B, T]) as tf.Tensor2D;
    });
  }

  /**
   * Start incremental decoding: run the (left-padded) prompt once, keep every layer's keys and values.
   * Returns the logits of the last position [B,V] (the next token's distribution) and the cache. No dropout.
   */
  prefill(tokens: tf.Tensor2D, attnMask: tf.Tensor2D): { logits: tf.Tensor2D; cache: KVCache } {
    this.checkTokens(tokens, attnMask);
    const [B, T] = tokens.shape;
    const out = tf.tidy(() => {
      const kv = { k: [] as tf.Tensor4D[], v: [] as tf.Tensor4D[] };
      const hidden = this.trunk(tokens, attnMask, false, kv);
      const last = tf.slice(hidden, [0, T - 1, 0], [B, 1, this.config.d_model]) as tf.Tensor3D;
      const logits = this.lmHead(last).reshape([B, this.config.vocab_size]) as tf.Tensor2D;
      const mask = attnMask.toFloat() as tf.Tensor2D;
      const positions = tf.sum(mask, 1).toInt() as tf.Tensor1D;
      return { logits, keys: kv.k, values: kv.v, mask, positions };
    });
    const { logits, ...rest } = out;
    return { logits, cache: { ...rest, length: T } };
  }

  /**
   * Feed one token per row ([B] int32) after the cached ones. Consumes `cache` (its tensors are disposed) and returns
   * the next cache with the logits for the following token [B,V]. Throws when the cache is full (context tokens).
   */
  decodeStep(tokens: tf.Tensor1D, cache: KVCache): { logits: tf.Tensor2D; cache: KVCache } {
    if (this.disposed) throw new Error("GPT: model was disposed");
    const C = this.config.context;
    if (cache.length + 1 > C) {
      throw new Error(`GPT.decodeStep: KV cache is full (${cache.length} of ${C} context tokens); ` +
        `prompt length + max_new_tokens must not exceed the context of ${C}`);
    }
    const B = tokens.shape[0];
    if (B !== cache.mask.shape[0]) throw new Error(`GPT.decodeStep: ${B} tokens for a cache of batch ${cache.mask.shape[0]}`);
    // The layers of trunk() at one position, written for it: activations stay [B, D] rows, and [B,1,H,dh] and
    // [B,H,1,dh] share a memory layout, so the heads split and merge by reshape alone. At 64 rows a step is mostly
    // per-kernel overhead, and this path runs 16 kernels a layer fewer (reshapes and transposes) than the general one
    // (course shape, with the draw: 217 -> 153 a step); the KV-cache tests hold it to the full forward pass.
    const { d_model: D, n_heads: H } = this.config;
    const dh = D / H, L = cache.length + 1;
    const out = tf.tidy(() => {
      let x = tf.add(tf.gather(this.v("wte"), tokens.toInt()), tf.gather(this.v("wpe"), cache.positions)) as tf.Tensor2D;
      const mask = tf.concat([cache.mask, tf.ones([B, 1])], 1) as tf.Tensor2D;
      const bias = tf.mul(tf.sub(1, mask), NEG).reshape([B, 1, 1, L]);
      const keys: tf.Tensor4D[] = [], values: tf.Tensor4D[] = [];
      this.layers.forEach((lv, l) => {
        const h = layerNormInfer(x, lv.ln1_g, lv.ln1_b);
        const qkv = tf.add(mmInfer(h, lv.w_qkv), lv.b_qkv).reshape([B, 3 * H, 1, dh]); // [q heads | k heads | v heads]
        const [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor4D[];
        const K = tf.concat([cache.keys[l], k], 2) as tf.Tensor4D;
        const V = tf.concat([cache.values[l], v], 2) as tf.Tensor4D;
        keys.push(K); values.push(V);
        const att = tf.softmax(tf.add(mmInfer(tf.mul(q, 1 / Math.sqrt(dh)), K, true), bias), -1);
        const y = mmInfer(att, V).reshape([B, D]) as tf.Tensor2D;
        x = tf.add(x, tf.add(mmInfer(y, lv.w_o), lv.b_o));
        const a = gelu(tf.add(mmInfer(layerNormInfer(x, lv.ln2_g, lv.ln2_b), lv.w_fc), lv.b_fc)) as tf.Tensor2D;
        x = tf.add(x, tf.add(mmInfer(a, lv.w_proj), lv.b_proj));
      });
      const logits = mmInfer(layerNormInfer(x, this.v("ln_f.gamma"), this.v("ln_f.beta")), this.v("wte"), true) as tf.Tensor2D;
      const positions = tf.add(cache.positions, tf.scalar(1, "int32")) as tf.Tensor1D;
      return { logits, keys, values, mask, positions };
    });
    const length = cache.length + 1;
    disposeCache(cache);
    const { logits, ...rest } = out;
    return { logits, cache: { ...rest, length } };
  }
}

/** Throws with the offending key when a model config cannot build a GPT. */
export function validateModelConfig(c: ModelConfig): void {
  const intKeys: (keyof ModelConfig)[] = ["vocab_size", "context", "d_model", "n_layers", "n_heads"];
  for (const k of intKeys) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`model.${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.d_model % c.n_heads !== 0) throw new Error(`model.d_model (${c.d_model}) must be divisible by model.n_heads (${c.n_heads})`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`model.dropout must be in [0, 1), got ${c.dropout}`);
}

function assertSameArch(a: ModelConfig, b: ModelConfig): void {
  const keys: (keyof ModelConfig)[] = ["vocab_size", "context", "d_model", "n_layers", "n_heads"];
  const diff = keys.filter((k) => a[k] !== b[k]).map((k) => `${k}: ${b[k]} vs ${a[k]}`);
  if (diff.length) throw new Error(`GPT: architectures differ (${diff.join(", ")})`);
}
