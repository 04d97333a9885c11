// The checks of notebook 07's exercises must pass the library's answer, fail each plausible wrong answer, and say
// NOT DONE for an untouched stub.
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { notDone } from "../lib/notebook/exercise";
import { checkClipFactor, checkPolicyLoss, checkValueLoss, checkWhiten, ClipFactorExercise, PolicyLossExercise, ValueLossExercise, WhitenExercise } from "../lib/notebook/checks/nb07";
import { assertCheckDiscriminates } from "./helpers";

const mmean = (x: tf.Tensor, m: tf.Tensor) => tf.div(tf.sum(tf.mul(x, m)), tf.sum(m));

/** Whitening written the way the notebook's solution writes it, with switches for the classic mistakes. */
function whitenWith(o: { addMeanBack?: boolean; biased?: boolean; ignoreMask?: boolean } = {}): WhitenExercise {
  return (a, mask) => tf.tidy(() => {
    const m = o.ignoreMask ? tf.onesLike(mask) : mask;
    const x = tf.mul(a, m);
    const mean = mmean(x, m);
    const n = tf.sum(m);
    let variance = mmean(tf.square(tf.sub(x, mean)), m);
    if (!o.biased) variance = tf.mul(variance, tf.div(n, tf.sub(n, 1)));
    let w = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-8)));
    if (o.addMeanBack) w = tf.add(w, mean);
    return tf.mul(w, mask) as tf.Tensor2D;
  });
}

function policyLossWith(o: { useMax?: boolean; ignoreMask?: boolean; alwaysClip?: boolean; perRowMean?: boolean } = {}): PolicyLossExercise {
  return (logp, old, adv, mask, eps) => tf.tidy(() => {
    const m = o.ignoreMask ? tf.onesLike(mask) : mask;
    const ratio = tf.exp(tf.mul(tf.sub(logp, old), m));
    const a = tf.mul(adv, m);
    const unclipped = tf.mul(ratio, a);
    const clipped = tf.mul(tf.clipByValue(ratio, 1 - eps, 1 + eps), a);
    const obj = o.alwaysClip ? clipped : o.useMax ? tf.maximum(unclipped, clipped) : tf.minimum(unclipped, clipped);
    if (o.perRowMean) return tf.neg(tf.mean(tf.div(tf.sum(tf.mul(obj, m), 1), tf.sum(m, 1)))) as tf.Scalar;
    return tf.neg(mmean(obj, m)) as tf.Scalar;
  });
}

function valueLossWith(o: { useMin?: boolean; noHalf?: boolean; clipValueItself?: boolean; ignoreMask?: boolean } = {}): ValueLossExercise {
  return (v, old, ret, mask, c) => tf.tidy(() => {
    const m = o.ignoreMask ? tf.onesLike(mask) : mask;
    const vm = tf.mul(v, m), om = tf.mul(old, m), rm = tf.mul(ret, m);
    const vClipped = o.clipValueItself ? tf.clipByValue(vm, -c, c) : tf.add(om, tf.clipByValue(tf.sub(vm, om), -c, c));
    const e1 = tf.square(tf.sub(vm, rm)), e2 = tf.square(tf.sub(vClipped, rm));
    const per = o.useMin ? tf.minimum(e1, e2) : tf.maximum(e1, e2);
    return tf.mul(o.noHalf ? 1 : 0.5, mmean(per, m)) as tf.Scalar;
  });
}

describe("lib/notebook/checks/nb07", () => {
  it("07.1 whitening: passes the answer, fails the mean added back, the biased variance, a mask-blind one", () => {
    assertCheckDiscriminates(checkWhiten, whitenWith(), {
      "adds the mean back": whitenWith({ addMeanBack: true }),
      "biased (population) variance": whitenWith({ biased: true }),
      "ignores the mask": whitenWith({ ignoreMask: true }),
    }, () => notDone());
  });

  it("07.2 policy loss: passes the clipped surrogate, fails max for min, always-clipped, mask-blind, per-row mean", () => {
    assertCheckDiscriminates(checkPolicyLoss, policyLossWith(), {
      "max instead of min": policyLossWith({ useMax: true }),
      "clips the ratio always (no min)": policyLossWith({ alwaysClip: true }),
      "ignores the mask": policyLossWith({ ignoreMask: true }),
      "mean per row, then over rows": policyLossWith({ perRowMean: true }),
    }, () => notDone());
  });

  it("07.3 value loss: passes the clipped loss, fails min for max, no 1/2, the value clipped itself, mask-blind", () => {
    assertCheckDiscriminates(checkValueLoss, valueLossWith(), {
      "min instead of max": valueLossWith({ useMin: true }),
      "forgets the 1/2": valueLossWith({ noHalf: true }),
      "clips V itself, not V - V_old": valueLossWith({ clipValueItself: true }),
      "ignores the mask": valueLossWith({ ignoreMask: true }),
    }, () => notDone());
  });

  it("07.4 clip factor: passes min(1, c / sqrt(gp^2 + gv^2)), fails the policy's norm alone, a sum of norms, no min, the larger norm", () => {
    const right: ClipFactorExercise = (gp, gv, c) => Math.min(1, c / Math.sqrt(gp * gp + gv * gv));
    assertCheckDiscriminates(checkClipFactor, right, {
      "the policy's norm alone": (gp, _gv, c) => Math.min(1, c / gp),
      "norms added, not in quadrature": (gp, gv, c) => Math.min(1, c / (gp + gv)),
      "no min: scales small gradients up": (gp, gv, c) => c / Math.hypot(gp, gv),
      "the larger of the two norms": (gp, gv, c) => Math.min(1, c / Math.max(gp, gv)),
    }, () => notDone());
  });
});
