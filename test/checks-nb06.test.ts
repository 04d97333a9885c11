// The checks of notebook 06's exercises 06.2, 06.3 and 06.4 (06.1 is tested in test/exercise.test.ts) pass the
// library's answer, fail plausible wrong answers, and report a stub.
import { describe, it } from "node:test";
import { notDone } from "../lib/notebook/exercise";
import { checkFirstAdvantage, checkRewardToGo, checkTdErrors, type RewardToGoExercise, type TdExercise } from "../lib/notebook/checks/nb06";
import { assertCheckDiscriminates } from "./helpers";

describe("lib/notebook/checks/nb06", () => {
  it("06.2 TD errors: passes the library's, fails one that bootstraps from padding, one without gamma, one nonzero at padding", () => {
    const right: TdExercise = (r, v, m, gamma) => r.map((row, i) => row.map((x, t) => {
      if (m[i][t] === 0) return 0;
      const next = t + 1 < row.length && m[i][t + 1] === 1 ? v[i][t + 1] : 0;
      return x + gamma * next - v[i][t];
    }));
    assertCheckDiscriminates(checkTdErrors, right, {
      "bootstraps from the value at padding": (r, v, m, gamma) => r.map((row, i) => row.map((x, t) => {
        if (m[i][t] === 0) return 0;
        const next = t + 1 < row.length ? v[i][t + 1] : 0;
        return x + gamma * next - v[i][t];
      })),
      "forgets gamma": (r, v, m) => right(r, v, m, 1),
      "garbage at padding": (r, v, m, gamma) => r.map((row, i) => row.map((x, t) => {
        if (m[i][t] === 0) return x - v[i][t];
        return right(r, v, m, gamma)[i][t];
      })),
    }, () => notDone());
  });

  it("06.3 reward-to-go: passes the library's, fails one that sums padding, one without discount, one that sums the past", () => {
    const right: RewardToGoExercise = (r, m, gamma) => r.map((row, i) => {
      const g = row.map(() => 0);
      let acc = 0;
      for (let t = row.length - 1; t >= 0; t--) {
        if (m[i][t] === 0) continue;
        acc = row[t] + gamma * acc;
        g[t] = acc;
      }
      return g;
    });
    assertCheckDiscriminates(checkRewardToGo, right, {
      "sums the padding's rewards": (r, m, gamma) => {
        const all = right(r, r.map((row) => row.map(() => 1)), gamma);
        return all.map((row, i) => row.map((x, t) => (m[i][t] ? x : 0)));
      },
      "forgets the discount": (r, m) => right(r, m, 1),
      "reward so far instead of to go": (r, m) => r.map((row, i) => {
        let acc = 0;
        return row.map((x, t) => (m[i][t] ? (acc += x) : 0));
      }),
    }, () => notDone());
  });
});

describe("lib/notebook/checks/nb06 06.4", () => {
  it("06.4 first advantage: passes (0.20, -0.43), fails no baseline, V(s_4) kept after the end, a forgotten V(s_1), and lambda 0.95", () => {
    // sum r = 0.80; lambda 1: 0.80 - V(s_0) = 0.20; lambda 0: r_0 + V(s_1) - V(s_0) = -0.03 + 0.2 - 0.6 = -0.43
    assertCheckDiscriminates(checkFirstAdvantage, () => ({ lambda1: 0.2, lambda0: -0.43 }), {
      "the reward to go, no baseline": () => ({ lambda1: 0.8, lambda0: -0.43 }),
      "V after the last token taken as V(s_4)": () => ({ lambda1: 0.9, lambda0: -0.43 }),
      "lambda 0 without V(s_1)": () => ({ lambda1: 0.2, lambda0: -0.63 }),
      "lambda 0.95 instead of 1": () => {
        const r = [-0.03, 0.01, -0.02, -0.04, 0.88], v = [0.6, 0.2, 0.9, 0.5, 0.7];
        let a = 0;
        for (let t = 4; t >= 0; t--) a = r[t] + (t < 4 ? v[t + 1] : 0) - v[t] + 0.95 * a;
        return { lambda1: a, lambda0: -0.43 };
      },
    }, () => notDone());
  });
});
