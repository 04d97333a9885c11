// The checks of notebook 08's exercises must pass the library's answer, fail each plausible wrong answer, and say
// NOT DONE for an untouched stub.
import { describe, it } from "node:test";
import { notDone } from "../lib/notebook/exercise";
import { checkDifference, checkDistinct, checkPostprocess, DifferenceExercise, DistinctExercise, PostprocessExercise } from "../lib/notebook/checks/nb08";
import { assertCheckDiscriminates } from "./helpers";

const words = (t: string) => t.trim().split(/\s+/).filter((w) => w.length > 0);

function distinctWith(o: { acrossTexts?: boolean; splitOnSpace?: boolean; perTextAverage?: boolean; emptyIsOne?: boolean } = {}): DistinctExercise {
  return (texts, n) => {
    const split = o.splitOnSpace ? (t: string) => t.split(" ") : words;
    const groups = o.acrossTexts ? [texts.flatMap(split)] : texts.map(split);
    const grams = (ws: string[]) => Array.from({ length: Math.max(0, ws.length - n + 1) }, (_, i) => ws.slice(i, i + n).join(" "));
    if (o.perTextAverage) {
      const per = groups.map(grams).filter((g) => g.length > 0).map((g) => new Set(g).size / g.length);
      return per.length === 0 ? 0 : per.reduce((a, b) => a + b, 0) / per.length;
    }
    const all = groups.flatMap(grams);
    return all.length === 0 ? (o.emptyIsOne ? 1 : 0) : new Set(all).size / all.length;
  };
}

function postprocessWith(o: { squashFirst?: boolean; plainTanh?: boolean; penaltyWhereEos?: boolean; divideByVariance?: boolean } = {}): PostprocessExercise {
  return (raw, eos, opts, stats) => raw.map((s, i) => {
    const squash = (x: number) => (o.plainTanh ? Math.tanh(x) : 2 * Math.tanh(x / 2));
    if (opts.normalize) s = (s - stats.mean) / (o.divideByVariance ? stats.std ** 2 : stats.std);
    if (o.squashFirst && opts.squash) s = squash(s);
    const missing = o.penaltyWhereEos ? eos[i] === 1 : eos[i] === 0;
    if (opts.missing_eos_penalty !== null && missing) s += opts.missing_eos_penalty;
    if (!o.squashFirst && opts.squash) s = squash(s);
    if (opts.clip !== null) s = Math.min(opts.clip, Math.max(-opts.clip, s));
    return s;
  });
}

describe("lib/notebook/checks/nb08", () => {
  it("08.1 distinct-n: passes the answer, fails n-grams across texts, a split on single spaces, a per-text average, 1 for no n-gram", () => {
    assertCheckDiscriminates(checkDistinct, distinctWith(), {
      "n-grams cross texts": distinctWith({ acrossTexts: true }),
      "split(' ') keeps empty words": distinctWith({ splitOnSpace: true }),
      "average of per-text ratios": distinctWith({ perTextAverage: true }),
      "1 when there is no n-gram": distinctWith({ emptyIsOne: true }),
    }, () => notDone());
  });

  it("08.2 post-processing: passes the answer, fails squash before the penalty, tanh(x), the penalty on the wrong rows, / variance", () => {
    assertCheckDiscriminates(checkPostprocess, postprocessWith(), {
      "squash before the EOS penalty": postprocessWith({ squashFirst: true }),
      "tanh(x) instead of 2 tanh(x/2)": postprocessWith({ plainTanh: true }),
      "penalty where EOS was emitted": postprocessWith({ penaltyWhereEos: true }),
      "divides by the variance": postprocessWith({ divideByVariance: true }),
    }, () => notDone());
  });

  it("08.3 difference and standard error: passes Welch's, fails the population variance, no 1/n, se added not in quadrature, a sign flip, 0 for one run", () => {
    const m = (xs: number[]) => xs.reduce((p, x) => p + x, 0) / xs.length;
    const v = (xs: number[], ddof: number) => xs.reduce((p, x) => p + (x - m(xs)) ** 2, 0) / (xs.length - ddof);
    const diffWith = (o: { ddof?: number; noN?: boolean; addSe?: boolean; flip?: boolean; singleZero?: boolean } = {}): DifferenceExercise => (a, b) => {
      const se1 = (xs: number[]) => (xs.length < 2 ? (o.singleZero ? 0 : NaN) : Math.sqrt(v(xs, o.ddof ?? 1) / (o.noN ? 1 : xs.length)));
      const se = o.addSe ? se1(a) + se1(b) : Math.sqrt(se1(a) ** 2 + se1(b) ** 2);
      return { diff: o.flip ? m(a) - m(b) : m(b) - m(a), se };
    };
    assertCheckDiscriminates(checkDifference, diffWith(), {
      "population variance (n, not n - 1)": diffWith({ ddof: 0 }),
      "standard deviations, not standard errors": diffWith({ noN: true }),
      "standard errors added, not in quadrature": diffWith({ addSe: true }),
      "mean(a) - mean(b)": diffWith({ flip: true }),
      "se 0 for a single run": diffWith({ singleZero: true }),
    }, () => notDone());
  });
});
