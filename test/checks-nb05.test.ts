// The checks of notebook 05's exercises pass the library's answer, fail plausible wrong answers, and report a stub.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { notDone } from "../lib/notebook/exercise";
import { checkAdaptiveKl, checkKlEstimators, checkKlMeans, checkShapedRewards, type AdaptiveKlExercise, type KlExercise, type KlMeansExercise, type ShapedRewardExercise } from "../lib/notebook/checks/nb05";
import { assertCheckDiscriminates } from "./helpers";

describe("lib/notebook/checks/nb05", () => {
  it("05.1 KL estimators: passes k1/k2/k3, fails a flipped ratio in k3, a flipped k1 and k2 without the 1/2", () => {
    const right: KlExercise = (lp, ref, est) => tf.tidy(() => {
      const logR = tf.sub(ref, lp);
      if (est === "k1") return tf.neg(logR);
      if (est === "k2") return tf.mul(0.5, tf.square(logR));
      return tf.sub(tf.sub(tf.exp(logR), 1), logR);
    }) as tf.Tensor2D;
    assertCheckDiscriminates(checkKlEstimators, right, {
      "k3 with r = pi/ref instead of ref/pi": (lp, ref, est) => (est === "k3" ? right(ref, lp, est) : right(lp, ref, est)),
      "k1 = log ref - log pi (sign)": (lp, ref, est) => (est === "k1" ? right(ref, lp, est) : right(lp, ref, est)),
      "k2 without the 1/2": (lp, ref, est) => (est === "k2" ? tf.tidy(() => tf.square(tf.sub(ref, lp))) as tf.Tensor2D : right(lp, ref, est)),
    }, () => notDone());
  });

  it("05.2 shaped reward: passes the library's, fails a mask-blind one, the score in the last column, and a KL bonus", () => {
    const right: ShapedRewardExercise = (kl, scores, mask, beta) => kl.map((row, i) => {
      const last = mask[i].lastIndexOf(1);
      return row.map((v, t) => (mask[i][t] ? -beta * v + (t === last ? scores[i] : 0) : 0));
    });
    assertCheckDiscriminates(checkShapedRewards, right, {
      "KL charged at padding too": (kl, scores, mask, beta) => kl.map((row, i) => {
        const last = mask[i].lastIndexOf(1);
        return row.map((v, t) => -beta * v + (t === last ? scores[i] : 0));
      }),
      "score in the last column, not at the last real token": (kl, scores, mask, beta) => kl.map((row, i) =>
        row.map((v, t) => (mask[i][t] ? -beta * v : 0) + (t === row.length - 1 ? scores[i] : 0))),
      "+beta (a KL bonus)": (kl, scores, mask, beta) => right(kl, scores, mask, -beta),
    }, () => notDone());
  });

  it("05.3 adaptive controller: passes the library's, fails an unclipped error, an additive update and an inverted error", () => {
    const right: AdaptiveKlExercise = (beta, kl, target, n, h) => beta * (1 + (Math.min(Math.max(kl / target - 1, -0.2), 0.2) * n) / h);
    assertCheckDiscriminates(checkAdaptiveKl, right, {
      "no clip": (beta, kl, target, n, h) => beta * (1 + ((kl / target - 1) * n) / h),
      "additive update": (beta, kl, target, n, h) => beta + (Math.min(Math.max(kl / target - 1, -0.2), 0.2) * n) / h,
      "error target/KL - 1": (beta, kl, target, n, h) => beta * (1 + (Math.min(Math.max(target / Math.max(kl, 1e-9) - 1, -0.2), 0.2) * n) / h),
    }, () => notDone());
  });
});

describe("lib/notebook/checks/nb05 05.4", () => {
  it("05.4 estimator means: passes the hand values, fails the reverse KL, k3 with rho = pi/ref, an unweighted mean and E[k2] = KL", () => {
    // pi = (3/4, 1/4), ref = (1/2, 1/2): log rho = (log 2/3, log 2)
    const kl = 0.75 * Math.log(1.5) + 0.25 * Math.log(0.5);
    const k2 = 0.75 * 0.5 * Math.log(2 / 3) ** 2 + 0.25 * 0.5 * Math.LN2 ** 2;
    const right: KlMeansExercise = () => ({ k1: kl, k2, k3: kl });
    assertCheckDiscriminates(checkKlMeans, right, {
      "KL(ref || pi) for k1 and k3": () => ({ k1: 0.5 * Math.log(2 / 3) + 0.5 * Math.LN2, k2, k3: 0.5 * Math.log(2 / 3) + 0.5 * Math.LN2 }),
      "k3 with rho = pi / ref": () => ({ k1: kl, k2, k3: 0.75 * (1.5 - 1 - Math.log(1.5)) + 0.25 * (0.5 - 1 - Math.log(0.5)) }),
      "an unweighted mean over the two outcomes": () => ({ k1: (Math.log(1.5) + Math.log(0.5)) / 2, k2, k3: kl }),
      "E[k2] = KL, as if k2 were unbiased": () => ({ k1: kl, k2: kl, k3: kl }),
    }, () => notDone());
    // 3-decimal answers pass
    const lines: string[] = [];
    checkKlMeans(() => ({ k1: 0.131, k2: 0.122, k3: 0.131 }), (l) => lines.push(l));
    assert.match(lines[0], /: PASS \(/);
  });
});
