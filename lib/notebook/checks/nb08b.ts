// Checks of notebook 08b's exercises (lib/notebook/exercise.ts explains the pattern): naming the bug behind an unnamed
// run's
// curves, and a function that flags a PPO metrics row as suspicious.
import { check, CheckFailure } from "../exercise";
import { Rng } from "../../core/rng";

/**
 * The bug runs of notebook 08b, named by the config switch that reproduces them (ppo.bugs.<name>; kl_estimator is
 * ppo.kl.estimator: k3 as the per-token reward instead of k1).
 */
export const BUG_RUNS = [
  "logprob_temperature", "single_pass", "ref_sync_every", "whiten_adds_mean", "pad_is_eos", "dropout_on",
  "kl_estimator", "value_head_random", "unmasked_advantages",
] as const;
export type BugRun = (typeof BUG_RUNS)[number];

/** What to look at again, per bug, when a guess is wrong (a hint, not the answer). */
const LOOK_AT: Record<BugRun, string> = {
  logprob_temperature: "the first iteration's objective/kl (a policy that has not moved yet) and val/ratio",
  single_pass: "val/ratio_var and policy/clipfrac_avg at every iteration, and policy/update_steps",
  ref_sync_every: "the shape of objective/kl over the iterations",
  whiten_adds_mean: "loss/policy_avg next to the healthy run's, with val/advantage_std still 1: advantages shifted, not rescaled",
  pad_is_eos: "objective/scores_raw at iteration 1 against a healthy run with the same seed (the same samples and gold, another proxy score: read one token early), then val/num_eos_tokens",
  dropout_on: "the first iteration's objective/kl and val/ratio_var, with val/ratio itself",
  kl_estimator: "whether objective/kl can ever dip below 0 and how fast it climbs, with loss/policy_avg and val/advantage_std healthy",
  value_head_random: "val/explained_variance and loss/value_avg in the first iterations",
  unmasked_advantages: "val/advantage_std (whitened advantages should have std 1 over real tokens), with loss/policy_avg",
};

/**
 * The bugs exercise 08b.1 draws from: the quiet ones, with no first-iteration alarm (KL and ratio stay healthy), whose
 * signatures overlap on the metrics the exercise charts, so that naming one takes several metrics read together.
 */
export const MYSTERY_BUGS = ["whiten_adds_mean", "kl_estimator", "pad_is_eos", "unmasked_advantages"] as const satisfies readonly BugRun[];

/** The default seed of exercise 08b.1's draw: fixed, so the answer does not depend on the config in use. */
export const MYSTERY_SEED = 8021;

/** The bug behind exercise 08b.1's unnamed run, drawn by an RNG with this seed among MYSTERY_BUGS. */
export function mysteryBug(seed = MYSTERY_SEED): BugRun {
  return new Rng(seed).choice(MYSTERY_BUGS);
}

/** 08b.1: the learner's answer (a function, so the stub can be notDone()) against the run's true bug, shown after it. */
export function checkWhichBug(yours: () => string, truth: BugRun, print?: (line: string) => void, seed = MYSTERY_SEED): void {
  check("08b.1", "which bug is it?", () => {
    const a = String(yours()).trim();
    const drawn = `the draw (seed ${seed}) was ${truth}, among ${MYSTERY_BUGS.join(", ")}`;
    if (a === "healthy") throw new CheckFailure(`it is not healthy: one switch is on; ${drawn}: look again at ${LOOK_AT[truth]}`);
    if (!(BUG_RUNS as readonly string[]).includes(a)) throw new CheckFailure(`"${a}" is not one of the runs' names: ${BUG_RUNS.join(", ")}`);
    if (a !== truth) throw new CheckFailure(`not ${a}: ${drawn}; its sign is in ${LOOK_AT[truth]} (another seed draws another mystery)`);
    return `right: ${drawn}; its sign is in ${LOOK_AT[truth]}`;
  }, print);
}

// ---------------------------------------------------------------------------------------------------------------
// 08b.3: a prediction, graded by a measurement

/**
 * 08b.3: the learner predicts whether ppo.bugs.value_head_random changes a run with the separate critic (true: it
 * does); the notebook measures it (two runs, same seed, the switch off and on) and the check grades the prediction.
 */
export function checkCriticPrediction(yours: () => boolean, measuredChange: number, print?: (line: string) => void): void {
  check("08b.3", "does value_head_random act on the separate critic?", () => {
    const a = yours();
    if (typeof a !== "boolean") throw new CheckFailure(`expected true (it changes the run) or false (it does not), got ${typeof a}`);
    const changed = measuredChange > 1e-6;
    const measured = `the largest difference between the two runs' metrics was ${measuredChange.toExponential(2)}`;
    if (a !== changed) {
      throw new CheckFailure(`you predicted it ${a ? "changes" : "does not change"} the run, but ${measured}. ` +
        "Which network does the switch initialise, and which network gives the values when ppo.critic is separate?");
    }
    return `${measured}: ${changed ? "it acts" : "the switch is inert here: it randomises the policy's value head, which only the shared critic reads"}`;
  }, print);
}

// ---------------------------------------------------------------------------------------------------------------
// 08b.2: flagging a metrics row

/** The flags of exercise 08b.2, each a symptom of the notebook's table. */
export const FLAGS = ["negative_kl", "ratio_off", "single_step", "no_clipping", "kl_reset"] as const;
export type Flag = (typeof FLAGS)[number];

/** A metrics row of PpoTrainer.step with its iteration number (1-based), as MetricsLog.rows() gives it. */
export type MetricsRow = Record<string, number>;

/**
 * The reference answer of 08b.2: which symptoms a metrics row shows.
 *   negative_kl  objective/kl < -0.01 (a KL is >= 0; the k1 batch mean dips below 0 by noise, not by more than that)
 *   ratio_off    |val/ratio - 1| > 0.05 (the update's mean ratio pi/pi_old should stay within a few % of 1)
 *   single_step  policy/update_steps = 1 (one step on fresh data: ratio exactly 1, clipping cannot act)
 *   no_clipping  policy/clipfrac_avg = 0 with more than one step (the policy never reached the clip range)
 *   kl_reset     objective/kl exactly 0 after the first iteration (only the first policy equals the reference)
 */
export function suspiciousFlags(row: MetricsRow): Flag[] {
  const flags: Flag[] = [];
  if (row["objective/kl"] < -0.01) flags.push("negative_kl");
  if (Math.abs(row["val/ratio"] - 1) > 0.05) flags.push("ratio_off");
  if (row["policy/update_steps"] === 1) flags.push("single_step");
  if (row["policy/clipfrac_avg"] === 0 && row["policy/update_steps"] > 1) flags.push("no_clipping");
  if (row.step > 1 && row["objective/kl"] === 0) flags.push("kl_reset");
  return flags;
}

/** One row per edge (the first iteration's KL of 0, one step with clipfrac 0), then random rows on both sides of every threshold. */
function testRows(rng: Rng, n: number): MetricsRow[] {
  const pick = <T>(xs: T[]) => xs[rng.int(xs.length)];
  const healthy = { step: 1, "objective/kl": 0, "val/ratio": 1, "val/ratio_var": 1e-4, "policy/update_steps": 4, "policy/clipfrac_avg": 0.01, "policy/approxkl_avg": 1e-3, response_length: 9.5 };
  const edges = [healthy, { ...healthy, "policy/update_steps": 1, "policy/clipfrac_avg": 0 }, { ...healthy, step: 2, "val/ratio": 0.93 }];
  return edges.concat(Array.from({ length: n - edges.length }, () => ({
    step: pick([1, 2, 7]),
    "objective/kl": pick([0, -0.005, -0.02, -1.3, 0.004, 2.5]),
    "val/ratio": pick([1, 1.03, 0.97, 1.08, 0.92, 1.5, 0.6]),
    "val/ratio_var": pick([0, 1e-4, 0.3]),
    "policy/update_steps": pick([1, 2, 4]),
    "policy/clipfrac_avg": pick([0, 0.004, 0.2]),
    "policy/approxkl_avg": pick([0, 1e-3]),
    response_length: pick([1, 9.5]),
  })));
}

/** 08b.2: the learner's flags (any order, no repeats) against suspiciousFlags on 60 random rows. */
export function checkSuspicious(yours: (row: MetricsRow) => string[], print?: (line: string) => void): void {
  check("08b.2", "flag a suspicious metrics row", () => {
    const rng = new Rng(802);
    for (const row of testRows(rng, 60)) {
      const got = yours({ ...row });
      if (!Array.isArray(got)) throw new CheckFailure(`expected an array of flags, got ${typeof got}`);
      const unknown = got.filter((f) => !(FLAGS as readonly string[]).includes(f));
      if (unknown.length) throw new CheckFailure(`unknown flag(s) ${unknown.join(", ")}; the flags are ${FLAGS.join(", ")}`);
      const want = suspiciousFlags(row);
      const missing = want.filter((f) => !got.includes(f));
      const extra = got.filter((f) => !(want as string[]).includes(f));
      if (missing.length || extra.length || new Set(got).size !== got.length) {
        const shown = Object.entries(row).map(([k, v]) => `${k} ${v}`).join(", ");
        throw new CheckFailure(`row {${shown}}: expected [${want.join(", ")}], yours [${got.join(", ")}]` +
          (missing.length ? `; missing ${missing.join(", ")}` : "") + (extra.length ? `; not expected ${extra.join(", ")}` : ""));
      }
    }
    return "agrees with the reference on 60 rows: edge cases and random values on both sides of every threshold";
  }, print);
}
