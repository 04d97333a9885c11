// pass@k: the probability that at least one of k samples of a problem is correct (Chen et al. 2021, "Evaluating Large
// Language Models Trained on Code"). Drawing exactly k samples per problem estimates it with high variance; instead
// draw n >= k, count the c correct ones, and average over problems the unbiased estimator
//
//   pass@k = 1 - C(n - c, k) / C(n, k)        (the chance that k of the n, drawn without replacement, are all wrong)
//
// The binomials overflow long before n = 64 matters (C(64, 32) ~ 1.8e18 loses integer precision), so the ratio is
// computed as a product of factors in (0, 1]:  C(n - c, k) / C(n, k) = prod_{i = n - c + 1}^{n} (1 - k / i).
// pass@1 is then c / n (to rounding), and pass@k for k > n - c is 1 (every draw of k includes a correct sample).

/** Unbiased pass@k of one problem from n samples with c correct (integers, 0 <= c <= n, 1 <= k <= n). */
export function passAtK(n: number, c: number, k: number): number {
  if (!(Number.isInteger(n) && Number.isInteger(c) && Number.isInteger(k))) throw new Error(`passAtK: n, c and k must be integers, got n ${n}, c ${c}, k ${k}`);
  if (!(n >= 1 && c >= 0 && c <= n)) throw new Error(`passAtK: need 0 <= c <= n and n >= 1, got n ${n}, c ${c}`);
  if (!(k >= 1 && k <= n)) throw new Error(`passAtK: k must be in [1, n = ${n}], got ${k}`);
  if (n - c < k) return 1;
  let allWrong = 1;
  for (let i = n - c + 1; i <= n; i++) allWrong *= 1 - k / i;
  return 1 - allWrong;
}

/** pass@k over problems: the mean of passAtK over each problem's correct count, with its standard error over problems. */
export function meanPassAtK(correct: number[], n: number, k: number): { mean: number; se: number } {
  if (correct.length === 0) throw new Error("meanPassAtK: no problems");
  const v = correct.map((c) => passAtK(n, c, k));
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const se = v.length > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1) / v.length) : 0;
  return { mean: m, se };
}

/** The k at which a curve is read: 1, 2, 4, ... up to n (and n itself). */
export function passAtKGrid(n: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k <= n; k *= 2) ks.push(k);
  if (ks[ks.length - 1] !== n) ks.push(n);
  return ks;
}
