// Checks of notebook 05's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and
// lib/rl/kl on the same random inputs (random right-padded masks, garbage at padding) and says where they differ.
import * as tf from "@tensorflow/tfjs";
import { assertClose, check, CheckFailure, randomMask, randomMatrix } from "../exercise";
import { AdaptiveKLController, klPerToken, shapedRewards, type KLEstimator } from "../../rl/kl";
import { Rng } from "../../core/rng";
import { klEstimatorMeans } from "../../rl/toy";

/** The learner's per-token KL estimator: log-probs [B,T] of the sampled tokens under the policy and the reference. */
export type KlExercise = (logprobs: tf.Tensor2D, refLogprobs: tf.Tensor2D, estimator: KLEstimator) => tf.Tensor2D | number[][];

/** Log-probs of sampled tokens: negative, a policy and a reference that differ by a random amount per token. */
function logprobPair(rng: Rng, b: number, t: number, spread: number, mask: number[][]): { lp: number[][]; ref: number[][] } {
  const lp = randomMatrix(rng, b, t, 0, 1, mask).map((row, i) => row.map((v, j) => (mask[i][j] ? -0.05 - 2 * Math.abs(v) : v)));
  const ref = lp.map((row, i) => row.map((v, j) => (mask[i][j] ? v + rng.normal(0, spread) : -3 + rng.next())));
  return { lp, ref };
}

/** 05.1: k1, k2, k3 of klPerToken, compared at the real tokens of 12 random masked batches (4 per estimator). */
export function checkKlEstimators(yours: KlExercise, print?: (line: string) => void): void {
  check("05.1", "KL estimators k1, k2, k3", () => {
    const rng = new Rng(501);
    const estimators: KLEstimator[] = ["k1", "k2", "k3"];
    for (let k = 0; k < 12; k++) {
      const est = estimators[k % 3];
      const b = 2 + rng.int(4), t = 3 + rng.int(8);
      const mask = randomMask(rng, b, t);
      const { lp, ref } = logprobPair(rng, b, t, [0.1, 0.5, 1.5][k % 3], mask);
      tf.tidy(() => {
        const lpT = tf.tensor2d(lp), refT = tf.tensor2d(ref);
        const got = yours(lpT, refT, est);
        if (got === undefined || got === null) throw new CheckFailure(`${est}: your function returned ${got}`);
        const want = klPerToken(lpT, refT, est);
        assertClose(`${est} (batch ${k})`, got, want, { atol: 1e-4, rtol: 1e-3, mask: mask.flat() });
      });
    }
    return "agrees with lib/rl/kl klPerToken for k1, k2 and k3 at every real token of 12 random right-padded batches";
  }, print);
}

/** The learner's shaped reward: kl [B][T], one post-processed score per row, mask [B][T], beta -> rewards [B][T]. */
export type ShapedRewardExercise = (kl: number[][], scores: number[], mask: number[][], beta: number) => number[][] | tf.Tensor2D;

/** 05.2: r_t = -beta kl_t + score at the last real token, 0 at padding; against lib/rl/kl shapedRewards. */
export function checkShapedRewards(yours: ShapedRewardExercise, print?: (line: string) => void): void {
  check("05.2", "shaped per-token reward", () => {
    const rng = new Rng(502);
    const betas = [0.1, 0.05, 0.3, 1];
    for (let k = 0; k < 12; k++) {
      const beta = betas[k % betas.length];
      const b = 2 + rng.int(4), t = 3 + rng.int(8);
      const mask = randomMask(rng, b, t);
      const kl = randomMatrix(rng, b, t, 0.05, 0.2, mask);
      const scores = Array.from({ length: b }, () => rng.normal(0, 1.5));
      const got = yours(kl.map((r) => r.slice()), scores.slice(), mask.map((r) => r.slice()), beta);
      const want = tf.tidy(() => shapedRewards(tf.tensor2d(kl), tf.tensor1d(scores), tf.tensor2d(mask), beta).arraySync());
      assertClose(`rewards (batch ${k}, beta ${beta})`, got, want, { atol: 1e-4 });
    }
    return "agrees with lib/rl/kl shapedRewards on 12 random right-padded batches (KL charge at every real token, score at the last one, 0 at padding)";
  }, print);
}

/** The learner's adaptive controller step: the coefficient after one update. */
export type AdaptiveKlExercise = (beta: number, currentKl: number, target: number, nSteps: number, horizon: number) => number;

/** 05.3: one update of Ziegler et al.'s proportional controller, against lib/rl/kl AdaptiveKLController. */
export function checkAdaptiveKl(yours: AdaptiveKlExercise, print?: (line: string) => void): void {
  check("05.3", "adaptive KL controller", () => {
    const rng = new Rng(503);
    // KL/target ratios near 1 (no clipping) and far from it (clipped at +-0.2), in both directions
    const ratios = [1.05, 0.9, 1.15, 0.82, 3, 0.1, 1.6, 0, 1];
    for (let k = 0; k < 18; k++) {
      const beta = 0.02 + rng.next(), target = 1 + 10 * rng.next();
      const kl = target * ratios[k % ratios.length] * (k < ratios.length ? 1 : 1 + 0.02 * rng.normal());
      const nSteps = 1 + rng.int(512), horizon = [1000, 10000, 64, 500][k % 4];
      const ctl = new AdaptiveKLController(beta, target, horizon);
      ctl.update(kl, nSteps);
      const got = yours(beta, kl, target, nSteps, horizon);
      if (typeof got !== "number") throw new CheckFailure(`your function returned ${typeof got}, expected a number`);
      assertClose(`beta after one update (beta ${beta.toFixed(3)}, KL ${kl.toFixed(3)}, target ${target.toFixed(3)}, nSteps ${nSteps}, horizon ${horizon})`,
        [got], [ctl.value], { atol: 1e-7, rtol: 1e-6, labels: ["value"] });
    }
    return "agrees with lib/rl/kl AdaptiveKLController on 18 updates, with KL/target near 1 and far from it (clipped), above and below the target";
  }, print);
}

/** The learner's expectations of k1, k2, k3 under the policy of exercise 05.4, worked out by hand. */
export type KlMeansExercise = () => { k1: number; k2: number; k3: number };

/** 05.4's categorical: a policy that made the first of two tokens likelier than the reference did. */
export const EXERCISE_054 = { pi: [0.75, 0.25], ref: [0.5, 0.5] };

/**
 * 05.4: E_pi[k1], E_pi[k2], E_pi[k3] for EXERCISE_054, within 1e-3 of lib/rl/toy klEstimatorMeans (numbers rounded
 * to 3 decimals pass). A FAIL says which one is off and in which direction, not the value: the point is to derive it.
 */
export function checkKlMeans(yours: KlMeansExercise, print?: (line: string) => void): void {
  check("05.4", "expected values of k1, k2, k3 by hand", () => {
    const got = yours();
    const want = klEstimatorMeans(EXERCISE_054.pi, EXERCISE_054.ref);
    const off: string[] = [];
    for (const k of ["k1", "k2", "k3"] as const) {
      const v = got?.[k];
      if (typeof v !== "number" || !Number.isFinite(v)) throw new CheckFailure(`E[${k}]: expected a number, got ${v}`);
      if (Math.abs(v - want[k]) > 1e-3) off.push(`E[${k}] = ${v.toFixed(4)} is ${v > want[k] ? "too high" : "too low"}`);
    }
    if (off.length) throw new CheckFailure(`${off.join("; ")} (weight each outcome by the policy's probability; log rho = log pi_ref - log pi)`);
    return `E[k1] = E[k3] = KL(pi || pi_ref) = ${want.k1.toFixed(4)} nats, E[k2] = ${want.k2.toFixed(4)}: k1 and k3 are unbiased, k2 is not`;
  }, print);
}
