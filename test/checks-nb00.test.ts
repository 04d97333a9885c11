// lib/notebook/checks/nb00: each check passes the right answer, fails plausible wrong ones, and reports a stub as NOT DONE.
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { notDone } from "../lib/notebook/exercise";
import { checkCeGrad, checkMaskedMean, CeGradExercise, MaskedMeanExercise } from "../lib/notebook/checks/nb00";
import { assertCheckDiscriminates } from "./helpers";

describe("lib/notebook/checks/nb00", () => {
  it("00.1 masked mean: passes sum(x m)/sum(m), fails the plain mean, the wrong denominator and the mean of row means", () => {
    const right: MaskedMeanExercise = (x, m) => tf.tidy(() => x.mul(m).sum().div(m.sum()));
    assertCheckDiscriminates(checkMaskedMean, right, {
      "ignores the mask": (x) => tf.tidy(() => x.mean()),
      "divides by B*T": (x, m) => tf.tidy(() => x.mul(m).sum().div(x.size)),
      "mean of the row means": (x, m) => tf.tidy(() => x.mul(m).sum(1).div(m.sum(1)).mean()),
    }, () => notDone());
  });

  it("00.2 cross-entropy gradient: passes p - onehot, fails the flipped sign, p alone, and log p - onehot", () => {
    const softmax = (z: number[]) => {
      const mx = Math.max(...z);
      const e = z.map((v) => Math.exp(v - mx));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    };
    const right: CeGradExercise = (z, y) => softmax(z).map((p, i) => p - (i === y ? 1 : 0));
    assertCheckDiscriminates(checkCeGrad, right, {
      "sign flipped": (z, y) => right(z, y).map((g) => -g),
      "forgets the one-hot": (z) => softmax(z),
      "log-probabilities instead of probabilities": (z, y) => softmax(z).map((p, i) => Math.log(p) - (i === y ? 1 : 0)),
    }, () => notDone());
  });
});
