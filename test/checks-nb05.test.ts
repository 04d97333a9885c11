// The checks of notebook 05's exercises pass the library's answer, fail plausible wrong answers, and report a stub.
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { notDone } from "../lib/notebook/exercise";
import { checkAdaptiveKl, checkKlEstimators, checkShapedRewards, type AdaptiveKlExercise, type KlExercise, type ShapedRewardExercise } from "../lib/notebook/checks/nb05";
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
