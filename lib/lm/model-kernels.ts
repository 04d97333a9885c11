// The GPT's building blocks as kernels (lib/lm/model.ts is the model: read it first). Products, GELU, LayerNorm and
// the token NLL, each in the composed tfjs form a notebook explains and, on the native backend, as TensorFlow kernels
// with their gradients written out (the fast paths of lib/core/native.ts). Tests hold each fast path to tfjs autodiff.

import * as tf from "@tensorflow/tfjs";
import { batchMatMul, biasAdd, biasAddGrad, matMul2d, matMulNative, nativeBackend, rowNorm, rowNormGrad, sigmoidGrad, sparseSoftmaxXent } from "../core/native";

/**
 * a @ b (or a @ b^T); both operands have the same rank. With the "linear" fast path: one native kernel each way
 * (MatMul / BatchMatMulV2) and the gradients written out, where tfjs's matMul reshapes both operands to rank 3 and
 * back around every product, forward and backward.
 */
export function mm<T extends tf.Tensor>(a: T, b: tf.Tensor, transposeB = false): T {
  if (nativeBackend("linear")) return (transposeB ? mmNativeABt(a, b) : mmNativeAB(a, b)) as unknown as T;
  return tf.matMul(a, b, false, transposeB) as unknown as T;
}

/** x W + b for rows x [N,K], W [K,F], b [F]: with the "linear" fast path MatMul + BiasAdd, backward MatMul x2 + BiasAddGrad. */
export function linear(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  if (nativeBackend("linear")) return linearNative(x, w, b);
  return tf.add(tf.matMul(x, w), b) as tf.Tensor2D;
}

type Native = NonNullable<ReturnType<typeof nativeBackend>>;

/** A native product, a or b optionally transposed (the last two axes); not recorded for autodiff. */
function nmm(nb: Native, a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor {
  return a.rank === 2 ? matMul2d(nb, a as tf.Tensor2D, b as tf.Tensor2D, ta, tb) : batchMatMul(nb, a, b, ta, tb);
}

// C = A B:    dA = dC B^T,  dB = A^T dC
// C = A B^T:  dA = dC B,    dB = dC^T A
const nativeProduct = (transposeB: boolean) => tf.customGrad((...args: unknown[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  const nb = nativeBackend("linear")!;
  save([a, b]);
  return {
    value: nmm(nb, a, b, false, transposeB),
    gradFunc: (dy: tf.Tensor, [sa, sb]: tf.Tensor[]) => transposeB
      ? [nmm(nb, dy, sb, false, false), nmm(nb, dy, sa, true, false)]
      : [nmm(nb, dy, sb, false, true), nmm(nb, sa, dy, true, false)],
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
const mmNativeAB = nativeProduct(false);
const mmNativeABt = nativeProduct(true);

// Y = X W + b:  dX = dY W^T,  dW = X^T dY,  db = column sums of dY
const linearNative = tf.customGrad((...args: unknown[]) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  const nb = nativeBackend("linear")!; // the gradient uses the same backend even if fast paths are toggled meanwhile
  save([x, w]);
  return {
    value: biasAdd(nb, matMul2d(nb, x, w), b),
    gradFunc: (dy: tf.Tensor, [sx, sw]: tf.Tensor[]) => {
      const g = dy as tf.Tensor2D;
      return [matMul2d(nb, g, sw as tf.Tensor2D, false, true), matMul2d(nb, sx as tf.Tensor2D, g, true, false), biasAddGrad(nb, g)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/** mm for decoding, where no gradient is taken: one native kernel a product when the "matmul" fast path is on. */
export function mmInfer<T extends tf.Tensor>(a: T, b: tf.Tensor, transposeB = false): T {
  const nb = nativeBackend("matmul");
  return (nb ? matMulNative(nb, a, b, transposeB) : tf.matMul(a, b, false, transposeB)) as unknown as T;
}

/**
 * GELU, in its sigmoid form x * sigmoid(1.702 x) (Hendrycks & Gimpel 2016 give it beside the tanh form GPT-2 uses;
 * the two differ by < 0.02). Three elementwise ops instead of nine: the MLP's [B, T, 4d] activations are the largest
 * elementwise tensors of a step, so this is a measurable share of step time on the CPU.
 * Its gradient is written out, with u = 1.702 x and s = sigmoid(u):
 *   d/dx [x s] = s + x * 1.702 * s (1 - s) = s + u s (1 - s),   so  dx = dy s + (dy u) s (1 - s)
 * four kernels on the native backend (the last product is TensorFlow's SigmoidGrad), where autodiff takes seven.
 */
export const gelu = tf.customGrad((...args: unknown[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const u = tf.mul(x, 1.702);
  const s = tf.sigmoid(u);
  save([u, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, [u, s]: tf.Tensor[]) => {
      const nb = nativeBackend("gelu");
      const g = tf.mul(dy, u);
      return tf.add(tf.mul(dy, s), nb ? sigmoidGrad(nb, s, g) : tf.mul(g, tf.mul(s, tf.sub(1, s))));
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * LayerNorm over the last axis, y = gamma * xhat + beta with xhat = (x - mean) / sqrt(var + eps), written with its
 * gradient by hand (half the ops of autodiff through tf.moments; LayerNorm runs 2 n_layers + 1 times per pass):
 *   dbeta = sum dy,  dgamma = sum dy * xhat,  dx = rstd * (g - mean(g) - xhat * mean(g * xhat))  with g = dy * gamma.
 */
const layerNormOp = tf.customGrad((...args: unknown[]) => {
  const [x, gamma, beta, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
  const xc = tf.sub(x, tf.mean(x, -1, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), 1e-5));
  const xhat = tf.mul(xc, rstd);
  save([xhat, rstd, gamma]);
  return {
    value: tf.add(tf.mul(xhat, gamma), beta),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xh, rs, gm] = saved;
      const rows = dy.size / dy.shape[dy.rank - 1];
      const dy2 = tf.reshape(dy, [rows, -1]);
      const dbeta = tf.sum(dy2, 0);
      const dgamma = tf.sum(tf.reshape(tf.mul(dy, xh), [rows, -1]), 0);
      const g = tf.mul(dy, gm);
      const dx = tf.mul(rs, tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(xh, tf.mean(tf.mul(g, xh), -1, true))));
      return [dx, dgamma, dbeta];
    },
  };
});

/**
 * layerNormOp on the native backend: the normalisation and its gradient are one TensorFlow kernel each
 * (FusedBatchNormV3 / FusedBatchNormGradV3 with one channel per row, lib/core/native.ts rowNorm); gamma and beta as above.
 */
const layerNormNativeOp = tf.customGrad((...args: unknown[]) => {
  const [x, gamma, beta, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
  const D = x.shape[x.rank - 1], N = x.size / D;
  const x2 = tf.reshape(x, [N, D]) as tf.Tensor2D;
  const nb = nativeBackend("layernorm")!; // the gradient uses the same backend even if fast paths are toggled meanwhile
  const { xhat, saved } = rowNorm(nb, x2, 1e-5);
  save([x2, xhat, gamma, ...saved]);
  return {
    value: tf.reshape(tf.add(tf.mul(xhat, gamma), beta), x.shape),
    gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => {
      const [xs, xh, gm, ...rest] = s;
      const dy2 = tf.reshape(dy, [N, D]);
      const dx = rowNormGrad(nb, tf.mul(dy2, gm) as tf.Tensor2D, xs as tf.Tensor2D, rest, 1e-5);
      return [tf.reshape(dx, dy.shape), tf.sum(tf.mul(dy2, xh), 0), tf.sum(dy2, 0)];
    },
  };
});

/** LayerNorm over the last axis: the native kernels when available, else the composed version. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  return nativeBackend("layernorm") ? layerNormNativeOp(x, gamma, beta) : layerNormOp(x, gamma, beta);
}

/**
 * LayerNorm of rows x [N,D] where no gradient is taken (decoding): the native kernel without tfjs's custom-gradient
 * bookkeeping and without reshaping x to its own shape, else the composed version.
 */
export function layerNormInfer(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor2D {
  const nb = nativeBackend("layernorm");
  if (!nb) return layerNormOp(x, gamma, beta) as tf.Tensor2D;
  return tf.add(tf.mul(rowNorm(nb, x, 1e-5).xhat, gamma), beta) as tf.Tensor2D; // rowNorm's saved tensors: the caller's tidy
}

/** The composed LayerNorm (every backend; the reference for the native path). */
export function layerNormComposed(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  return layerNormOp(x, gamma, beta);
}

/**
 * -log p(target) per position from composed tfjs ops (every backend; the reference for the native path below):
 * logits [B,T,V], targets [B,T] int32 -> [B,T]. Written with its gradient (d/dlogits = softmax - onehot) by hand: the
 * autodiff of logSoftmax + one-hot pick costs about twice the ops on the step's largest tensor ([B, T, V]). Works on every backend (no gather).
 */
export const tokenNllComposed = tf.customGrad((...args: unknown[]) => {
  const [logits, targets, save] = args as [tf.Tensor3D, tf.Tensor2D, tf.GradSaveFunc];
  const oneHot = tf.cast(tf.oneHot(targets, logits.shape[2]), "float32"); // (oneHot's own dtype argument gives wrong values on wasm)
  const logp = tf.sub(logits, tf.logSumExp(logits, -1, true));
  save([logp, oneHot]);
  return {
    value: tf.neg(tf.sum(tf.mul(logp, oneHot), -1)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [lp, oh] = saved;
      // zeros by shape, not zerosLike(targets): targets may have been disposed by the time the gradient runs (a
      // caller's tidy made it, e.g. scoreResponses' toInt() inside PPO's variableGrads); only saved tensors survive.
      return [tf.mul(tf.expandDims(dy, -1), tf.sub(tf.exp(lp), oh)), tf.zeros(targets.shape, targets.dtype)];
    },
  };
}) as (logits: tf.Tensor3D, targets: tf.Tensor2D) => tf.Tensor2D;

/**
 * tokenNll on the native backend: TensorFlow's SparseSoftmaxCrossEntropyWithLogits gives the loss and its gradient
 * (softmax - onehot) in one kernel, instead of ~10 composed kernels on [B*T, V] (lib/core/native.ts; same values).
 */
const tokenNllNative = tf.customGrad((...args: unknown[]) => {
  const [logits, targets, save] = args as [tf.Tensor3D, tf.Tensor2D, tf.GradSaveFunc];
  const [B, T, V] = logits.shape;
  const { loss, backprop } = sparseSoftmaxXent(nativeBackend("nll")!, tf.reshape(logits, [B * T, V]), tf.reshape(targets.toInt(), [B * T]));
  save([backprop]);
  return {
    value: tf.reshape(loss, [B, T]),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      [tf.reshape(tf.mul(tf.reshape(dy, [B * T, 1]), saved[0]), [B, T, V]), tf.zeros([B, T], "int32")],
  };
}) as (logits: tf.Tensor3D, targets: tf.Tensor2D) => tf.Tensor2D;

/** -log p(target) per position (logits [B,T,V], targets [B,T] int32 -> [B,T]): the native kernel when available. */
export function tokenNll(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor2D {
  return nativeBackend("nll") ? tokenNllNative(logits, targets) : tokenNllComposed(logits, targets);
}

/** log p(target) per position from logits [B,T,V] and targets [B,T] int32 -> [B,T]. Differentiable. */
export function tokenLogProbs(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.neg(tokenNll(logits, targets)) as tf.Tensor2D);
}

/**
 * Mean next-token cross-entropy in nats: -sum(mask * log p(target)) / sum(mask). mask [B,T] float (1 = counts);
 * without a mask every position counts.
 */
export function crossEntropy(logits: tf.Tensor3D, targets: tf.Tensor2D, mask?: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const nll = tokenNll(logits, targets);
    if (!mask) return tf.mean(nll) as tf.Scalar;
    return tf.div(tf.sum(tf.mul(nll, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}
