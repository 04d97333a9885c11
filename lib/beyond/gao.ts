// Reward over-optimisation laws (Gao, Schulman & Hilton 2022, "Scaling Laws for Reward Model Overoptimization"):
// the gold reward gained, as a function of the distance d = sqrt(KL(pi || pi_init)) a method moved the policy,
//
//   best-of-n:  R(d) = d (alpha - beta d)          peaks at d* = alpha / (2 beta)
//   RL:         R(d) = d (alpha - beta log d)      peaks at d* = exp(alpha / beta - 1)
//
// Both are linear in (alpha, beta), so a least-squares fit is two normal equations. Best-of-n's KL from the policy it
// samples from is at most KL_bon(n) = log n - (n - 1) / n (Stiennon et al. 2020, appendix; Gao et al. 2022): an upper
// bound, reached only when no two of the n completions repeat (Beirami et al. 2024).

/**
 * The upper bound on KL(best-of-n || pi) in nats for n samples: log n - (n - 1)/n (0 at n = 1). The true KL is equal
 * only when no two of the n completions repeat; a policy that repeats itself has a smaller one (Beirami et al. 2024).
 */
export function bestOfNKl(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new Error(`bestOfNKl: n must be an integer >= 1, got ${n}`);
  return Math.log(n) - (n - 1) / n;
}

export type GaoForm = "bon" | "rl";

export interface GaoFit {
  form: GaoForm;
  alpha: number;
  beta: number;
  /** Coefficient of determination of the fit on its own points (1 - SS_res / SS_tot). */
  r2: number;
  /**
   * Where the fitted gold has its maximum (Infinity when beta is not positive: no peak within the law). Best-of-n's
   * d* = alpha / (2 beta) is negative when alpha < 0: the fitted gain falls from d = 0 on (gaoPeak says so).
   */
  dPeak: number;
}

/** The fitted peak d* when it lies at a positive distance, else undefined (no peak, or one at d <= 0). */
export function gaoPeak(fit: Pick<GaoFit, "dPeak">): number | undefined {
  return Number.isFinite(fit.dPeak) && fit.dPeak > 0 ? fit.dPeak : undefined;
}

/** The law's two features at d: R(d) = alpha f1(d) - beta f2(d). */
function features(form: GaoForm, d: number): [number, number] {
  return form === "bon" ? [d, d * d] : [d, d > 0 ? d * Math.log(d) : 0];
}

/** R(d) of a fitted law. */
export function gaoCurve(fit: Pick<GaoFit, "form" | "alpha" | "beta">, d: number): number {
  const [f1, f2] = features(fit.form, d);
  return fit.alpha * f1 - fit.beta * f2;
}

/** Least-squares fit of the law to points (d, gold gain); needs at least two points with d > 0. */
export function fitGao(form: GaoForm, d: number[], gain: number[]): GaoFit {
  if (d.length !== gain.length) throw new Error(`fitGao: ${d.length} distances but ${gain.length} gains`);
  if (d.some((x) => !(x >= 0))) throw new Error("fitGao: distances must be >= 0 (d = sqrt(KL))");
  // normal equations for y = a f1 - b f2, unknowns (a, b)
  let s11 = 0, s12 = 0, s22 = 0, s1y = 0, s2y = 0;
  d.forEach((x, i) => {
    const [f1, f2] = features(form, x);
    s11 += f1 * f1; s12 += f1 * f2; s22 += f2 * f2; s1y += f1 * gain[i]; s2y += f2 * gain[i];
  });
  const det = s11 * s22 - s12 * s12;
  if (!(Math.abs(det) > 1e-12)) throw new Error(`fitGao: the points do not determine both coefficients (${d.filter((x) => x > 0).length} with d > 0)`);
  const alpha = (s1y * s22 - s2y * s12) / det;
  const beta = (s1y * s12 - s2y * s11) / det;
  const mean = gain.reduce((a, b) => a + b, 0) / gain.length;
  let ssRes = 0, ssTot = 0;
  d.forEach((x, i) => {
    ssRes += (gain[i] - gaoCurve({ form, alpha, beta }, x)) ** 2;
    ssTot += (gain[i] - mean) ** 2;
  });
  const dPeak = beta <= 1e-12 ? Infinity : form === "bon" ? alpha / (2 * beta) : Math.exp(alpha / beta - 1);
  return { form, alpha, beta, r2: ssTot > 0 ? 1 - ssRes / ssTot : 1, dPeak };
}
