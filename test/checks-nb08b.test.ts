// The checks of notebook 08b's exercises: each passes the right answer, fails plausible wrong ones, and reports an
// untouched stub as NOT DONE.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { notDone, VERDICT_PATTERN } from "../lib/notebook/exercise";
import { BUG_RUNS, checkCriticPrediction, checkSuspicious, checkWhichBug, FLAGS, MYSTERY_BUGS, mysteryBug, suspiciousFlags, type BugRun, type MetricsRow } from "../lib/notebook/checks/nb08b";
import { assertCheckDiscriminates } from "./helpers";

describe("08b.1 which bug is it?", () => {
  it("the mystery is one of the quiet bugs, the same on every call with one seed; other seeds reach every one of them", () => {
    assert.ok((MYSTERY_BUGS as readonly string[]).includes(mysteryBug()));
    assert.ok(MYSTERY_BUGS.every((b) => (BUG_RUNS as readonly string[]).includes(b)));
    assert.equal(mysteryBug(), mysteryBug());
    assert.notEqual(mysteryBug(), "single_pass"); // its ratio stuck at 1 names it from one chart
    const drawn = new Set(Array.from({ length: 40 }, (_, i) => mysteryBug(8000 + i)));
    assert.deepEqual([...drawn].sort(), [...MYSTERY_BUGS].sort());
  });

  it("the verdict shows the drawn bug and its seed after the answer, right or wrong", () => {
    for (const guess of ["whiten_adds_mean", "pad_is_eos"]) {
      const lines: string[] = [];
      checkWhichBug(() => guess, "whiten_adds_mean", (l) => lines.push(l), 8021);
      assert.match(lines[0], /seed 8021\) was whiten_adds_mean/);
    }
  });

  it("the right name passes (spaces around it forgiven); another run's name, 'healthy' or a made-up name fail", () => {
    const truth: BugRun = "single_pass";
    const run = (f: () => string, print: (l: string) => void) => checkWhichBug(f, truth, print);
    assertCheckDiscriminates(run, () => " single_pass ", {
      "another bug": () => "dropout_on",
      healthy: () => "healthy",
      "not a switch": () => "ratio_bug",
      "empty": () => "",
    }, () => notDone());
  });

  it("every run can be the truth: its own name passes and every other fails", () => {
    for (const truth of BUG_RUNS) {
      for (const guess of BUG_RUNS) {
        const lines: string[] = [];
        checkWhichBug(() => guess, truth, (l) => lines.push(l));
        assert.equal(VERDICT_PATTERN.exec(lines[0])?.[2], guess === truth ? "PASS" : "FAIL", lines[0]);
      }
    }
  });
});

describe("08b.2 flag a suspicious metrics row", () => {
  const base: MetricsRow = { step: 3, "objective/kl": 1.2, "val/ratio": 1.001, "val/ratio_var": 1e-4, "policy/update_steps": 4, "policy/clipfrac_avg": 0.01 };

  it("the reference: a healthy row has no flag; each symptom raises its own", () => {
    assert.deepEqual(suspiciousFlags(base), []);
    assert.deepEqual(suspiciousFlags({ ...base, "objective/kl": -0.3 }), ["negative_kl"]);
    assert.deepEqual(suspiciousFlags({ ...base, "val/ratio": 0.9 }), ["ratio_off"]);
    assert.deepEqual(suspiciousFlags({ ...base, "policy/update_steps": 1, "policy/clipfrac_avg": 0 }), ["single_step"]);
    assert.deepEqual(suspiciousFlags({ ...base, "policy/clipfrac_avg": 0 }), ["no_clipping"]);
    assert.deepEqual(suspiciousFlags({ ...base, "objective/kl": 0 }), ["kl_reset"]);
    assert.deepEqual(suspiciousFlags({ ...base, step: 1, "objective/kl": 0 }), []); // the first policy is the reference
    assert.equal(FLAGS.length, 5);
  });

  it("the reference passes; wrong thresholds, a missing abs, a missing condition fail", () => {
    const wrong = (edit: (row: MetricsRow, flags: string[]) => string[]) => (row: MetricsRow) => edit(row, suspiciousFlags(row));
    assertCheckDiscriminates(checkSuspicious, (row: MetricsRow) => suspiciousFlags(row).reverse(), {
      "KL < 0 instead of < -0.01": wrong((r, f) => (r["objective/kl"] < 0 && !f.includes("negative_kl") ? [...f, "negative_kl"] : f)),
      "ratio without abs": wrong((r, f) => (r["val/ratio"] - 1 <= 0.05 ? f.filter((x) => x !== "ratio_off") : f)),
      "no_clipping also on a single step": wrong((r, f) => (r["policy/clipfrac_avg"] === 0 && !f.includes("no_clipping") ? [...f, "no_clipping"] : f)),
      "kl_reset at step 1 too": wrong((r, f) => (r["objective/kl"] === 0 && !f.includes("kl_reset") ? [...f, "kl_reset"] : f)),
      "a flag twice": wrong((_r, f) => (f.length ? [...f, f[0]] : f)),
      "nothing flagged": () => [],
      "a made-up flag": () => ["weird"],
    }, () => notDone());
  });
});

describe("08b.3 does value_head_random act on the separate critic?", () => {
  it("graded by the measurement: the prediction that matches it passes, the other fails, a non-boolean fails", () => {
    // measured: no difference (the separate critic does not read the policy's value head)
    assertCheckDiscriminates((f: () => boolean, print) => checkCriticPrediction(f, 0, print), () => false, {
      "it changes the run": () => true,
      "a string": () => "no" as unknown as boolean,
    }, () => notDone());
    // had the measurement found a difference, the other answer would be the right one
    assertCheckDiscriminates((f: () => boolean, print) => checkCriticPrediction(f, 0.37, print), () => true, {
      "it does not change the run": () => false,
    }, () => notDone());
  });
});
