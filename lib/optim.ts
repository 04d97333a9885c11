// AdamW, global-norm gradient clipping and the warmup + cosine learning-rate schedule, written out by hand:
// tfjs's train.adam has neither weight decay nor clipping (facts.md).
//
// AdamW (Loshchilov & Hutter 2019), one step t >= 1 for each parameter theta with gradient g:
//   m     = b1 m + (1 - b1) g                 v     = b2 v + (1 - b2) g^2
//   m_hat = m / (1 - b1^t)                    v_hat = v / (1 - b2^t)
//   theta = theta - lr * ( m_hat / (sqrt(v_hat) + eps)  +  wd * theta )      <- decay "decoupled" from the gradient
// (the same as PyTorch's torch.optim.AdamW: eps added after bias correction, decay uses theta before the step).
//
// Which parameters decay: like nanoGPT, every matrix (rank >= 2: attention and MLP weights, the token and position
// embeddings, the heads' weights) decays; vectors (biases, LayerNorm gains and shifts) do not, because shrinking a
// gain toward 0 or a bias toward 0 is not a sensible prior. Override with `decay: (name, variable) => boolean`.
import * as tf from "@tensorflow/tfjs";

export interface AdamWOptions {
  weightDecay?: number; // default 0
  beta1?: number; // default 0.9
  beta2?: number; // default 0.99 (small models, short runs: nanoGPT's char-level setting)
  eps?: number; // default 1e-8
  /** Does this variable decay? Default: rank >= 2. */
  decay?: (name: string, v: tf.Variable) => boolean;
}

export class AdamW {
  readonly vars: tf.Variable[];
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Steps taken so far (t in the bias correction). */
  t = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private readonly decays = new Map<string, boolean>();

  constructor(vars: tf.Variable[], opts: AdamWOptions = {}) {
    this.vars = vars;
    this.weightDecay = opts.weightDecay ?? 0;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.99;
    this.eps = opts.eps ?? 1e-8;
    const decay = opts.decay ?? ((_name: string, x: tf.Variable) => x.rank >= 2);
    for (const x of vars) {
      if (this.m.has(x.name)) throw new Error(`AdamW: variable "${x.name}" given twice`);
      // Slots are created up front (not lazily inside a caller's tidy) and are not trainable.
      // tf.variable shares the initial tensor's data; dispose the initial tensor or it leaks.
      const slot = (suffix: string) => {
        const z = tf.zerosLike(x);
        const s = tf.variable(z, false, `${x.name}/${suffix}`);
        z.dispose();
        return s;
      };
      this.m.set(x.name, slot("adam_m"));
      this.v.set(x.name, slot("adam_v"));
      this.decays.set(x.name, decay(x.name, x));
    }
  }

  /** Does this variable get weight decay? (for notebooks and tests) */
  decaysVariable(x: tf.Variable): boolean {
    return this.decays.get(x.name) ?? false;
  }

  /**
   * One update. grads are keyed by variable name (what tf.variableGrads returns). A variable without a gradient is
   * left untouched (no decay either), like PyTorch does for parameters whose .grad is None.
   */
  step(grads: Record<string, tf.Tensor>, lr: number): void {
    this.t += 1;
    const { beta1: b1, beta2: b2, eps, t } = this;
    const bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
    for (const x of this.vars) {
      const g = grads[x.name];
      if (!g) continue;
      const m = this.m.get(x.name)!, v = this.v.get(x.name)!;
      const wd = this.decays.get(x.name) ? this.weightDecay : 0;
      tf.tidy(() => {
        const m1 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        const update = tf.div(tf.div(m1, bc1), tf.add(tf.sqrt(tf.div(v1, bc2)), eps));
        const decayed = wd > 0 ? tf.mul(x, 1 - lr * wd) : x;
        x.assign(tf.sub(decayed, tf.mul(update, lr)));
        m.assign(m1);
        v.assign(v1);
      });
    }
  }

  dispose(): void {
    for (const s of [...this.m.values(), ...this.v.values()]) s.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** sqrt(sum over all gradients of sum(g^2)), as a scalar tensor. */
export function globalNorm(grads: Record<string, tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const parts = Object.values(grads).map((g) => tf.sum(tf.square(g)));
    return tf.sqrt(parts.length ? tf.addN(parts) : tf.scalar(0)) as tf.Scalar;
  });
}

/**
 * Global-norm clipping (Pascanu et al. 2013): when ||g|| > maxNorm every gradient is scaled by maxNorm / ||g||.
 * Returns new gradient tensors (the caller disposes them and the inputs) and the norm BEFORE clipping, for logging.
 * maxNorm <= 0 or Infinity disables clipping (the norm is still measured).
 */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): { grads: Record<string, tf.Tensor>; norm: number } {
  const normT = globalNorm(grads);
  const norm = normT.dataSync()[0];
  normT.dispose();
  const out: Record<string, tf.Tensor> = {};
  const scale = maxNorm > 0 && Number.isFinite(maxNorm) && norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
  for (const [k, g] of Object.entries(grads)) out[k] = scale === 1 ? g.clone() : tf.mul(g, scale);
  return { grads: out, norm };
}

export interface ScheduleOptions {
  lr: number;
  steps: number;
  warmup_steps: number;
  min_lr_ratio: number;
}

/**
 * Learning rate at step (0-based): linear warmup to lr over warmup_steps, then cosine decay to lr * min_lr_ratio
 * at the last step:   lr_t = lr_min + (lr - lr_min) * (1 + cos(pi * progress)) / 2.
 */
export function lrAt(step: number, s: ScheduleOptions): number {
  if (s.warmup_steps > 0 && step < s.warmup_steps) return (s.lr * (step + 1)) / s.warmup_steps;
  const lrMin = s.lr * s.min_lr_ratio;
  const span = Math.max(1, s.steps - 1 - s.warmup_steps);
  const progress = Math.min(1, Math.max(0, (step - s.warmup_steps) / span));
  return lrMin + 0.5 * (s.lr - lrMin) * (1 + Math.cos(Math.PI * progress));
}

export interface TrainStepOptions {
  lr: number;
  /** Global-norm clip; <= 0 disables. */
  gradClip: number;
}

/**
 * The step every stage shares: loss and gradients of lossFn with respect to vars, global-norm clip, AdamW update.
 * lossFn builds the loss from the variables (tf.variableGrads records it); it may read outer tensors, which it must
 * not dispose. Returns the loss and the gradient norm before clipping (both numbers, for the metrics row).
 */
export function trainStep(vars: tf.Variable[], lossFn: () => tf.Scalar, opt: AdamW, o: TrainStepOptions): { loss: number; gradNorm: number } {
  const { value, grads } = tf.variableGrads(lossFn, vars);
  const loss = value.dataSync()[0];
  const clipped = clipByGlobalNorm(grads, o.gradClip);
  // Refuse to step on a non-finite loss or gradient: one NaN update would poison every weight.
  const bad = !Number.isFinite(loss) || !Number.isFinite(clipped.norm);
  if (!bad) opt.step(clipped.grads, o.lr);
  tf.dispose([value, ...Object.values(grads), ...Object.values(clipped.grads)]);
  if (bad) {
    throw new Error(`trainStep: loss is ${loss}, gradient norm ${clipped.norm} (lr ${o.lr}); no update was made. ` +
      "Lower the learning rate or check the inputs.");
  }
  return { loss, gradNorm: clipped.norm };
}
