// Checks of notebook 03's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and the
// library's on the same random inputs and says where they differ.
import * as tf from "@tensorflow/tfjs";
import { assertClose, check, CheckFailure } from "../exercise";
import { Labeller, labellerCeiling } from "../../reward/labeller";
import { bradleyTerryLoss, pairwiseAccuracy } from "../../reward/bradley-terry";
import { Rng } from "../../core/rng";

/** The learner's Bradley-Terry loss: scores of the chosen and rejected responses [N] -> the mean loss (a scalar). */
export type BtLossExercise = (chosen: tf.Tensor1D, rejected: tf.Tensor1D) => tf.Tensor | number;

function scalarOf(x: tf.Tensor | number, what: string): number {
  if (typeof x !== "number" && !(x instanceof tf.Tensor)) throw new CheckFailure(`${what}: expected a number or a scalar tensor, got ${typeof x}`);
  const size = typeof x === "number" ? 1 : x.size, shape = typeof x === "number" ? [] : x.shape;
  const value = typeof x === "number" ? x : x.dataSync()[0];
  if (x instanceof tf.Tensor) x.dispose();
  if (size !== 1) throw new CheckFailure(`${what}: expected a scalar, yours has shape [${shape}]`);
  if (!Number.isFinite(value)) throw new CheckFailure(`${what}: yours is ${value}`);
  return value;
}

/**
 * 03.1: mean softplus(r_rejected - r_chosen), against lib/reward/reward-model bradleyTerryLoss on 10 random batches of pairs; the
 * last two have margins of a few hundred, where -log(sigmoid(margin)) computed literally overflows in float32.
 */
export function checkBradleyTerry(yours: BtLossExercise, print?: (line: string) => void): void {
  check("03.1", "Bradley-Terry loss", () => {
    const rng = new Rng(301);
    for (let k = 0; k < 10; k++) {
      const n = 3 + rng.int(12);
      const spread = k >= 8 ? 300 : 1 + 2 * rng.next();
      const c = Array.from({ length: n }, () => rng.normal(0, spread));
      const r = Array.from({ length: n }, () => rng.normal(0, spread));
      const chosen = tf.tensor1d(c), rejected = tf.tensor1d(r);
      try {
        const want = tf.tidy(() => bradleyTerryLoss(chosen, rejected).dataSync()[0]);
        const what = `loss on batch ${k} (${n} pairs, margins ${c.map((x, i) => (x - r[i]).toFixed(1)).slice(0, 4).join(", ")}${n > 4 ? ", ..." : ""})`;
        assertClose(what, scalarOf(yours(chosen, rejected), what), want, { rtol: 1e-3 });
      } finally {
        tf.dispose([chosen, rejected]);
      }
    }
    return "agrees with lib/reward/reward-model bradleyTerryLoss on 10 random batches of pairs, margins up to several hundred included";
  }, print);
}

/** The learner's labeller ceiling: gold scores of the two texts of each pair, and beta -> the best expected accuracy. */
export type CeilingExercise = (goldA: number[], goldB: number[], beta: number) => number;

/** 03.2: mean over pairs of max(p, 1 - p), p = sigmoid(beta (gA - gB)), against lib/reward/labeller on 8 random pair sets. */
export function checkCeiling(yours: CeilingExercise, print?: (line: string) => void): void {
  check("03.2", "labeller ceiling", () => {
    const rng = new Rng(302);
    const betas = [10, 1, 50, 0, 3, 20, Infinity, 10];
    betas.forEach((beta, k) => {
      const n = 20 + rng.int(40);
      // VADER-like gold scores in [-1, 1], a third of them exactly 0 (neutral text), so some pairs are exact ties
      const gold = () => (rng.next() < 0.33 ? 0 : Math.round(1e4 * Math.tanh(rng.normal(0, 0.8))) / 1e4);
      const a = Array.from({ length: n }, gold), b = Array.from({ length: n }, gold);
      const lab = new Labeller(beta, 0);
      const want = labellerCeiling(a.map((x, i) => lab.prob(x, b[i])));
      const ties = a.filter((x, i) => x === b[i]).length;
      const got = yours(a.slice(), b.slice(), beta);
      if (typeof got !== "number") throw new CheckFailure(`pair set ${k}: expected a number, got ${typeof got}`);
      assertClose(`ceiling of pair set ${k} (${n} pairs, ${ties} exact ties, beta ${beta})`, got, want, { atol: 1e-6, rtol: 1e-6 });
    });
    return "agrees with lib/reward/labeller labellerCeiling on 8 random pair sets with ties, beta from 0 to Infinity";
  }, print);
}

/** The learner's pairwise accuracy: scores of chosen and rejected [N] -> the share of pairs ordered right, a tie 1/2. */
export type AccuracyExercise = (chosen: number[], rejected: number[]) => number;

/** 03.3: against lib/reward/reward-model pairwiseAccuracy on 8 random batches of scores with ties. */
export function checkPairwiseAccuracy(yours: AccuracyExercise, print?: (line: string) => void): void {
  check("03.3", "pairwise accuracy", () => {
    const rng = new Rng(303);
    for (let k = 0; k < 8; k++) {
      const n = 5 + rng.int(20);
      const score = () => Math.round(4 * rng.normal(0, 1)) / 4; // coarse scores: ties happen
      const c = Array.from({ length: n }, score), r = Array.from({ length: n }, score);
      const want = tf.tidy(() => pairwiseAccuracy(tf.tensor1d(c), tf.tensor1d(r)).dataSync()[0]);
      const ties = c.filter((x, i) => x === r[i]).length;
      const got = yours(c.slice(), r.slice());
      if (typeof got !== "number") throw new CheckFailure(`batch ${k}: expected a number, got ${typeof got}`);
      assertClose(`accuracy of batch ${k} (${n} pairs, ${ties} ties)`, got, want, { atol: 1e-6 });
    }
    return "agrees with lib/reward/reward-model pairwiseAccuracy on 8 random batches of pairs, ties included";
  }, print);
}
