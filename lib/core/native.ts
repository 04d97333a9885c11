// Fast paths on the native backend (@tensorflow/tfjs-node, "tensorflow"): a few TensorFlow CPU kernels that tfjs does
// not expose, called by op name. Each is a small function with a composed-tfjs twin in lib/lm/model.ts, which stays the
// reference (test/native.test.ts compares values and gradients) and the path on every other backend (wasm, cpu).
//
// Why: per step the composed ops cost more than the arithmetic (npm run bench, environment.md "Speed"): e.g. the
// token NLL's softmax/one-hot/sum on [B*T, V] is ~10 tfjs kernels where TensorFlow has one fused kernel.
// fastPaths(false) (or RLHF_FAST_PATHS=0) turns them off, fastPaths(["layernorm"]) keeps one: to measure or rule them
// out.
import * as tf from "@tensorflow/tfjs";

interface OpAttr { name: string; type: number; value: unknown }
interface NativeBackend {
  binding: { TF_ATTR_TYPE: number; TF_ATTR_BOOL: number; TF_ATTR_FLOAT: number; TF_ATTR_STRING: number; TF_ATTR_INT: number; TF_FLOAT: number; TF_INT32: number };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[], numOutputs: number): tf.Tensor[];
}

/**
 * The fast paths, by name: the token NLL kernel, the LayerNorm kernels, the sampler's kernels (drawTokens), decoding's
 * products (matmul), training's products and bias adds with their gradients (linear), GELU's backward (gelu).
 */
export const FAST_PATHS = ["nll", "layernorm", "draw", "matmul", "linear", "gelu"] as const;
export type FastPath = (typeof FAST_PATHS)[number];

/**
 * On unless asked otherwise. "nll" is off: SparseSoftmaxCrossEntropyWithLogits also writes the [N,V] gradient, so
 * scoring (no gradient) took more CPU than the composed loss, and a train step the same (environment.md, "Speed").
 */
export const DEFAULT_FAST_PATHS: readonly FastPath[] = ["layernorm", "draw", "matmul", "linear", "gelu"];

// RLHF_FAST_PATHS: unset = the defaults; all = every one; 0/off/none = none; else a comma-separated list.
function fromEnv(v: string | undefined): Set<FastPath> {
  if (v === undefined || v.trim() === "") return new Set(DEFAULT_FAST_PATHS);
  if (/^(1|on|all|true)$/i.test(v.trim())) return new Set(FAST_PATHS);
  if (/^(0|false|off|no|none)$/i.test(v.trim())) return new Set();
  return new Set(v.split(",").map((x) => x.trim()).filter((x): x is FastPath => (FAST_PATHS as readonly string[]).includes(x)));
}

let enabled = fromEnv(process.env.RLHF_FAST_PATHS);

/** Set which fast paths are used (true = all, including opt-in ones; false = none; or a list); returns the previous set. */
export function fastPaths(on?: boolean | readonly FastPath[]): FastPath[] {
  const old = [...enabled];
  if (on !== undefined) enabled = new Set(on === true ? FAST_PATHS : on === false ? [] : on);
  return old;
}

/** The native backend when it is active and the fast path `which` is on, else undefined (then use composed tfjs ops). */
export function nativeBackend(which: FastPath): NativeBackend | undefined {
  if (!enabled.has(which) || tf.getBackend() !== "tensorflow") return undefined;
  const b = tf.backend() as unknown as Partial<NativeBackend>;
  return typeof b.executeMultipleOutputs === "function" && b.binding ? (b as NativeBackend) : undefined;
}

function typeAttr(nb: NativeBackend, name: string, dtype: "float32" | "int32"): OpAttr {
  return { name, type: nb.binding.TF_ATTR_TYPE, value: dtype === "float32" ? nb.binding.TF_FLOAT : nb.binding.TF_INT32 };
}

function boolAttr(nb: NativeBackend, name: string, value: boolean): OpAttr {
  return { name, type: nb.binding.TF_ATTR_BOOL, value };
}

/**
 * TensorFlow's SparseSoftmaxCrossEntropyWithLogits: logits [N,V] float32, labels [N] int32 -> per-row loss
 * -log softmax(logits)[label] [N] and its gradient softmax(logits) - onehot(label) [N,V], in one kernel.
 * Not recorded for autodiff: callers wrap it in tf.customGrad (lib/lm/model.ts tokenNll).
 */
export function sparseSoftmaxXent(nb: NativeBackend, logits: tf.Tensor2D, labels: tf.Tensor1D): { loss: tf.Tensor1D; backprop: tf.Tensor2D } {
  const [loss, backprop] = nb.executeMultipleOutputs("SparseSoftmaxCrossEntropyWithLogits",
    [typeAttr(nb, "T", "float32"), typeAttr(nb, "Tlabels", "int32")], [logits, labels], 2);
  return { loss: loss as tf.Tensor1D, backprop: backprop as tf.Tensor2D };
}

/** TensorFlow's 2-D MatMul (a or b optionally transposed); not recorded for autodiff. */
export function matMul2d(nb: NativeBackend, a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false, transposeB = false): tf.Tensor2D {
  return nb.executeSingleOutput("MatMul", [typeAttr(nb, "T", "float32"), boolAttr(nb, "transpose_a", transposeA),
    boolAttr(nb, "transpose_b", transposeB)], [a, b]) as tf.Tensor2D;
}

/** TensorFlow's BatchMatMulV2 on equal-rank operands of rank >= 3 (adjX/adjY transpose the last two axes); no autodiff. */
export function batchMatMul(nb: NativeBackend, a: tf.Tensor, b: tf.Tensor, adjX: boolean, adjY: boolean): tf.Tensor {
  return nb.executeSingleOutput("BatchMatMulV2", [typeAttr(nb, "T", "float32"), boolAttr(nb, "adj_x", adjX),
    boolAttr(nb, "adj_y", adjY)], [a, b]);
}

/**
 * a b (or a b^T) for equal-rank operands (above rank 2 with the same batch axes) as one native kernel: MatMul for
 * rank 2, BatchMatMulV2 above. tfjs's matMul reshapes both operands to rank 3 and the result back, three Reshape
 * kernels (each uploading its shape) around every product, which at decoding's sizes (64 rows, one position) cost
 * about as much as the product. Not recorded for autodiff: for decoding only (GPT.decodeStep).
 */
export function matMulNative(nb: NativeBackend, a: tf.Tensor, b: tf.Tensor, transposeB: boolean): tf.Tensor {
  return a.rank === 2 ? matMul2d(nb, a as tf.Tensor2D, b as tf.Tensor2D, false, transposeB) : batchMatMul(nb, a, b, false, transposeB);
}

/** x [N,F] + b [F] as TensorFlow's BiasAdd (one kernel; tfjs's add broadcasts through its own shape checks). */
export function biasAdd(nb: NativeBackend, x: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return nb.executeSingleOutput("BiasAdd", [typeAttr(nb, "T", "float32"), { name: "data_format", type: nb.binding.TF_ATTR_STRING, value: "NHWC" }], [x, b]) as tf.Tensor2D;
}

/** d/db of biasAdd: the column sums of dy [N,F] -> [F] (BiasAddGrad). */
export function biasAddGrad(nb: NativeBackend, dy: tf.Tensor2D): tf.Tensor1D {
  return nb.executeSingleOutput("BiasAddGrad", [typeAttr(nb, "T", "float32"), { name: "data_format", type: nb.binding.TF_ATTR_STRING, value: "NHWC" }], [dy]) as tf.Tensor1D;
}

/** g * y * (1 - y) for y = sigmoid(x): the sigmoid's backward pass in one kernel (SigmoidGrad; tfjs composes three). */
export function sigmoidGrad(nb: NativeBackend, y: tf.Tensor, g: tf.Tensor): tf.Tensor {
  return nb.executeSingleOutput("SigmoidGrad", [typeAttr(nb, "T", "float32")], [y, g]);
}

function bnAttrs(nb: NativeBackend, eps: number): OpAttr[] {
  // NCHW with the rows as channels: batch-norm "per channel over H x W" is LayerNorm per row over the D features.
  return [typeAttr(nb, "T", "float32"), typeAttr(nb, "U", "float32"), { name: "epsilon", type: nb.binding.TF_ATTR_FLOAT, value: eps },
    { name: "data_format", type: nb.binding.TF_ATTR_STRING, value: "NCHW" }, boolAttr(nb, "is_training", true)];
}

/**
 * Each row of x [N,D] normalised, (x - mean) / sqrt(var + eps), by TensorFlow's FusedBatchNormV3 (x seen as NCHW
 * [1,N,D,1], one channel per row): one kernel instead of ~7. Returns xhat and what rowNormGrad needs. No autodiff.
 */
export function rowNorm(nb: NativeBackend, x: tf.Tensor2D, eps: number): { xhat: tf.Tensor2D; saved: tf.Tensor[] } {
  const [N, D] = x.shape;
  // per-row scale 1 and offset 0 (gamma and beta are per feature: the caller applies them); made per call, not
  // cached, so no tensor outlives the caller's tidy
  const ones = tf.ones([N]), zeros = tf.zeros([N]), empty = tf.zeros([0]);
  const o = nb.executeMultipleOutputs("FusedBatchNormV3", [...bnAttrs(nb, eps), { name: "exponential_avg_factor", type: nb.binding.TF_ATTR_FLOAT, value: 1 }],
    [tf.reshape(x, [1, N, D, 1]), ones, zeros, empty, empty], 6);
  tf.dispose([o[1], o[2], zeros, empty]); // running mean / variance: unused
  return { xhat: tf.reshape(o[0], [N, D]) as tf.Tensor2D, saved: [ones, o[3], o[4], o[5]] };
}

/** d/dx of rowNorm for an upstream gradient g [N,D] (FusedBatchNormGradV3, one kernel instead of ~8); saved from rowNorm. */
export function rowNormGrad(nb: NativeBackend, g: tf.Tensor2D, x: tf.Tensor2D, saved: tf.Tensor[], eps: number): tf.Tensor2D {
  const [N, D] = x.shape;
  const o = nb.executeMultipleOutputs("FusedBatchNormGradV3", bnAttrs(nb, eps),
    [tf.reshape(g, [1, N, D, 1]), tf.reshape(x, [1, N, D, 1]), ...saved], 5);
  tf.dispose(o.slice(1));
  return tf.reshape(o[0], [N, D]) as tf.Tensor2D;
}

/**
 * lib/lm/rollout.ts drawTokens with native kernels: LogSoftmax (one kernel, tfjs composes six), LowerBound (a binary
 * search per row for the first cumulative probability >= u * total, where tfjs compares, casts and sums all V), and
 * a batched GatherV2 for the drawn ids' log-probs (tfjs: one-hot, cast, multiply, sum). Same draws for the same u.
 */
export function drawTokensNative(nb: NativeBackend, logits: tf.Tensor2D, temperature: number, allowed: tf.Tensor1D, u: Float32Array): { ids: Int32Array; logprobs: Float32Array } {
  const [R, V] = logits.shape;
  const out = tf.tidy(() => {
    const x = temperature === 1 ? logits : tf.div(logits, temperature);
    const logp = nb.executeSingleOutput("LogSoftmax", [typeAttr(nb, "T", "float32")], [x]) as tf.Tensor2D;
    const cum = tf.cumsum(tf.mul(tf.exp(logp), allowed), 1);
    const target = tf.mul(tf.tensor2d(u, [R, 1]), tf.slice(cum, [0, V - 1], [R, 1]));
    const ids = nb.executeSingleOutput("LowerBound", [typeAttr(nb, "T", "float32"), typeAttr(nb, "out_type", "int32")], [cum, target]); // [R,1]
    const axis = tf.scalar(1, "int32");
    const lp = nb.executeSingleOutput("GatherV2", [{ name: "batch_dims", type: nb.binding.TF_ATTR_INT, value: 1 },
      typeAttr(nb, "Tparams", "float32"), typeAttr(nb, "Tindices", "int32"), typeAttr(nb, "Taxis", "int32")], [logp, ids, axis]); // [R,1]
    return tf.concat([tf.cast(ids, "float32"), lp], 1); // one transfer: ids are exact in float32 (V < 2^24)
  });
  const both = out.dataSync() as Float32Array;
  out.dispose();
  const ids = new Int32Array(R), logprobs = new Float32Array(R);
  for (let j = 0; j < R; j++) { ids[j] = both[2 * j]; logprobs[j] = both[2 * j + 1]; }
  return { ids, logprobs };
}
