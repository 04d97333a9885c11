// lib/notebook/checks/nb02: each check passes the right answer, fails plausible wrong ones, and reports a stub as NOT DONE.
import { describe, it } from "node:test";
import { notDone } from "../lib/notebook/exercise";
import { BpcExercise, checkBitsPerChar, checkLrSchedule, checkSftMask, LrExercise, SftMaskExercise } from "../lib/notebook/checks/nb02";
import { assertCheckDiscriminates } from "./helpers";

/** The mask with the rule "target s[t+1] counts when keep(t + 1, ids, promptLen)". */
const maskBy = (keep: (target: number, ids: number[], promptLen: number) => boolean): SftMaskExercise => (ids, promptLens) => {
  const T = Math.max(...ids.map((s) => s.length)) - 1;
  return ids.map((s, r) => Array.from({ length: T }, (_, t) => (t + 1 < s.length && keep(t + 1, s, promptLens[r]) ? 1 : 0)));
};

describe("lib/notebook/checks/nb02", () => {
  it("02.1 SFT mask: passes response + EOS targets, fails an off-by-one at the prompt, dropping EOS, and counting the prompt", () => {
    assertCheckDiscriminates(checkSftMask, maskBy((j, _s, p) => j >= p), {
      "off by one: counts the last prompt token as a target": maskBy((j, _s, p) => j >= p - 1),
      "leaves EOS out": maskBy((j, s, p) => j >= p && j < s.length - 1),
      "counts the prompt too (plain LM loss)": maskBy(() => true),
      "counts padding": (ids, p) => maskBy((j, _s, q) => j >= q)(ids, p).map((row, r) => row.map((v, t) => (t + 1 >= ids[r].length ? 1 : v))),
    }, () => notDone());
  });

  it("02.2 lr schedule: passes lrAt's formula, fails warmup from 0, decay to 0, and progress over all steps", () => {
    const cosine = (step: number, s: Parameters<LrExercise>[1], o: { warmFromZero?: boolean; toZero?: boolean; span?: number } = {}) => {
      if (s.warmup_steps > 0 && step < s.warmup_steps) return (s.lr * (o.warmFromZero ? step : step + 1)) / s.warmup_steps;
      const lrMin = o.toZero ? 0 : s.lr * s.min_lr_ratio;
      const span = o.span ?? Math.max(1, s.steps - 1 - s.warmup_steps);
      const progress = Math.min(1, Math.max(0, (step - s.warmup_steps) / span));
      return lrMin + 0.5 * (s.lr - lrMin) * (1 + Math.cos(Math.PI * progress));
    };
    const right: LrExercise = (i, s) => cosine(i, s);
    assertCheckDiscriminates(checkLrSchedule, right, {
      "warmup starts at 0 (step / warmup)": (i, s) => cosine(i, s, { warmFromZero: true }),
      "decays to 0, ignoring min_lr_ratio": (i, s) => cosine(i, s, { toZero: true }),
      "progress over steps - warmup (never reaches the minimum)": (i, s) => cosine(i, s, { span: s.steps - s.warmup_steps }),
    }, () => notDone());
  });

  it("02.3 bits per character: passes pooled nats / ln 2 / characters, fails nats, per token, a mean of ratios and a sign slip", () => {
    const nats = (lp: number[]) => -lp.reduce((a, b) => a + b, 0);
    const chars = (ts: string[]) => ts.reduce((a, t) => a + t.length, 0);
    const right: BpcExercise = (lp, ts) => lp.map(nats).reduce((a, b) => a + b, 0) / Math.LN2 / chars(ts);
    assertCheckDiscriminates(checkBitsPerChar, right, {
      "nats per character (no ln 2)": (lp, ts) => lp.map(nats).reduce((a, b) => a + b, 0) / chars(ts),
      "bits per token": (lp) => lp.map(nats).reduce((a, b) => a + b, 0) / Math.LN2 / lp.reduce((a, l) => a + l.length, 0),
      "the mean of each sentence's bpc": (lp, ts) => lp.reduce((a, l, i) => a + nats(l) / Math.LN2 / ts[i].length, 0) / lp.length,
      "log-probs not negated": (lp, ts) => -right(lp, ts),
    }, () => notDone());
  });
});
