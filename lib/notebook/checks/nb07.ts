// Checks of notebook 07's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and
// lib/rl/ppo on the same random right-padded batches (garbage at padded positions) and says where they differ. The
// losses are compared by value and by their gradient, since the gradient is what the optimiser uses.
import * as tf from "@tensorflow/tfjs";
import { assertClose, check, CheckFailure, randomMask, randomMatrix } from "../exercise";
import { ppoPolicyLoss, valueLoss, whiten } from "../../rl/ppo";
import { Rng } from "../../core/rng";
import { gradClipScale } from "../../train/optim";

/** 07.1: advantages [B, T] and mask [B, T] in, whitened advantages [B, T] out (padded positions are not compared). */
export type WhitenExercise = (advantages: tf.Tensor2D, mask: tf.Tensor2D) => tf.Tensor2D;

/** 07.2: PPO's clipped surrogate loss, a scalar, from per-token log-probs now and at sampling. */
export type PolicyLossExercise = (logprobs: tf.Tensor2D, oldLogprobs: tf.Tensor2D, advantages: tf.Tensor2D, mask: tf.Tensor2D, clipEps: number) => tf.Scalar;

/** 07.3: the clipped value loss, a scalar. */
export type ValueLossExercise = (values: tf.Tensor2D, oldValues: tf.Tensor2D, returns: tf.Tensor2D, mask: tf.Tensor2D, clip: number) => tf.Scalar;

/** 07.4: the factor one global-norm clip multiplies the policy's gradient by, from the two parts' norms and the clip. */
export type ClipFactorExercise = (policyNorm: number, criticNorm: number, maxNorm: number) => number;

/** One random batch: shape, mask, and a matrix maker with garbage at padding. */
function batch(rng: Rng) {
  const b = 2 + rng.int(4), t = 3 + rng.int(7);
  const mask = randomMask(rng, b, t);
  const m = (mean: number, std: number) => randomMatrix(rng, b, t, mean, std, mask);
  return { b, t, mask, m };
}

/** 07.1: (A - mean) / sqrt(var + 1e-8) over real tokens, unbiased variance, mean not added back; vs lib/rl/ppo whiten. */
export function checkWhiten(yours: WhitenExercise, print?: (line: string) => void): void {
  check("07.1", "advantage whitening", () => {
    const rng = new Rng(701);
    for (let k = 0; k < 10; k++) {
      const { mask, m } = batch(rng);
      const adv = m(k % 2 === 0 ? 1.5 : -0.5, 0.2 + 2 * rng.next()); // mostly one sign, as raw advantages often are
      const [got, want] = tf.tidy(() => {
        const a = tf.tensor2d(adv), mk = tf.tensor2d(mask);
        return [(yours(a, mk) as tf.Tensor).arraySync(), whiten(a, mk).arraySync()];
      });
      assertClose(`whitened advantages (batch ${k})`, got, want, { mask: mask.flat(), atol: 1e-4 });
    }
    return "agrees with lib/rl/ppo whiten on 10 random right-padded batches (zero mean, unit unbiased variance over the real tokens)";
  }, print);
}

/** 07.2: the clipped surrogate, its value and its gradient in the log-probs, vs lib/rl/ppo ppoPolicyLoss. */
export function checkPolicyLoss(yours: PolicyLossExercise, print?: (line: string) => void): void {
  check("07.2", "clipped surrogate policy loss", () => {
    const rng = new Rng(702);
    for (let k = 0; k < 10; k++) {
      const eps = [0.2, 0.1, 0.3][k % 3];
      const { b, t, mask, m } = batch(rng);
      const old = m(-2, 1);
      // log-probs now: old + a step of up to ~0.5 nats, so ratios fall on both sides of [1 - eps, 1 + eps]
      const now = old.map((row, i) => row.map((v, j) => (mask[i][j] === 1 ? v + rng.normal(0, 0.3) : 7 + 3 * rng.next())));
      const adv = m(0, 1);
      const run = (f: PolicyLossExercise | typeof ppoPolicyLossScalar) => tf.tidy(() => {
        const o = tf.tensor2d(old), a = tf.tensor2d(adv), mk = tf.tensor2d(mask);
        const { value, grad } = tf.valueAndGrad((lp: tf.Tensor) => f(lp as tf.Tensor2D, o, a, mk, eps))(tf.tensor2d(now));
        return { value: value.dataSync()[0], grad: grad.arraySync() as number[][] };
      });
      const want = run(ppoPolicyLossScalar);
      const got = run(yours);
      assertClose(`loss (batch ${k}, ${b}x${t}, eps ${eps})`, got.value, want.value, { atol: 1e-5 });
      assertClose(`d loss / d logprobs (batch ${k}, eps ${eps})`, got.grad, want.grad, { mask: mask.flat(), atol: 1e-5 });
    }
    return "loss and its gradient in the log-probs agree with lib/rl/ppo ppoPolicyLoss on 10 random right-padded batches (eps 0.1, 0.2, 0.3)";
  }, print);
}

function ppoPolicyLossScalar(logprobs: tf.Tensor2D, old: tf.Tensor2D, adv: tf.Tensor2D, mask: tf.Tensor2D, eps: number): tf.Scalar {
  return ppoPolicyLoss(logprobs, old, adv, mask, eps).loss;
}

/** 07.3: the clipped value loss, its value and its gradient in the values, vs lib/rl/ppo valueLoss. */
export function checkValueLoss(yours: ValueLossExercise, print?: (line: string) => void): void {
  check("07.3", "clipped value loss", () => {
    const rng = new Rng(703);
    for (let k = 0; k < 10; k++) {
      const clip = [0.2, 0.5, 0.1][k % 3];
      const { b, t, mask, m } = batch(rng);
      const old = m(0, 1);
      const vals = old.map((row, i) => row.map((v, j) => (mask[i][j] === 1 ? v + rng.normal(0, 0.4) : 7 + 3 * rng.next())));
      const ret = m(0.3, 1);
      const run = (f: ValueLossExercise) => tf.tidy(() => {
        const o = tf.tensor2d(old), r = tf.tensor2d(ret), mk = tf.tensor2d(mask);
        const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => f(v as tf.Tensor2D, o, r, mk, clip))(tf.tensor2d(vals));
        return { value: value.dataSync()[0], grad: grad.arraySync() as number[][] };
      });
      const want = run((v, o, r, mk, c) => valueLoss(v, o, r, mk, c).loss);
      const got = run(yours);
      assertClose(`loss (batch ${k}, ${b}x${t}, clip ${clip})`, got.value, want.value, { atol: 1e-5 });
      assertClose(`d loss / d values (batch ${k}, clip ${clip})`, got.grad, want.grad, { mask: mask.flat(), atol: 1e-5 });
    }
    return "loss and its gradient in the values agree with lib/rl/ppo valueLoss on 10 random right-padded batches (clip 0.1, 0.2, 0.5)";
  }, print);
}

/**
 * 07.4: disjoint parameters, so ||g||^2 = ||g_pi||^2 + ||g_V||^2, and the clip multiplies every entry, the policy's
 * included, by min(1, c / ||g||) (lib/train/optim gradClipScale, which trainStep applies).
 */
export function checkClipFactor(yours: ClipFactorExercise, print?: (line: string) => void): void {
  check("07.4", "one gradient clip for two networks", () => {
    const rng = new Rng(704);
    // below, at and above the clip; one part zero; the critic's part dominant
    const cases: [number, number, number][] = [[0.3, 0.4, 1], [0.6, 0.8, 1], [3, 4, 1], [2, 0, 1], [0, 2, 1], [0.2, 5, 1], [0.9, 0.9, 1]];
    for (let k = 0; k < 20; k++) cases.push([3 * rng.next(), rng.bernoulli(0.3) ? 10 * rng.next() : rng.next(), 0.5 + rng.next()]);
    for (const [gp, gv, c] of cases) {
      const got = yours(gp, gv, c);
      if (typeof got !== "number") throw new CheckFailure(`expected a number, got ${typeof got}`);
      const want = gradClipScale(Math.hypot(gp, gv), c);
      if (!(Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)))) {
        throw new CheckFailure(`||g_pi|| ${gp.toFixed(3)}, ||g_V|| ${gv.toFixed(3)}, clip ${c.toFixed(3)}: yours ${got}, expected ${want.toFixed(6)}`);
      }
    }
    return `agrees with lib/train/optim gradClipScale(sqrt(||g_pi||^2 + ||g_V||^2), clip) on ${cases.length} cases, below and above the clip`;
  }, print);
}
