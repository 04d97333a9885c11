// AdamW, global-norm gradient clipping and the warmup + cosine learning-rate schedule, written out by hand:
// tfjs's train.adam has neither weight decay nor clipping.
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
import { wsdDecayStart } from "../core/config";

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
  // All parameters are updated as ONE flat vector: a handful of big ops per step instead of ~15 small ops per
  // variable (per-op overhead dominates a tiny model's optimizer step on the CPU). m and v are flat too.
  private readonly sizes: number[];
  private readonly total: number;
  private readonly m: tf.Variable; // [total]
  private readonly v: tf.Variable; // [total]
  private readonly decayMask: tf.Tensor1D; // [total], 1 where the parameter decays
  private readonly decays = new Map<string, boolean>();

  constructor(vars: tf.Variable[], opts: AdamWOptions = {}) {
    this.vars = vars;
    this.weightDecay = opts.weightDecay ?? 0;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.99;
    this.eps = opts.eps ?? 1e-8;
    const decay = opts.decay ?? ((_name: string, x: tf.Variable) => x.rank >= 2);
    const names = new Set<string>();
    for (const x of vars) {
      if (names.has(x.name)) throw new Error(`AdamW: variable "${x.name}" given twice`);
      names.add(x.name);
      this.decays.set(x.name, decay(x.name, x));
    }
    this.sizes = vars.map((x) => x.size);
    this.total = this.sizes.reduce((a, b) => a + b, 0);
    const mask = new Float32Array(this.total);
    let off = 0;
    vars.forEach((x, i) => {
      if (this.decays.get(x.name)) mask.fill(1, off, off + this.sizes[i]);
      off += this.sizes[i];
    });
    // Created up front (not lazily inside a caller's tidy); tf.variable shares the initial tensor's data, so the
    // initial tensor is disposed (it would leak otherwise).
    const slot = (suffix: string) => {
      const z = tf.zeros([this.total]);
      const s = tf.variable(z, false, `adamw${adamwCounter}/${suffix}`);
      z.dispose();
      return s;
    };
    this.m = slot("m");
    this.v = slot("v");
    adamwCounter++;
    this.decayMask = tf.keep(tf.tensor1d(mask));
  }

  /** Does this variable get weight decay? (for notebooks and tests) */
  decaysVariable(x: tf.Variable): boolean {
    return this.decays.get(x.name) ?? false;
  }

  /** The gradients as one flat vector in variable order (missing ones as zeros), times scale. */
  flatten(grads: Record<string, tf.Tensor>, scale = 1): tf.Tensor1D {
    return tf.tidy(() => {
      const parts = this.vars.map((x) => (grads[x.name] ? tf.reshape(grads[x.name], [-1]) : tf.zeros([x.size])));
      const flat = parts.length === 1 ? parts[0] : tf.concat(parts);
      return (scale === 1 ? flat : tf.mul(flat, scale)) as tf.Tensor1D;
    });
  }

  /**
   * One update. grads are keyed by variable name (what tf.variableGrads returns), scaled by gradScale (clipping).
   * A variable without a gradient is left untouched (no decay, moments kept), like PyTorch does for parameters
   * whose .grad is None.
   */
  step(grads: Record<string, tf.Tensor>, lr: number, gradScale = 1): void {
    const g = this.flatten(grads, gradScale);
    const missing = this.vars.filter((x) => !grads[x.name]);
    let active: tf.Tensor1D | undefined;
    if (missing.length) {
      const a = new Float32Array(this.total);
      let off = 0;
      this.vars.forEach((x, i) => {
        if (grads[x.name]) a.fill(1, off, off + this.sizes[i]);
        off += this.sizes[i];
      });
      active = tf.tensor1d(a);
    }
    this.stepFlat(g, lr, active);
    g.dispose();
    active?.dispose();
  }

  /** The update on a flat gradient (see flatten); active (optional, [total]) marks parameters to update. */
  stepFlat(g: tf.Tensor1D, lr: number, active?: tf.Tensor1D): void {
    if (g.size !== this.total) throw new Error(`AdamW.stepFlat: gradient has ${g.size} entries, the parameters ${this.total}`);
    this.t += 1;
    const { beta1: b1, beta2: b2, eps, t } = this;
    const bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
    const updated = tf.tidy(() => {
      let m1 = tf.add(tf.mul(this.m, b1), tf.mul(g, 1 - b1));
      let v1 = tf.add(tf.mul(this.v, b2), tf.mul(tf.square(g), 1 - b2));
      // lr * m_hat / (sqrt(v_hat) + eps)  with m_hat = m / bc1, v_hat = v / bc2
      let delta = tf.div(tf.mul(m1, lr / bc1), tf.add(tf.sqrt(tf.mul(v1, 1 / bc2)), eps));
      const theta = tf.concat(this.vars.map((x) => tf.reshape(x, [-1])));
      // decoupled decay: theta * (1 - lr * wd) where the mask is 1
      if (this.weightDecay > 0) delta = tf.add(delta, tf.mul(theta, tf.mul(this.decayMask, lr * this.weightDecay)));
      if (active) {
        delta = tf.mul(delta, active);
        const keep = tf.sub(1, active);
        m1 = tf.add(tf.mul(m1, active), tf.mul(this.m, keep));
        v1 = tf.add(tf.mul(v1, active), tf.mul(this.v, keep));
      }
      const parts = this.sizes.length === 1 ? [tf.sub(theta, delta)] : tf.split(tf.sub(theta, delta), this.sizes);
      const next = parts.map((p, i) => tf.reshape(p, this.vars[i].shape));
      return { m1, v1, next };
    });
    this.m.assign(updated.m1);
    this.v.assign(updated.v1);
    this.vars.forEach((x, i) => x.assign(updated.next[i]));
    // assign() keeps its own reference to the data; free ours.
    tf.dispose([updated.m1, updated.v1, ...updated.next]);
  }

  /** Takes other's moments and step count (same parameter sizes): a copy of a run that goes on from where it is. */
  copyStateFrom(other: AdamW): void {
    if (other.total !== this.total) throw new Error(`AdamW.copyStateFrom: ${other.total} parameters, this optimizer has ${this.total}`);
    this.m.assign(other.m);
    this.v.assign(other.v);
    this.t = other.t;
  }

  dispose(): void {
    this.m.dispose();
    this.v.dispose();
    this.decayMask.dispose();
  }
}

let adamwCounter = 0;

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
  /** cosine (default) | wsd: warmup-stable-decay (Hu et al. 2024, MiniCPM; Hagele et al. 2024) */
  schedule?: "cosine" | "wsd";
  /** wsd: the share of the steps, at the end, over which lr decays linearly to lr * min_lr_ratio */
  decay_fraction?: number;
}

/**
 * Learning rate at step (0-based): linear warmup to lr over warmup_steps, then cosine decay to lr * min_lr_ratio
 * at the last step:   lr_t = lr_min + (lr - lr_min) * (1 + cos(pi * progress)) / 2.
 * wsd instead holds lr until the last decay_fraction of the steps and decays linearly from there to lr_min: a run's
 * constant-lr phase does not depend on its length, so one run can be cooled down at any step (lrCooldown) and
 * extended later, which is what a compute curve needs (Hagele et al. 2024).
 */
export function lrAt(step: number, s: ScheduleOptions): number {
  if (s.warmup_steps > 0 && step < s.warmup_steps) return (s.lr * (step + 1)) / s.warmup_steps;
  if (s.schedule === "wsd") {
    const start = wsdDecayStart({ steps: s.steps, decay_fraction: s.decay_fraction ?? 0.2 });
    return step < start ? s.lr : lrCooldown(step - start, s.steps - start, s.lr, s.min_lr_ratio);
  }
  const lrMin = s.lr * s.min_lr_ratio;
  const span = Math.max(1, s.steps - 1 - s.warmup_steps);
  const progress = Math.min(1, Math.max(0, (step - s.warmup_steps) / span));
  return lrMin + 0.5 * (s.lr - lrMin) * (1 + Math.cos(Math.PI * progress));
}

/** Step i (0-based) of a linear cooldown of n steps from lr to lr * minRatio, reached at the last step. */
export function lrCooldown(i: number, n: number, lr: number, minRatio: number): number {
  const frac = n <= 1 ? 1 : Math.min(1, (i + 1) / n);
  return lr * (1 - (1 - minRatio) * frac);
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
/** The factor global-norm clipping multiplies every gradient entry by: min(1, clip / ||g||); clip <= 0 or Infinity = off. */
export function gradClipScale(norm: number, clip: number): number {
  return clip > 0 && Number.isFinite(clip) && norm > clip ? clip / (norm + 1e-6) : 1;
}

export function trainStep(vars: tf.Variable[], lossFn: () => tf.Scalar, opt: AdamW, o: TrainStepOptions): { loss: number; gradNorm: number } {
  const { value, grads } = tf.variableGrads(lossFn, vars);
  const loss = value.dataSync()[0];
  // Clip on the flat gradient: ||g|| = sqrt(sum(g^2)) over all parameters, scale = min(1, clip / ||g||).
  const flat = opt.flatten(grads);
  const normT = tf.tidy(() => tf.sqrt(tf.sum(tf.square(flat))));
  const norm = normT.dataSync()[0];
  normT.dispose();
  // Refuse to step on a non-finite loss or gradient: one NaN update would poison every weight.
  const bad = !Number.isFinite(loss) || !Number.isFinite(norm);
  if (!bad) {
    const scale = gradClipScale(norm, o.gradClip);
    const missing = opt.vars.some((x) => !grads[x.name]);
    if (missing) opt.step(grads, o.lr, scale);
    else {
      const g = scale === 1 ? flat : tf.tidy(() => tf.mul(flat, scale) as tf.Tensor1D);
      opt.stepFlat(g, o.lr);
      if (g !== flat) g.dispose();
    }
  }
  tf.dispose([value, flat, ...Object.values(grads)]);
  if (bad) {
    throw new Error(`trainStep: loss is ${loss}, gradient norm ${norm} (lr ${o.lr}); no update was made. ` +
      "Lower the learning rate or check the inputs.");
  }
  return { loss, gradNorm: norm };
}
