// A verifiable reward (notebook 11): a task whose answers a program can check exactly, so the reward needs no model.
//
// The task is multi-digit addition with the sum written least-significant digit first (Lee et al. 2024, "Teaching
// Arithmetic to Small Transformers": in that order each digit depends only on digits already seen and one carry,
// which a small model learns; written the usual way round, the first digit needs every carry at once).
//
//   prompt       "042+317="          both operands zero-padded to the problem's width (digits)
//   completion   "953" <EOS>         the sum 359, reversed, no leading zero of the sum ("0" for 0), then EOS
//   parse        digits, then EOS    anything else (a space, a sign, no EOS within the token budget) is a format failure
//   reward       1 if the completion is exactly the answer, else 0
//
// Train and test problems are drawn from the same distribution but never overlap: the held-out set is drawn first with
// its own seed and every training draw rejects its problems (heldOutProblems, trainProblems).
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng";
import type { RewardFns } from "./reward-fns";
import { decodeBatch } from "./text-reward";
import type { ScoredBatch } from "../lm/rollout";
import type { Tokenizer } from "../lm/tokenizer";

/** One addition problem: a + b, each operand below 10^digits, written with `digits` digits. */
export interface AdditionProblem {
  a: number;
  b: number;
  digits: number;
}

const reverse = (s: string) => s.split("").reverse().join("");

/** "042+317=": the prompt the model answers. */
export function problemPrompt(p: AdditionProblem): string {
  return `${String(p.a).padStart(p.digits, "0")}+${String(p.b).padStart(p.digits, "0")}=`;
}

/** The exact answer: the digits of a + b, least significant first ("953" for 359). */
export function problemAnswer(p: AdditionProblem): string {
  return reverse(String(p.a + p.b));
}

/** A prompt's problem back from its text; null when the text is not "<d digits>+<d digits>=". */
export function parsePrompt(prompt: string): AdditionProblem | null {
  const m = /^(\d+)\+(\d+)=$/.exec(prompt);
  if (!m || m[1].length !== m[2].length) return null;
  return { a: Number(m[1]), b: Number(m[2]), digits: m[1].length };
}

/**
 * The answer a completion gives: its text when it is one or more digits and ended with EOS, else null (a format
 * failure: no EOS within the token budget, or any character that is not a digit).
 */
export function parseCompletion(completion: string, eos: boolean): string | null {
  return eos && /^[0-9]+$/.test(completion) ? completion : null;
}

/** 1 when the completion parses and is exactly the answer (string equality: "9530" is not "953"), else 0. */
export function exactMatchReward(prompt: string, completion: string, eos: boolean): number {
  const p = parsePrompt(prompt);
  if (!p) throw new Error(`exactMatchReward: "${prompt}" is not an addition prompt ("<digits>+<digits>=", same width)`);
  return parseCompletion(completion, eos) === problemAnswer(p) ? 1 : 0;
}

/**
 * A gameable partial-credit reward: the exact reward plus `bonus` whenever the answer parses and has the right number
 * of digits, right or wrong. The bonus is a property of the answer's form a policy can learn without the skill.
 */
export function digitCountReward(prompt: string, completion: string, eos: boolean, bonus: number): number {
  const exact = exactMatchReward(prompt, completion, eos);
  const parsed = parseCompletion(completion, eos);
  const p = parsePrompt(prompt)!;
  return exact + (parsed !== null && parsed.length === problemAnswer(p).length ? bonus : 0);
}

/** A problem's identity, for disjointness: width and operands. */
export function problemKey(p: AdditionProblem): string {
  return `${p.digits}:${p.a}+${p.b}`;
}

/** One problem of width `digits`, operands uniform in [0, 10^digits). */
export function sampleProblem(digits: number, rng: Rng): AdditionProblem {
  if (!(Number.isInteger(digits) && digits >= 1 && digits <= 7)) throw new Error(`sampleProblem: digits must be an integer in [1, 7], got ${digits}`);
  const n = 10 ** digits;
  return { a: rng.int(n), b: rng.int(n), digits };
}

/**
 * The carries the addition makes, column by column from the least significant digit: 0 for 123+456, 3 for 999+001.
 * The usual measure of an addition's difficulty: a column with a carry depends on the columns before it.
 */
export function carryCount(p: AdditionProblem): number {
  let carry = 0, n = 0;
  for (let i = 0, a = p.a, b = p.b; i < p.digits; i++, a = Math.floor(a / 10), b = Math.floor(b / 10)) {
    carry = (a % 10) + (b % 10) + carry >= 10 ? 1 : 0;
    n += carry;
  }
  return n;
}

/** How many distinct problems of this width there are. */
export function problemCount(digits: number): number {
  return 10 ** (2 * digits);
}

/**
 * The held-out problems: n distinct ones of each width in `widths`, from their own seed (the same for every run that
 * shares the seed), so a score on them is a score on problems no training step drew.
 */
export function heldOutProblems(n: number, widths: number[], seed: number): AdditionProblem[] {
  const out: AdditionProblem[] = [];
  for (const d of widths) {
    if (n > problemCount(d) / 2) throw new Error(`heldOutProblems: ${n} held-out problems of width ${d} would leave too few for training (there are ${problemCount(d)})`);
    const rng = new Rng(seed).fork(`heldout-${d}`);
    const seen = new Set<string>();
    while (seen.size < n) {
      const p = sampleProblem(d, rng);
      const k = problemKey(p);
      if (!seen.has(k)) {
        seen.add(k);
        out.push(p);
      }
    }
  }
  return out;
}

/** n training problems (repeats allowed), widths drawn uniformly from `widths`, never one of `exclude` (problemKey). */
export function trainProblems(n: number, widths: number[], rng: Rng, exclude: ReadonlySet<string>): AdditionProblem[] {
  const out: AdditionProblem[] = [];
  while (out.length < n) {
    const p = sampleProblem(widths[rng.int(widths.length)], rng);
    if (!exclude.has(problemKey(p))) out.push(p);
  }
  return out;
}

/** What one batch of completions looked like to the checker (the trainer only sees the rewards). */
export interface VerifiableBatchStats {
  prompts: string[];
  /** the completions, without EOS */
  texts: string[];
  /** the reward the policy optimised, per row */
  rewards: number[];
  /** the exact-match reward, per row (equal to rewards when the reward is exact) */
  exact: number[];
  /** the completion parsed (digits, then EOS), per row */
  parsed: boolean[];
  /** the parsed answer has the answer's number of digits, per row */
  rightLength: boolean[];
}

export type VerifiableRewardKind = "exact" | "digit_count";

/**
 * RewardFns over the policy's own tokens: each row is decoded (prompt, completion, EOS) and checked. proxy is the
 * reward the policy optimises (exact, or exact plus the digit-count bonus); gold is always the exact reward, so a
 * gameable reward can be watched against the one it stands for, as notebook 09 watches a reward model against VADER.
 * `last` holds the statistics of the most recent batch proxy scored, for the metrics the trainer does not log.
 */
export function verifiableRewardFns(tok: Tokenizer, kind: VerifiableRewardKind = "exact", bonus = 0): RewardFns & { last: VerifiableBatchStats | undefined } {
  const fns = {
    last: undefined as VerifiableBatchStats | undefined,
    proxy(batch: ScoredBatch): tf.Tensor1D {
      const d = decodeBatch(batch, tok);
      const exact = d.prompts.map((p, i) => exactMatchReward(p, d.texts[i], d.eos[i]));
      const rewards = kind === "exact" ? exact : d.prompts.map((p, i) => digitCountReward(p, d.texts[i], d.eos[i], bonus));
      const parsed = d.texts.map((t, i) => parseCompletion(t, d.eos[i]));
      const rightLength = parsed.map((x, i) => x !== null && x.length === problemAnswer(parsePrompt(d.prompts[i])!).length);
      fns.last = { prompts: d.prompts, texts: d.texts, rewards, exact, parsed: parsed.map((x) => x !== null), rightLength };
      return tf.tensor1d(rewards);
    },
    gold(prompts: string[], completions: string[]): number[] {
      // The trainer passes the completions without their EOS flags, right after proxy scored the same rows: the
      // exact rewards of that batch are reused. Other texts are checked as if ended (a completion cut off without EOS
      // is longer than any answer when the token budget exceeds the answer's length, so it still scores 0).
      const l = fns.last;
      if (l && l.texts.length === completions.length && l.texts.every((t, i) => t === completions[i] && l.prompts[i] === prompts[i])) return l.exact.slice();
      return prompts.map((p, i) => exactMatchReward(p, completions[i], true));
    },
  };
  return fns;
}
