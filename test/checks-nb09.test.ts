// The checks of notebook 09's exercises must pass the library's answer, fail each plausible wrong answer, and say
// NOT DONE for an untouched stub.
import { describe, it } from "node:test";
import { notDone } from "../lib/notebook/exercise";
import { type BestOfNDistExercise, checkBestOfNDistribution, checkFitBon, checkPeak, checkRegressional, type FitBonExercise, type PeakExercise, type RegressionalExercise } from "../lib/notebook/checks/nb09";
import { assertCheckDiscriminates } from "./helpers";

function bonDist(o: { powerOfProb?: boolean; sortedInput?: boolean; nMinusOne?: boolean } = {}): BestOfNDistExercise {
  return (probs, rewards, n) => {
    const m = o.nMinusOne ? n - 1 : n;
    if (o.powerOfProb) { // pi(k)^n renormalised: "all n draws are k"
      const w = probs.map((p) => p ** m), z = w.reduce((a, b) => a + b, 0);
      return w.map((x) => x / z);
    }
    const order = o.sortedInput ? probs.map((_, i) => i) : rewards.map((_, i) => i).sort((a, b) => rewards[a] - rewards[b]);
    const out = new Array<number>(probs.length).fill(0);
    let below = 0;
    for (const k of order) { out[k] = (below + probs[k]) ** m - below ** m; below += probs[k]; }
    return out;
  };
}

function fitBon(o: { noIntercept?: boolean; swapSign?: boolean; quadraticOnly?: boolean } = {}): FitBonExercise {
  return (d, gain) => {
    let s11 = 0, s12 = 0, s22 = 0, s1y = 0, s2y = 0;
    d.forEach((x, i) => { const f1 = x, f2 = x * x; s11 += f1 * f1; s12 += f1 * f2; s22 += f2 * f2; s1y += f1 * gain[i]; s2y += f2 * gain[i]; });
    if (o.quadraticOnly) return { alpha: 0, beta: -s2y / s22 };
    if (o.noIntercept) return { alpha: s1y / s11, beta: 0 }; // drops the d^2 term
    const det = s11 * s22 - s12 * s12;
    const a = (s1y * s22 - s2y * s12) / det, b = (s1y * s12 - s2y * s11) / det;
    return o.swapSign ? { alpha: a, beta: -b } : { alpha: a, beta: b };
  };
}

function peak(o: { rlWithoutMinusOne?: boolean; bonWithoutHalf?: boolean; noInfinity?: boolean } = {}): PeakExercise {
  return (form, alpha, beta) => {
    if (beta <= 1e-12 && !o.noInfinity) return Infinity;
    if (form === "bon") return o.bonWithoutHalf ? alpha / beta : alpha / (2 * beta);
    return o.rlWithoutMinusOne ? Math.exp(alpha / beta) : Math.exp(alpha / beta - 1);
  };
}

describe("lib/notebook/checks/nb09", () => {
  it("09.1 best-of-n distribution: passes the answer, fails pi^n, the input order, n - 1", () => {
    assertCheckDiscriminates(checkBestOfNDistribution, bonDist(), {
      "pi(k)^n renormalised": bonDist({ powerOfProb: true }),
      "outcomes in input order, not by reward": bonDist({ sortedInput: true }),
      "F^(n-1)": bonDist({ nMinusOne: true }),
    }, () => notDone());
  });
  it("09.2 least squares: passes the answer, fails a one-term fit and a sign flip", () => {
    assertCheckDiscriminates(checkFitBon, fitBon(), {
      "alpha only": fitBon({ noIntercept: true }),
      "beta with the wrong sign": fitBon({ swapSign: true }),
      "beta only": fitBon({ quadraticOnly: true }),
    }, () => notDone());
  });
  it("09.3 peak: passes the answer, fails a missing -1, a missing 1/2, no Infinity without a peak", () => {
    assertCheckDiscriminates(checkPeak, peak(), {
      "RL: exp(alpha / beta)": peak({ rlWithoutMinusOne: true }),
      "BoN: alpha / beta": peak({ bonWithoutHalf: true }),
      "a finite peak for beta <= 0": peak({ noInfinity: true }),
    }, () => notDone());
  });
  it("09.4 regressional gain: passes cov / var(proxy) x gain, fails the correlation alone, the gain itself, var(gold) in the denominator", () => {
    const stats = (s: number[], g: number[]) => {
      const ms = s.reduce((a, b) => a + b, 0) / s.length, mg = g.reduce((a, b) => a + b, 0) / g.length;
      const cov = s.reduce((a, x, i) => a + (x - ms) * (g[i] - mg), 0), vs = s.reduce((a, x) => a + (x - ms) ** 2, 0), vg = g.reduce((a, x) => a + (x - mg) ** 2, 0);
      return { cov, vs, vg };
    };
    const right: RegressionalExercise = (s, g, gain) => { const t = stats(s, g); return (t.cov / t.vs) * gain; };
    assertCheckDiscriminates(checkRegressional, right, {
      "the correlation times the gain": (s, g, gain) => { const t = stats(s, g); return (t.cov / Math.sqrt(t.vs * t.vg)) * gain; },
      "the proxy gain itself": (_s, _g, gain) => gain,
      "the slope of proxy on gold": (s, g, gain) => { const t = stats(s, g); return (t.cov / t.vg) * gain; },
    }, () => notDone());
  });
});
