// Checks of notebook 10's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and the
// library's on the same random inputs and says where they differ.
import * as tf from "@tensorflow/tfjs";
import { grpoAdvantages, rewardGroupStats, rlooAdvantages } from "../../rl/advantages";
import { dpoLoss } from "../../beyond/dpo";
import { assertClose, check, CheckFailure } from "../exercise";
import { Rng } from "../../core/rng";

/** 10.1 and 10.2: advantages from rewards[prompt][sample] (plain arrays in and out). */
export type GroupAdvantageExercise = (rewards: number[][]) => number[][];
/** 10.3: the DPO loss of each pair from sequence log-probs (plain numbers), and its mean. */
export type DpoExercise = (policyChosen: number[], policyRejected: number[], refChosen: number[], refRejected: number[], beta: number) => number;

/** 10.4: GRPO's effective KL coefficient, in the reward's units, of each group of rewards[prompt][sample]. */
export type EffectiveKlExercise = (rewards: number[][], beta: number) => number[];

const EPS = 1e-4;

function randomGroups(rng: Rng): number[][] {
  const n = 1 + rng.int(5), k = 2 + rng.int(6);
  return Array.from({ length: n }, (_, i) => {
    if (i === 0 && rng.bernoulli(0.3)) return Array(k).fill(rng.normal()); // a group of identical rewards
    return Array.from({ length: k }, () => rng.normal() * (0.2 + 2 * rng.next()));
  });
}

function library(fn: (t: tf.Tensor2D) => tf.Tensor2D, rewards: number[][]): number[][] {
  return tf.tidy(() => fn(tf.tensor2d(rewards)).arraySync() as number[][]);
}

// atol: float32 tensors leave ~1e-7 of a group of identical rewards after centring, which GRPO's eps turns into ~1e-3
function checkGroups(id: string, title: string, yours: GroupAdvantageExercise, want: (r: number[][]) => number[][], seed: number, atol: number, print?: (line: string) => void): void {
  check(id, title, () => {
    const rng = new Rng(seed);
    const cases = [[[1, 2, 3, 4]], [[0.5, 0.5, 0.5]], [[1, 0], [3, 3]]];
    for (let c = 0; c < 20; c++) cases.push(randomGroups(rng));
    cases.forEach((r, c) => {
      const got = yours(r.map((row) => row.slice()));
      if (!Array.isArray(got) || got.length !== r.length) throw new CheckFailure(`case ${c}: expected ${r.length} rows, got ${JSON.stringify(got)}`);
      assertClose(`case ${c} (rewards ${JSON.stringify(r.map((row) => row.map((x) => +x.toFixed(2))))})`, got, want(r), { atol, rtol: 1e-4 });
    });
    return `${cases.length} sets of groups, one of identical rewards`;
  }, print);
}

export function checkRloo(yours: GroupAdvantageExercise, print?: (line: string) => void): void {
  checkGroups("10.1", "RLOO's leave-one-out advantages", yours, (r) => library(rlooAdvantages, r), 1001, 1e-5, print);
}

export function checkGrpo(yours: GroupAdvantageExercise, print?: (line: string) => void): void {
  checkGroups("10.2", `GRPO's group-normalised advantages (eps ${EPS})`, yours, (r) => library((t) => grpoAdvantages(t, EPS), r), 1002, 2e-3, print);
}

export function checkDpo(yours: DpoExercise, print?: (line: string) => void): void {
  check("10.3", "the DPO loss", () => {
    const rng = new Rng(1003);
    const cases: { pc: number[]; pr: number[]; rc: number[]; rr: number[]; beta: number }[] = [
      { pc: [-10], pr: [-12], rc: [-10], rr: [-12], beta: 0.1 }, // policy == reference: log 2
      { pc: [-3, -8], pr: [-9, -2], rc: [-5, -5], rr: [-5, -5], beta: 0.5 },
      { pc: [-1], pr: [-400], rc: [-400], rr: [-1], beta: 1 }, // a huge margin: no overflow
      { pc: [-400], pr: [-1], rc: [-1], rr: [-400], beta: 1 }, // a huge wrong margin: its size, not Infinity
    ];
    for (let c = 0; c < 12; c++) {
      const n = 1 + rng.int(6), lp = () => Array.from({ length: n }, () => -1 - 30 * rng.next());
      cases.push({ pc: lp(), pr: lp(), rc: lp(), rr: lp(), beta: [0.05, 0.1, 0.5, 2][rng.int(4)] });
    }
    cases.forEach((x, c) => {
      const got = yours(x.pc.slice(), x.pr.slice(), x.rc.slice(), x.rr.slice(), x.beta);
      const want = tf.tidy(() => dpoLoss(tf.tensor1d(x.pc), tf.tensor1d(x.pr), tf.tensor1d(x.rc), tf.tensor1d(x.rr), x.beta).loss.dataSync()[0]);
      if (typeof got !== "number" || !Number.isFinite(got)) throw new CheckFailure(`case ${c} (beta ${x.beta}): expected a finite number, got ${got}`);
      assertClose(`case ${c} (beta ${x.beta}, ${x.pc.length} pairs)`, got, want, { atol: 1e-4, rtol: 1e-4 });
    });
    return `${cases.length} batches, policy == reference and huge margins among them`;
  }, print);
}

/**
 * 10.4: GRPO's loss is (the policy term with advantages (r - mean) / (std + eps)) + beta * KL; multiplied by
 * (std + eps) it is the policy term in reward units + beta (std + eps) * KL: the KL's price in reward is
 * beta * (std + eps), std with n - 1 as GRPO divides by it (lib/rl/advantages rewardGroupStats).
 */
export function checkEffectiveKl(yours: EffectiveKlExercise, print?: (line: string) => void): void {
  check("10.4", "GRPO's effective KL coefficient", () => {
    const rng = new Rng(1004);
    const cases: { rewards: number[][]; beta: number }[] = [{ rewards: [[1, 2, 3, 4]], beta: 0.05 }, { rewards: [[1.9, 1.9, 1.9, 1.9], [-1, 1, -1, 1]], beta: 0.1 }];
    for (let c = 0; c < 20; c++) cases.push({ rewards: randomGroups(rng), beta: 0.01 + 0.3 * rng.next() });
    for (const { rewards, beta } of cases) {
      const got = yours(rewards.map((row) => row.slice()), beta);
      const want = rewards.map((row) => beta * (rewardGroupStats(row, row.length).reward_std + EPS));
      if (!Array.isArray(got) || got.length !== rewards.length) throw new CheckFailure(`expected one coefficient per group (${rewards.length}), got ${JSON.stringify(got)}`);
      assertClose(`beta ${beta.toFixed(3)}, rewards ${JSON.stringify(rewards.map((row) => row.map((x) => +x.toFixed(2))))}`, got, want, { labels: ["group"], atol: 1e-9, rtol: 1e-6 });
    }
    return `${cases.length} sets of groups and coefficients, one of identical rewards (its KL costs beta * eps in reward: almost nothing)`;
  }, print);
}
