// The checks of notebook 10's exercises must pass the library's answer, fail each plausible wrong answer, and say
// NOT DONE for an untouched stub.
import { describe, it } from "node:test";
import { notDone } from "../lib/notebook/exercise";
import { checkDpo, checkEffectiveKl, checkGrpo, checkRloo, type DpoExercise, type EffectiveKlExercise, type GroupAdvantageExercise } from "../lib/notebook/checks/nb10";
import { assertCheckDiscriminates } from "./helpers";

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const rloo = (o: { includeSelf?: boolean } = {}): GroupAdvantageExercise => (rs) => rs.map((row) => {
  const sum = row.reduce((a, b) => a + b, 0);
  return row.map((r) => r - (o.includeSelf ? sum / row.length : (sum - r) / (row.length - 1)));
});

const grpo = (o: { population?: boolean; noEps?: boolean; batchStats?: boolean } = {}): GroupAdvantageExercise => (rs) => {
  const stats = (xs: number[]) => {
    const m = mean(xs);
    const ss = xs.reduce((a, x) => a + (x - m) ** 2, 0);
    return { m, s: Math.sqrt(ss / (o.population ? xs.length : xs.length - 1)) };
  };
  const all = stats(rs.flat());
  return rs.map((row) => {
    const { m, s } = o.batchStats ? all : stats(row);
    return row.map((r) => (o.noEps ? (s === 0 ? 0 : (r - m) / s) : (r - m) / (s + 1e-4)));
  });
};

const dpo = (o: { noBeta?: boolean; naive?: boolean; sum?: boolean; swapRef?: boolean } = {}): DpoExercise => (pc, pr, rc, rr, beta) => {
  const b = o.noBeta ? 1 : beta;
  const losses = pc.map((_, i) => {
    const z = o.swapRef ? b * ((pc[i] - rr[i]) - (pr[i] - rc[i])) : b * ((pc[i] - rc[i]) - (pr[i] - rr[i]));
    if (o.naive) return -Math.log(1 / (1 + Math.exp(-z)));
    return Math.max(-z, 0) + Math.log1p(Math.exp(-Math.abs(z))); // softplus(-z)
  });
  return o.sum ? losses.reduce((a, c) => a + c, 0) : mean(losses);
};

describe("lib/notebook/checks/nb10", () => {
  it("10.1 RLOO: passes the answer, fails a baseline that includes the sample itself", () => {
    assertCheckDiscriminates(checkRloo, rloo(), { "mean of the whole group": rloo({ includeSelf: true }) }, () => notDone());
  });
  it("10.2 GRPO: passes the answer, fails the population std, batch statistics", () => {
    assertCheckDiscriminates(checkGrpo, grpo(), {
      "population std (n)": grpo({ population: true }),
      "batch mean and std": grpo({ batchStats: true }),
    }, () => notDone());
  });
  it("10.3 DPO: passes the answer, fails no beta, a naive log-sigmoid that overflows, a sum, swapped references", () => {
    assertCheckDiscriminates(checkDpo, dpo(), {
      "no beta": dpo({ noBeta: true }),
      "-log(sigmoid(z)) overflows": dpo({ naive: true }),
      "sum over pairs": dpo({ sum: true }),
      "references swapped": dpo({ swapRef: true }),
    }, () => notDone());
  });
  it("10.4 effective KL coefficient: passes beta (std + eps), fails beta / std, the population std, the variance, beta alone", () => {
    const eff = (o: { divide?: boolean; population?: boolean; variance?: boolean; plain?: boolean } = {}): EffectiveKlExercise => (rs, beta) => rs.map((row) => {
      const m = mean(row);
      const v = row.reduce((a, x) => a + (x - m) ** 2, 0) / (o.population ? row.length : row.length - 1);
      const s = (o.variance ? v : Math.sqrt(v)) + 1e-4;
      return o.plain ? beta : o.divide ? beta / s : beta * s;
    });
    assertCheckDiscriminates(checkEffectiveKl, eff(), {
      "beta / std": eff({ divide: true }),
      "population std (n)": eff({ population: true }),
      "the variance, not the std": eff({ variance: true }),
      "beta itself: the token mean does not matter, nor the std": eff({ plain: true }),
    }, () => notDone());
  });
});
