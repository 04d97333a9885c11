// Small statistics over plain arrays, shared by the stages and the studies.

/** The mean of xs; NaN for none (an empty mean is a bug to see, not a zero to average in). */
export const mean = (xs: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : NaN;
};

/** Standard error of the mean of xs (Bessel's n - 1); 0 for fewer than two values. */
export function standardError(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1) / xs.length);
}

/**
 * mean(b) - mean(a) and its standard error sqrt(se(a)^2 + se(b)^2), for two independent sets of runs (seeds) of two
 * settings (Welch's, Bessel's n - 1 in each). se is NaN when either set has fewer than two values: one run has no spread.
 */
export function meanDifference(a: number[], b: number[]): { diff: number; se: number } {
  const se = a.length < 2 || b.length < 2 ? NaN : Math.hypot(standardError(a), standardError(b));
  return { diff: mean(b) - mean(a), se };
}

/** The logistic function 1 / (1 + e^-x): P(a beats b) under Bradley-Terry with score gap x. */
export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
