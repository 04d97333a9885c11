// The checks of notebook 06's exercises 06.2 and 06.3 (06.1 is tested in test/exercise.test.ts) pass the library's
// answer, fail plausible wrong answers, and report a stub.
import { describe, it } from "node:test";
import { notDone } from "../lib/notebook/exercise";
import { checkRewardToGo, checkTdErrors, type RewardToGoExercise, type TdExercise } from "../lib/notebook/checks/nb06";
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
