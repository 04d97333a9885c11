// Checks of notebook 08's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and the
// library's on the same random inputs and says where they differ.
import * as tf from "@tensorflow/tfjs";
import { assertClose, check, CheckFailure } from "../exercise";
import { postprocessScores, type RewardOptions, type ScoreStats } from "../../reward/postprocess";
import { distinctN } from "../../rl/evaluate";
import { Rng } from "../../core/rng";
import { meanDifference } from "../../core/stats";

/** 08.1: distinct-n of a set of texts. */
export type DistinctExercise = (texts: string[], n: number) => number;

/** 08.2: the score PPO receives, from the raw reward-model scores (plain arrays; eos[i] is 1 if response i ended). */
export type PostprocessExercise = (raw: number[], eos: number[], opts: RewardOptions, stats: ScoreStats) => number[];

/** 08.3: mean(b) - mean(a) over two settings' runs, and its standard error (NaN when a setting has a single run). */
export type DifferenceExercise = (a: number[], b: number[]) => { diff: number; se: number };

const WORDS = ["good", "great", "bad", "the", "food", "was", "is", "not", "very", "service", "slow", "!", "."];

/** A random text: words from a small vocabulary (so n-grams repeat), sometimes with doubled or edge spaces. */
function randomText(rng: Rng): string {
  const n = rng.int(9); // 0..8 words: some texts have no bigram at all
  const words = Array.from({ length: n }, () => rng.choice(WORDS));
  const sep = () => (rng.bernoulli(0.15) ? "  " : rng.bernoulli(0.05) ? "\n" : " ");
  let t = words.map((w, i) => (i === 0 ? w : sep() + w)).join("");
  if (rng.bernoulli(0.2)) t = " " + t;
  if (rng.bernoulli(0.2)) t = t + " ";
  return t;
}

/** 08.1: distinct word n-grams / all word n-grams over a set of texts (n-grams do not cross texts); vs lib/pipeline/ppo distinctN. */
export function checkDistinct(yours: DistinctExercise, print?: (line: string) => void): void {
  check("08.1", "distinct-n", () => {
    const rng = new Rng(801);
    const cases: { texts: string[]; n: number }[] = [
      { texts: ["good good good", "good good good"], n: 2 },
      { texts: ["the food was good", "the service was slow"], n: 2 },
      { texts: ["great", "good"], n: 2 }, // no bigram at all: 0
    ];
    for (let k = 0; k < 20; k++) cases.push({ texts: Array.from({ length: 1 + rng.int(6) }, () => randomText(rng)), n: k % 4 === 3 ? 3 : k % 4 === 2 ? 1 : 2 });
    for (const [k, c] of cases.entries()) {
      const got = yours(c.texts.slice(), c.n);
      const want = distinctN(c.texts, c.n);
      if (typeof got !== "number") throw new CheckFailure(`case ${k}: expected a number, got ${typeof got}`);
      try {
        assertClose(`distinct-${c.n}`, got, want, { atol: 1e-9, rtol: 1e-9 });
      } catch (e) {
        throw new CheckFailure(`case ${k}, n = ${c.n}, texts ${JSON.stringify(c.texts)}: yours ${got}, lib ${want}`);
      }
    }
    return `agrees with lib/pipeline/ppo distinctN on ${cases.length} sets of texts (n = 1, 2, 3; repeated words, doubled spaces, texts without any n-gram)`;
  }, print);
}

/** 08.2: normalise, missing-EOS penalty, squash 2 tanh(x/2), clip, in that order; vs lib/reward/reward-model postprocessScores. */
export function checkPostprocess(yours: PostprocessExercise, print?: (line: string) => void): void {
  check("08.2", "reward post-processing", () => {
    const rng = new Rng(802);
    const settings: RewardOptions[] = [
      { normalize: true, squash: true, clip: 10, missing_eos_penalty: -1 },
      { normalize: true, squash: false, clip: 1.5, missing_eos_penalty: -1 },
      { normalize: false, squash: true, clip: null, missing_eos_penalty: -2 },
      { normalize: true, squash: false, clip: null, missing_eos_penalty: null },
      { normalize: false, squash: false, clip: 0.5, missing_eos_penalty: -0.5 },
      { normalize: true, squash: true, clip: 1, missing_eos_penalty: -1 },
    ];
    for (let k = 0; k < 12; k++) {
      const opts = settings[k % settings.length];
      const stats = { mean: rng.normal(0.5, 1), std: 0.3 + 2 * rng.next() };
      const n = 4 + rng.int(8);
      const raw = Array.from({ length: n }, () => rng.normal(stats.mean, 3 * stats.std));
      const eos = Array.from({ length: n }, (_, i) => (i === 0 ? 0 : i === 1 ? 1 : rng.bernoulli(0.6) ? 1 : 0));
      const got = yours(raw.slice(), eos.slice(), { ...opts }, { ...stats });
      const want = tf.tidy(() => Array.from(postprocessScores(tf.tensor1d(raw), tf.tensor1d(eos), opts, stats).dataSync()));
      assertClose(`scores (batch ${k}, ${JSON.stringify(opts)}, eos ${JSON.stringify(eos)})`, got, want, { labels: ["response"], atol: 1e-5 });
    }
    return "agrees with lib/reward/reward-model postprocessScores on 12 random batches, over 6 settings of ppo.reward";
  }, print);
}

/** 08.3: Welch's difference of two means and its standard error; vs lib/core/stats meanDifference. */
export function checkDifference(yours: DifferenceExercise, print?: (line: string) => void): void {
  check("08.3", "a difference and its standard error", () => {
    const rng = new Rng(803);
    const cases: [number[], number[]][] = [[[0.61, 0.59, 0.63], [0.77, 0.71, 0.81]], [[0.5, 0.52], [0.55, 0.49]], [[0.7], [0.7, 0.72]], [[1, 2, 3, 4, 5], [2]]];
    for (let k = 0; k < 16; k++) {
      const draw = () => Array.from({ length: 2 + rng.int(5) }, () => rng.normal(0.5, 0.1 + 0.3 * rng.next()));
      cases.push([draw(), draw()]);
    }
    for (const [a, b] of cases) {
      const got = yours(a.slice(), b.slice());
      const want = meanDifference(a, b);
      if (!got || typeof got.diff !== "number" || typeof got.se !== "number") throw new CheckFailure(`expected { diff, se }, got ${JSON.stringify(got)}`);
      const close = (x: number, y: number) => (Number.isNaN(y) ? Number.isNaN(x) : Math.abs(x - y) <= 1e-9 + 1e-7 * Math.abs(y));
      if (!close(got.diff, want.diff) || !close(got.se, want.se)) {
        throw new CheckFailure(`a = [${a.map((x) => x.toFixed(3))}], b = [${b.map((x) => x.toFixed(3))}]: yours diff ${got.diff}, se ${got.se}; ` +
          `expected diff ${want.diff.toFixed(6)}, se ${Number.isNaN(want.se) ? "NaN (a single run has no spread)" : want.se.toFixed(6)}`);
      }
    }
    return `agrees with lib/core/stats meanDifference on ${cases.length} pairs of settings, single runs included`;
  }, print);
}
