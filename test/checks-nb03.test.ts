// lib/notebook/checks/nb03: each check passes the right answer, fails plausible wrong ones, and reports a stub as NOT DONE.
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { notDone } from "../lib/notebook/exercise";
import { AccuracyExercise, BtLossExercise, CeilingExercise, checkBradleyTerry, checkCeiling, checkPairwiseAccuracy } from "../lib/notebook/checks/nb03";
import { assertCheckDiscriminates } from "./helpers";

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe("lib/notebook/checks/nb03", () => {
  it("03.1 Bradley-Terry: passes mean softplus(r_r - r_c), fails the swapped sign, the sum, and -log(sigmoid) computed literally", () => {
    const right: BtLossExercise = (c, r) => tf.tidy(() => tf.softplus(tf.sub(r, c)).mean());
    assertCheckDiscriminates(checkBradleyTerry, right, {
      "chosen and rejected swapped": (c, r) => tf.tidy(() => tf.softplus(tf.sub(c, r)).mean()),
      "sum instead of mean": (c, r) => tf.tidy(() => tf.softplus(tf.sub(r, c)).sum()),
      "-log(sigmoid(margin)) literally (overflows)": (c, r) => tf.tidy(() => tf.log(tf.sigmoid(tf.sub(c, r))).neg().mean()),
    }, () => notDone());
  });

  it("03.2 ceiling: passes mean max(p, 1-p) with ties at 1/2, fails the mean of p, the share of pairs with p > 1/2, and NaN ties at beta = Infinity", () => {
    const prob = (a: number, b: number, beta: number) => (a === b ? 0.5 : beta === Infinity ? (a > b ? 1 : 0) : sigmoid(beta * (a - b)));
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const right: CeilingExercise = (a, b, beta) => mean(a.map((x, i) => Math.max(prob(x, b[i], beta), 1 - prob(x, b[i], beta))));
    assertCheckDiscriminates(checkCeiling, right, {
      "mean of p (the accuracy of always answering a)": (a, b, beta) => mean(a.map((x, i) => prob(x, b[i], beta))),
      "share of pairs with p != 1/2 (noise ignored)": (a, b) => mean(a.map((x, i) => (x === b[i] ? 0.5 : 1))),
      "sigmoid(beta * delta) literally (NaN for a tie at beta = Infinity)": (a, b, beta) => mean(a.map((x, i) => {
        const p = sigmoid(beta * (x - b[i]));
        return Math.max(p, 1 - p);
      })),
    }, () => notDone());
  });

  it("03.3 pairwise accuracy: passes ties as 1/2, fails ties as 0, ties as 1, and the swapped order", () => {
    const acc = (tie: number): AccuracyExercise => (c, r) => c.reduce((s, x, i) => s + (x > r[i] ? 1 : x === r[i] ? tie : 0), 0) / c.length;
    assertCheckDiscriminates(checkPairwiseAccuracy, acc(0.5), {
      "ties count 0 (strict >)": acc(0),
      "ties count 1 (>=)": acc(1),
      "chosen and rejected swapped": (c, r) => acc(0.5)(r, c),
    }, () => notDone());
  });
});
