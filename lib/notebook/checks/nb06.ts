// Checks of notebook 06's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and
// lib/rl/gae on the same random right-padded batches and says where they differ.
import * as tf from "@tensorflow/tfjs";
import { assertClose, check, CheckFailure, randomMask, randomMatrix } from "../exercise";
import { gae, tdErrors } from "../../rl/gae";
import { Rng } from "../../core/rng";

/** The learner's GAE: plain arrays in ([B][T], mask 1 = real token), advantages [B][T] out (0 at padding). */
export type GaeExercise = (rewards: number[][], values: number[][], mask: number[][], gamma: number, lambda: number) => number[][];

/** 06.1: the backward recursion A_t = delta_t + gamma lambda A_{t+1}, against lib/rl/gae on 12 random masked batches. */
export function checkGae(yours: GaeExercise, print?: (line: string) => void): void {
  check("06.1", "GAE recursion", () => {
    const rng = new Rng(601);
    const settings = [[1, 0.95], [1, 0], [1, 1], [0.9, 0.8]];
    for (let k = 0; k < 12; k++) {
      const [gamma, lambda] = settings[k % settings.length];
      const { mask, r, v } = randomBatch(rng);
      const got = yours(r.map((x) => x.slice()), v.map((x) => x.slice()), mask.map((x) => x.slice()), gamma, lambda);
      const want = tf.tidy(() => gae(tf.tensor2d(r), tf.tensor2d(v), tf.tensor2d(mask), gamma, lambda).advantages.arraySync());
      assertClose(`advantages (batch ${k}, gamma ${gamma}, lambda ${lambda})`, got, want, { atol: 1e-4 });
    }
    return "agrees with lib/rl/gae on 12 random right-padded batches, for gamma/lambda (1, 0.95), (1, 0), (1, 1), (0.9, 0.8), with 0 at padding";
  }, print);
}

/** Random right-padded rewards, values and mask for batch k of a check (garbage at padding). */
function randomBatch(rng: Rng): { mask: number[][]; r: number[][]; v: number[][] } {
  const b = 2 + rng.int(4), t = 3 + rng.int(8);
  const mask = randomMask(rng, b, t);
  return { mask, r: randomMatrix(rng, b, t, 0, 0.5, mask), v: randomMatrix(rng, b, t, 0, 0.5, mask) };
}

/** The learner's TD errors: plain arrays in ([B][T], mask 1 = real token), delta [B][T] out (0 at padding). */
export type TdExercise = (rewards: number[][], values: number[][], mask: number[][], gamma: number) => number[][];

/** 06.2: delta_t = r_t + gamma V(s_{t+1}) - V(s_t), V = 0 after the last real token; against lib/rl/gae tdErrors. */
export function checkTdErrors(yours: TdExercise, print?: (line: string) => void): void {
  check("06.2", "TD errors", () => {
    const rng = new Rng(602);
    const gammas = [1, 0.9, 0.5];
    for (let k = 0; k < 12; k++) {
      const gamma = gammas[k % gammas.length];
      const { mask, r, v } = randomBatch(rng);
      const got = yours(r.map((x) => x.slice()), v.map((x) => x.slice()), mask.map((x) => x.slice()), gamma);
      const want = tf.tidy(() => tdErrors(tf.tensor2d(r), tf.tensor2d(v), tf.tensor2d(mask), gamma).arraySync());
      assertClose(`TD errors (batch ${k}, gamma ${gamma})`, got, want, { atol: 1e-4 });
    }
    return "agrees with lib/rl/gae tdErrors on 12 random right-padded batches, for gamma 1, 0.9 and 0.5, with 0 at padding";
  }, print);
}

/** The learner's reward-to-go: rewards and mask [B][T] -> G [B][T] (0 at padding). */
export type RewardToGoExercise = (rewards: number[][], mask: number[][], gamma: number) => number[][];

/**
 * 06.3: G_t = sum_l gamma^l r_{t+l} over the real tokens. GAE with lambda = 1 gives A_t = G_t - V(s_t), so its returns
 * A_t + V(s_t) are G_t whatever the values: the check compares with lib/rl/gae's returns at lambda = 1 (random values).
 */
export function checkRewardToGo(yours: RewardToGoExercise, print?: (line: string) => void): void {
  check("06.3", "reward-to-go", () => {
    const rng = new Rng(603);
    const gammas = [1, 0.9, 0.5];
    for (let k = 0; k < 12; k++) {
      const gamma = gammas[k % gammas.length];
      const { mask, r, v } = randomBatch(rng);
      const got = yours(r.map((x) => x.slice()), mask.map((x) => x.slice()), gamma);
      const want = tf.tidy(() => gae(tf.tensor2d(r), tf.tensor2d(v), tf.tensor2d(mask), gamma, 1).returns.arraySync());
      assertClose(`reward-to-go (batch ${k}, gamma ${gamma})`, got, want, { atol: 1e-4 });
    }
    return "agrees with lib/rl/gae's returns at lambda = 1 on 12 random right-padded batches, for gamma 1, 0.9 and 0.5, with 0 at padding";
  }, print);
}

/** The learner's first-token advantages of exercise 06.4, worked out by hand (gamma = 1). */
export type FirstAdvantageExercise = () => { lambda1: number; lambda0: number };

/** 06.4's response: five tokens, small KL charges and the score at the end, and a critic that is far from right. */
export const EXERCISE_064 = { rewards: [-0.03, 0.01, -0.02, -0.04, 0.88], values: [0.6, 0.2, 0.9, 0.5, 0.7] };

/**
 * 06.4: A_0 at lambda = 1 and at lambda = 0 (gamma = 1) for EXERCISE_064, within 1e-3 of lib/rl/gae. A FAIL says
 * which one is off and in which direction, not the value.
 */
export function checkFirstAdvantage(yours: FirstAdvantageExercise, print?: (line: string) => void): void {
  check("06.4", "the first token's advantage by hand", () => {
    const got = yours();
    const want = tf.tidy(() => {
      const a = (lambda: number) => {
        const out = gae(tf.tensor2d([EXERCISE_064.rewards]), tf.tensor2d([EXERCISE_064.values]), tf.ones([1, 5]) as tf.Tensor2D, 1, lambda);
        return out.advantages.arraySync()[0][0];
      };
      return { lambda1: a(1), lambda0: a(0) };
    });
    const off: string[] = [];
    for (const k of ["lambda1", "lambda0"] as const) {
      const v = got?.[k];
      if (typeof v !== "number" || !Number.isFinite(v)) throw new CheckFailure(`${k}: expected a number, got ${v}`);
      if (Math.abs(v - want[k]) > 1e-3) off.push(`A_0 at lambda = ${k === "lambda1" ? 1 : 0}: ${v.toFixed(4)} is ${v > want[k] ? "too high" : "too low"}`);
    }
    if (off.length) throw new CheckFailure(`${off.join("; ")} (write delta_t = r_t + V(s_{t+1}) - V(s_t) with V = 0 after the last token, and sum)`);
    return `A_0 = ${want.lambda1.toFixed(2)} at lambda = 1 (the rewards to go minus V(s_0): the values in between cancel), ${want.lambda0.toFixed(2)} at lambda = 0 (one TD error)`;
  }, print);
}
