// Checks of notebook 11's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and the library's on the same inputs and says where they differ.
import { assertClose, check, CheckFailure } from "../exercise";
import { Rng } from "../../core/rng";
import { passAtK } from "../../rl/pass-at-k";
import { exactMatchReward, problemAnswer, problemPrompt, sampleProblem } from "../../reward/verifiable";
import { groupRewardStats } from "../../studies/rlvr";

/** 11.1: the unbiased pass@k of one problem from n samples with c correct. */
export type PassAtKExercise = (n: number, c: number, k: number) => number;
/** 11.2: 1 if the completion (without its EOS; eos says whether it ended with one) is exactly the answer, else 0. */
export type ExactRewardExercise = (prompt: string, completion: string, eos: boolean) => number;
/** 11.3: the share of groups of k consecutive rewards whose rewards are all equal. */
export type ZeroStdExercise = (rewards: number[], k: number) => number;

export function checkPassAtK(yours: PassAtKExercise, print?: (line: string) => void): void {
  check("11.1", "the unbiased pass@k estimator", () => {
    const cases: [number, number, number][] = [[1, 1, 1], [1, 0, 1], [10, 3, 1], [10, 3, 8], [64, 0, 64], [64, 1, 64], [64, 5, 16], [64, 32, 2], [200, 2, 100]];
    cases.push([2000, 3, 1000], [1500, 700, 750]); // C(n, k) overflows a double here: only a product of ratios stays finite
    const rng = new Rng(1101);
    for (let i = 0; i < 30; i++) {
      const n = 1 + rng.int(128), c = rng.int(n + 1), k = 1 + rng.int(n);
      cases.push([n, c, k]);
    }
    for (const [n, c, k] of cases) {
      const got = yours(n, c, k);
      if (typeof got !== "number" || !Number.isFinite(got)) throw new CheckFailure(`n ${n}, c ${c}, k ${k}: expected a finite number, got ${got}`);
      assertClose(`n ${n}, c ${c}, k ${k}`, got, passAtK(n, c, k), { atol: 1e-9, rtol: 1e-9 });
    }
    return `${cases.length} (n, c, k), n up to 2000`;
  }, print);
}

/** Candidate completions of one problem: the answer and the usual near misses. */
function candidates(prompt: string, answer: string): [string, boolean][] {
  const unreversed = answer.split("").reverse().join("");
  return [
    [answer, true], // right
    [answer, false], // right digits, no EOS within the budget
    [unreversed, true], // the sum written the usual way round
    [answer + "0", true], // the same number read back to front, but not the answer's text
    [" " + answer, true], [answer + " ", true], // a space
    [answer + "x", true], // junk after the digits
    ["", true],
    [answer.slice(0, -1), true], // a digit short
  ];
}

export function checkExactReward(yours: ExactRewardExercise, print?: (line: string) => void): void {
  check("11.2", "the exact-match reward and its parser", () => {
    const rng = new Rng(1102);
    const problems = [{ a: 42, b: 317, digits: 3 }, { a: 999, b: 1, digits: 3 }, { a: 0, b: 0, digits: 2 }, { a: 5, b: 5, digits: 1 }];
    for (let i = 0; i < 12; i++) problems.push(sampleProblem(1 + rng.int(4), rng));
    let n = 0;
    for (const p of problems) {
      const prompt = problemPrompt(p), answer = problemAnswer(p);
      for (const [completion, eos] of candidates(prompt, answer)) {
        const got = yours(prompt, completion, eos), want = exactMatchReward(prompt, completion, eos);
        n++;
        if (got !== want) throw new CheckFailure(`prompt ${JSON.stringify(prompt)}, completion ${JSON.stringify(completion)}${eos ? " then EOS" : " without EOS"}: yours ${got}, expected ${want} (the answer is ${JSON.stringify(answer)})`);
      }
    }
    return `${n} completions of ${problems.length} problems, near misses among them`;
  }, print);
}

export function checkFracZeroStd(yours: ZeroStdExercise, print?: (line: string) => void): void {
  check("11.3", "frac_reward_zero_std", () => {
    const rng = new Rng(1103);
    const cases: [number[], number][] = [[[1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0], 4], [[0.5, 0.5, 1.5, 0.5], 2], [[1, 0, 1, 0], 2], [[0, 0, 0, 0], 4], [[1, 1, 1, 1, 1, 1], 3]];
    for (let i = 0; i < 20; i++) {
      const k = 2 + rng.int(7), groups = 1 + rng.int(8);
      const p = rng.next();
      cases.push([Array.from({ length: k * groups }, () => (rng.bernoulli(p) ? 1 : 0) + (rng.bernoulli(0.2) ? 0.5 : 0)), k]);
    }
    for (const [rewards, k] of cases) {
      const got = yours(rewards.slice(), k);
      if (typeof got !== "number" || !Number.isFinite(got)) throw new CheckFailure(`rewards ${JSON.stringify(rewards)}, k ${k}: expected a number, got ${got}`);
      assertClose(`rewards ${JSON.stringify(rewards)}, k ${k}`, got, groupRewardStats(rewards, k).frac_reward_zero_std, { atol: 1e-12, rtol: 0 });
    }
    return `${cases.length} batches, all-correct and all-wrong groups among them`;
  }, print);
}
