// Simulated humans. The gold scorer (VADER) is the "true" quality of a text, known to the course but never to the
// reward model; the labeller turns two gold scores into a noisy preference, as a Bradley-Terry human would:
//   P(a preferred to b) = sigmoid(beta * (gold(a) - gold(b)))
// beta sets the noise (beta -> Infinity: a perfect judge; beta = 0: coin flips). Because the noise is known, so is
// the best accuracy any reward model could reach on a set of pairs: the labeller's ceiling.
import { SentimentIntensityAnalyzer } from "vader-sentiment";
import { Rng } from "../core/rng";

/**
 * VADER's compound score of the text, in [-1, 1] (Hutto & Gilbert 2014). Deterministic; a few thousand to ~10k
 * sentences/s (3.5-4.5k measured on the 3,000 UCI sentences with the machine busy).
 */
export function goldScore(text: string): number {
  return SentimentIntensityAnalyzer.polarity_scores(text).compound;
}

/** The gold score of each prompt + completion, as every reward's gold reads them. */
export function goldScores(prompts: string[], completions: string[]): number[] {
  return prompts.map((p, i) => goldScore(p + completions[i]));
}

/** A noisy Bradley-Terry judge with its own seeded randomness: the same seed gives the same labels. */
export class Labeller {
  private readonly rng: Rng;

  /** seed: a number, or a stream of the run's generator (e.g. rng.fork("labeller")). */
  constructor(public readonly beta: number, seed: number | Rng) {
    if (!(beta >= 0)) throw new Error(`Labeller: beta must be >= 0 (Infinity allowed), got ${beta}`);
    this.rng = typeof seed === "number" ? new Rng(seed) : seed;
  }

  /** P(a preferred to b) = sigmoid(beta * (goldA - goldB)); with beta = Infinity, 1 / 0 / 0.5 for a tie. */
  prob(goldA: number, goldB: number): number {
    const delta = goldA - goldB;
    if (delta === 0) return 0.5; // also avoids Infinity * 0 = NaN
    if (this.beta === Infinity) return delta > 0 ? 1 : 0;
    return 1 / (1 + Math.exp(-this.beta * delta));
  }

  /** One draw: 1 when a is preferred, 0 when b is. Consumes one uniform number per call. */
  label(goldA: number, goldB: number): 0 | 1 {
    return this.rng.next() < this.prob(goldA, goldB) ? 1 : 0;
  }
}

/**
 * The best expected pairwise accuracy any predictor can reach against these labels: for each pair the best guess is
 * the likelier label, right with probability max(p, 1 - p). A tie (p = 0.5) counts half.
 */
export function labellerCeiling(probs: number[]): number {
  if (probs.length === 0) throw new Error("labellerCeiling: no pairs");
  let sum = 0;
  for (const p of probs) sum += Math.max(p, 1 - p);
  return sum / probs.length;
}
