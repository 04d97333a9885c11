// The checks of notebook 11's exercises must pass the library's answer, fail each plausible wrong answer, and say
// NOT DONE for an untouched stub.
import { describe, it } from "node:test";
import { notDone } from "../lib/notebook/exercise";
import { checkExactReward, checkFracZeroStd, checkPassAtK, type ExactRewardExercise, type PassAtKExercise, type ZeroStdExercise } from "../lib/notebook/checks/nb11";
import { assertCheckDiscriminates } from "./helpers";

const passAtK = (o: { plugIn?: boolean; factorials?: boolean; noComplement?: boolean; offByOne?: boolean } = {}): PassAtKExercise => (n, c, k) => {
  if (o.plugIn) return 1 - (1 - c / n) ** k;
  if (o.factorials) {
    const f = (m: number) => { let r = 1; for (let i = 2; i <= m; i++) r *= i; return r; };
    const C = (a: number, b: number) => (b > a ? 0 : f(a) / (f(b) * f(a - b)));
    return 1 - C(n - c, k) / C(n, k);
  }
  if (n - c < k) return o.noComplement ? 0 : 1;
  let prod = 1;
  for (let i = n - c + (o.offByOne ? 0 : 1); i <= n; i++) prod *= 1 - k / i;
  return o.noComplement ? prod : 1 - prod;
};

const reward = (o: { noReverse?: boolean; numeric?: boolean; ignoreEos?: boolean; trim?: boolean; parseInt?: boolean } = {}): ExactRewardExercise => (prompt, completion, eos) => {
  const m = /^(\d+)\+(\d+)=$/.exec(prompt)!;
  const sum = String(Number(m[1]) + Number(m[2]));
  const answer = o.noReverse ? sum : sum.split("").reverse().join("");
  if (!eos && !o.ignoreEos) return 0;
  const text = o.trim ? completion.trim() : completion;
  if (o.parseInt) return (/^\d+/.exec(text)?.[0] ?? "") === answer ? 1 : 0; // the leading digits, as parseInt reads them: junk after them passes
  if (!/^[0-9]+$/.test(text)) return 0;
  if (o.numeric) return Number(text.split("").reverse().join("")) === Number(sum) ? 1 : 0;
  return text === answer ? 1 : 0;
};

const zeroStd = (o: { complement?: boolean; zerosOnly?: boolean; wholeBatch?: boolean } = {}): ZeroStdExercise => (rewards, k) => {
  if (o.wholeBatch) return rewards.every((r) => r === rewards[0]) ? 1 : 0;
  let zero = 0, groups = 0;
  for (let g = 0; g + k <= rewards.length; g += k) {
    const x = rewards.slice(g, g + k);
    groups++;
    const same = o.zerosOnly ? x.every((r) => r === 0) : x.every((r) => r === x[0]);
    if (same) zero++;
  }
  return o.complement ? 1 - zero / groups : zero / groups;
};

describe("lib/notebook/checks/nb11", () => {
  it("11.1 pass@k: passes the answer, fails the plug-in estimate, factorials that overflow, no complement, an extra factor", () => {
    assertCheckDiscriminates(checkPassAtK, passAtK(), {
      "plug-in 1 - (1 - c/n)^k": passAtK({ plugIn: true }),
      "binomials from factorials": passAtK({ factorials: true }),
      "C(n-c,k)/C(n,k) without 1 -": passAtK({ noComplement: true }),
      "product from n - c": passAtK({ offByOne: true }),
    }, () => notDone());
  });
  it("11.2 exact reward: passes the answer, fails the unreversed sum, a numeric compare, no EOS check, trimming, parseInt", () => {
    assertCheckDiscriminates(checkExactReward, reward(), {
      "compared with the sum unreversed": reward({ noReverse: true }),
      "numbers compared, not texts": reward({ numeric: true }),
      "EOS ignored": reward({ ignoreEos: true }),
      "spaces trimmed": reward({ trim: true }),
      "leading digits only (junk after them passes)": reward({ parseInt: true }),
    }, () => notDone());
  });
  it("11.3 frac_reward_zero_std: passes the answer, fails the complement, all-zero groups only, the whole batch", () => {
    assertCheckDiscriminates(checkFracZeroStd, zeroStd(), {
      "share with a spread": zeroStd({ complement: true }),
      "all-wrong groups only": zeroStd({ zerosOnly: true }),
      "the whole batch as one group": zeroStd({ wholeBatch: true }),
    }, () => notDone());
  });
});
