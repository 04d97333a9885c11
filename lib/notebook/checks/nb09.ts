// Checks of notebook 09's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and the
// library's on the same random inputs and says where they differ.
import { assertClose, check, CheckFailure } from "../exercise";
import { bestOfNDistribution } from "../../beyond/best-of-n";
import { fitGao, type GaoForm } from "../../beyond/gao";
import { Rng } from "../../core/rng";

/** 09.1: the exact best-of-n distribution of a discrete policy with distinct rewards. */
export type BestOfNDistExercise = (probs: number[], rewards: number[], n: number) => number[];
/** 09.2: least-squares alpha, beta of gain(d) = d (alpha - beta d). */
export type FitBonExercise = (d: number[], gain: number[]) => { alpha: number; beta: number };
/** 09.4: the gold gain that selecting on the proxy predicts, from paired proxy and gold scores and the proxy gain. */
export type RegressionalExercise = (proxies: number[], golds: number[], proxyGain: number) => number;

/** 09.3: the d at which a fitted law peaks (Infinity when beta <= 0). */
export type PeakExercise = (form: GaoForm, alpha: number, beta: number) => number;

function randomPolicy(rng: Rng, k: number): { probs: number[]; rewards: number[] } {
  const w = Array.from({ length: k }, () => 0.05 + rng.next());
  const z = w.reduce((a, b) => a + b, 0);
  const rewards = Array.from({ length: k }, (_, i) => i - k / 2 + 0.1 * rng.next()); // distinct
  for (let i = k - 1; i > 0; i--) { const j = rng.int(i + 1); [rewards[i], rewards[j]] = [rewards[j], rewards[i]]; } // not sorted
  return { probs: w.map((x) => x / z), rewards };
}

export function checkBestOfNDistribution(yours: BestOfNDistExercise, print?: (line: string) => void): void {
  check("09.1", "the exact best-of-n distribution", () => {
    const rng = new Rng(901);
    for (let c = 0; c < 25; c++) {
      const k = 2 + rng.int(7), n = 1 + rng.int(12);
      const { probs, rewards } = randomPolicy(rng, k);
      const got = yours(probs.slice(), rewards.slice(), n);
      if (!Array.isArray(got) || got.length !== k) throw new CheckFailure(`case ${c}: expected an array of ${k} probabilities, got ${JSON.stringify(got)}`);
      assertClose(`case ${c} (${k} outcomes, n ${n}, rewards ${rewards.map((r) => r.toFixed(2)).join(" ")})`, got, bestOfNDistribution(probs, rewards, n), { atol: 1e-9, rtol: 1e-7 });
    }
    return "25 random policies, n from 1 to 12";
  }, print);
}

export function checkFitBon(yours: FitBonExercise, print?: (line: string) => void): void {
  check("09.2", "least squares for best-of-n's law", () => {
    const rng = new Rng(902);
    for (let c = 0; c < 12; c++) {
      const alpha = 0.1 + rng.next(), beta = rng.next() * 0.3 - 0.05;
      const d = Array.from({ length: 3 + rng.int(6) }, (_, i) => 0.2 * (i + 1) + 0.1 * rng.next());
      const gain = d.map((x) => x * (alpha - beta * x) + 0.02 * (rng.next() - 0.5));
      const got = yours(d.slice(), gain.slice());
      const want = fitGao("bon", d, gain);
      if (!got || typeof got.alpha !== "number" || typeof got.beta !== "number") throw new CheckFailure(`case ${c}: expected { alpha, beta }, got ${JSON.stringify(got)}`);
      assertClose(`case ${c}: [alpha, beta] from ${d.length} points`, [got.alpha, got.beta], [want.alpha, want.beta], { atol: 1e-6, rtol: 1e-6 });
    }
    return "12 noisy sets of points";
  }, print);
}

export function checkPeak(yours: PeakExercise, print?: (line: string) => void): void {
  check("09.3", "where the fitted gold peaks", () => {
    const rng = new Rng(903);
    const cases: [GaoForm, number, number][] = [["bon", 0.5, 0.1], ["rl", 0.5, 0.2], ["bon", 0.3, 0], ["rl", 0.3, -0.1]];
    for (let c = 0; c < 12; c++) cases.push([rng.bernoulli(0.5) ? "bon" : "rl", 0.1 + rng.next(), 0.02 + rng.next() * 0.5]);
    for (const [form, alpha, beta] of cases) {
      const got = yours(form, alpha, beta);
      const want = fitGaoPeak(form, alpha, beta);
      const same = Number.isFinite(want) ? Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)) : got === Infinity;
      if (!same) throw new CheckFailure(`${form}, alpha ${alpha.toFixed(3)}, beta ${beta.toFixed(3)}: yours ${got}, expected ${want}`);
    }
    return `${cases.length} laws of both forms, with and without a peak`;
  }, print);
}

/** The peak lib/beyond/gao.ts reports for given coefficients (fitGao computes it from a fit; this reuses that rule). */
function fitGaoPeak(form: GaoForm, alpha: number, beta: number): number {
  // two exact points of the law determine the same alpha and beta, so fitGao gives back its dPeak
  const d = [0.5, 1.5];
  const gain = d.map((x) => (form === "bon" ? x * (alpha - beta * x) : x * (alpha - beta * Math.log(x))));
  return fitGao(form, d, gain).dPeak;
}

/**
 * The least-squares slope of gold on proxy, cov(s, g) / var(s), times the proxy gain: if E[g | s] is that line (as for
 * jointly Gaussian scores), any selection made on s alone moves the mean gold by the slope times the mean proxy's move.
 */
export function regressionalGoldGain(proxies: number[], golds: number[], proxyGain: number): number {
  const n = proxies.length;
  const ms = proxies.reduce((a, b) => a + b, 0) / n, mg = golds.reduce((a, b) => a + b, 0) / n;
  let cov = 0, vs = 0;
  for (let i = 0; i < n; i++) {
    cov += (proxies[i] - ms) * (golds[i] - mg);
    vs += (proxies[i] - ms) ** 2;
  }
  return (cov / vs) * proxyGain;
}

export function checkRegressional(yours: RegressionalExercise, print?: (line: string) => void): void {
  check("09.4", "the gold gain selection on the proxy predicts", () => {
    const rng = new Rng(904);
    for (let c = 0; c < 15; c++) {
      // correlated scores on different scales: the proxy in reward-model units, the gold in VADER's [-1, 1]
      const n = 20 + rng.int(200), rho = -0.2 + 1.1 * rng.next(), sS = 0.5 + 3 * rng.next(), sG = 0.1 + 0.5 * rng.next();
      const proxies: number[] = [], golds: number[] = [];
      for (let i = 0; i < n; i++) {
        const z = rng.normal(), e = rng.normal();
        proxies.push(1 + sS * z);
        golds.push(0.2 + sG * (rho * z + Math.sqrt(Math.max(0, 1 - rho * rho)) * e));
      }
      const gain = 3 * rng.next() * sS;
      const got = yours(proxies.slice(), golds.slice(), gain);
      const want = regressionalGoldGain(proxies, golds, gain);
      if (typeof got !== "number" || !(Math.abs(got - want) <= 1e-9 + 1e-6 * Math.abs(want))) {
        throw new CheckFailure(`${n} pairs, proxy gain ${gain.toFixed(3)}: yours ${got}, expected ${want.toFixed(6)}`);
      }
    }
    return "15 sets of correlated scores on different scales, correlations from -0.2 to 0.9";
  }, print);
}
