import { before, describe, it } from "node:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { loadConfig } from "../lib/core/config";
import { Labeller } from "../lib/reward/labeller";
import { GPT } from "../lib/lm/model";
import { Completion, PreferenceData, labelPairs, parseCsv } from "../lib/reward/preferences";
import { applyMissingEosPenalty, clipScores, normalizeScores, postprocessScores, scoreStats, squashScores } from "../lib/reward/postprocess";
import { bestThreshold, logisticThreshold, valThreshold, calibrationBins, pearson, thresholdAccuracy, worstErrors } from "../lib/reward/evaluate";
import { splitAccuracy } from "../lib/reward/reward-model";
import { bradleyTerryLoss, pairwiseAccuracy } from "../lib/reward/bradley-terry";
import { ensureRewardModel } from "../lib/pipeline/stages";
import { readRewardScoreStats } from "../lib/pipeline/reward-model";
import { rewardBatches, scoreCompletions, trainGroups, trainRewardModel } from "../lib/reward/reward-model";
import { Rng } from "../lib/core/rng";
import { rewardScores } from "../lib/lm/rollout";
import { BOS, EOS, Tokenizer } from "../lib/lm/tokenizer";
import { assertClose } from "./helpers";

const num = (x: tf.Tensor): number => x.dataSync()[0];

before(async () => {
  await initBackend();
});

describe("Bradley-Terry loss", () => {
  it("mean of -log sigmoid(r_chosen - r_rejected) on numbers", () => {
    // margins 2, 0, -2: ln(1 + e^-2) = 0.1269280, ln 2 = 0.6931472, ln(1 + e^2) = 2.1269280
    const loss = bradleyTerryLoss(tf.tensor1d([2, 0, -1]), tf.tensor1d([0, 0, 1]));
    assertClose([num(loss)], [(0.126928 + 0.6931472 + 2.126928) / 3]);
  });

  it("is numerically stable for huge margins", () => {
    assertClose([num(bradleyTerryLoss(tf.tensor1d([-100]), tf.tensor1d([100])))], [200], 1e-3);
    assertClose([num(bradleyTerryLoss(tf.tensor1d([100]), tf.tensor1d([-100])))], [0], 1e-6);
  });

  it("gradient w.r.t. the chosen score is -(1 - sigmoid(margin)) / n", () => {
    const rejected = tf.tensor1d([0, 0, 1]);
    const g = tf.grad((c: tf.Tensor) => bradleyTerryLoss(c as tf.Tensor1D, rejected))(tf.tensor1d([2, 0, -1]));
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    assertClose(g.dataSync(), [2, 0, -2].map((m) => -(1 - sig(m)) / 3));
  });

  it("rejects mismatched lengths", () => {
    assert.throws(() => bradleyTerryLoss(tf.tensor1d([1, 2]), tf.tensor1d([1])), /lengths differ, 2 vs 1/);
  });

  it("pairwise accuracy counts a tie as half", () => {
    assertClose([num(pairwiseAccuracy(tf.tensor1d([1, 2, 3, 4]), tf.tensor1d([0, 3, 3, 1])))], [2.5 / 4]);
  });
});

describe("score post-processing (config ppo.reward)", () => {
  it("scoreStats: mean and population std", () => {
    const s = scoreStats([1, 2, 3, 4]);
    assertClose([s.mean, s.std], [2.5, Math.sqrt(1.25)], 1e-12);
  });

  it("normalize, squash 2 tanh(x/2), clip, missing-EOS penalty, each on numbers", () => {
    assertClose(normalizeScores(tf.tensor1d([3, -1, 1]), { mean: 1, std: 2 }).dataSync(), [1, -1, 0]);
    assertClose(squashScores(tf.tensor1d([0, 2, -10, 0.01])).dataSync(), [0, 2 * Math.tanh(1), 2 * Math.tanh(-5), 0.01]);
    assertClose(clipScores(tf.tensor1d([-3, 0.5, 2]), 1.5).dataSync(), [-1.5, 0.5, 1.5]);
    assertClose(applyMissingEosPenalty(tf.tensor1d([1, 1]), tf.tensor1d([1, 0]), -1).dataSync(), [1, 0]);
  });

  it("postprocessScores applies normalize -> penalty -> squash -> clip", () => {
    const opts = { normalize: true, squash: true, clip: 1.5, missing_eos_penalty: -1 };
    // normalised: (3-1)/2 = 1, (7-1)/2 = 3; penalty on the second (no EOS): 1, 2; squash: 2 tanh(0.5), 2 tanh(1);
    // clip 1.5: 0.9242343, 1.5
    const out = postprocessScores(tf.tensor1d([3, 7]), tf.tensor1d([1, 0]), opts, { mean: 1, std: 2 });
    assertClose(out.dataSync(), [2 * Math.tanh(0.5), 1.5]);
  });

  it("with every option off the scores pass through (as a new tensor)", () => {
    const scores = tf.tensor1d([3, -7]);
    const out = postprocessScores(scores, tf.tensor1d([0, 0]), { normalize: false, squash: false, clip: null, missing_eos_penalty: null });
    assert.deepEqual(Array.from(out.dataSync()), [3, -7]);
    assert.notEqual(out, scores);
  });

  it("accepts the typed ppo.reward section of the shipped configs", () => {
    for (const file of ["config/course.yaml", "config/smoke.yaml"]) {
      const opts = loadConfig(file).ppo.reward;
      const out = postprocessScores(tf.tensor1d([0.4, -0.2]), tf.tensor1d([1, 0]), opts, { mean: 0.1, std: 0.5 });
      assert.deepEqual(out.shape, [2]);
      assert.ok(Array.from(out.dataSync()).every(Number.isFinite));
    }
  });

  it("normalize without stats is an error that names the option", () => {
    const opts = { normalize: true, squash: false, clip: null, missing_eos_penalty: null };
    assert.throws(() => postprocessScores(tf.tensor1d([1]), tf.tensor1d([1]), opts), /ppo.reward.normalize/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The reward model

const tok = new Tokenizer("char", []); // one token per byte
const tinyConfig = { vocab_size: tok.vocabSize, context: 32, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 };

function comp(group: number, prompt: string, text: string, gold: number, eos = true): Completion {
  return { group, prompt, text, gold, promptIds: [BOS, ...tok.encode(prompt)], responseIds: [...tok.encode(text), ...(eos ? [EOS] : [])], eos };
}

/** Hand-made preference data: completions with given gold scores, groups of k, pairs labelled noiselessly. */
function handData(groups: { prompt: string; texts: [string, number][] }[], heldout: string[]): PreferenceData {
  const completions = groups.flatMap((g, i) => g.texts.map(([t, gold]) => comp(i, g.prompt, t, gold)));
  const k = groups[0].texts.length;
  return { completions, pairs: labelPairs(completions, k, new Labeller(Infinity, 1), new Set(heldout)), beta: 10 };
}

describe("reward model scores", () => {
  it("are read at the last real token, whatever the padding of the row", () => {
    const rm = new GPT(tinyConfig, { seed: 5, head: "reward" });
    const completions = [
      comp(0, "a", " good film", 0), // long response
      comp(0, "the long prompt", " ok", 0), // long prompt, short response
      comp(1, "hi", " meh", 0, false), // no EOS: scored at its last sampled token
    ];
    // Reference: each row alone, with no padding at all, read at its last position by hand.
    const alone = completions.map((c) => {
      const ids = [...c.promptIds, ...c.responseIds];
      return tf.tidy(() => {
        const s = rm.scalar(rm.hiddenStates(tf.tensor2d([ids], [1, ids.length], "int32")));
        return s.dataSync()[ids.length - 1];
      });
    });
    // The three together, packed end to end into batch rows (lib/lm/packing.ts).
    const together = scoreCompletions(rm, completions);
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(together[i] - alone[i]) < 1e-5, `row ${i}: ${together[i]} vs ${alone[i]}`);
    // The rollout layout: prompts LEFT-padded to P, responses RIGHT-padded to T, and garbage (token 37, "%") in every
    // padded position: the same scores.
    const P = Math.max(...completions.map((c) => c.promptIds.length)), T = Math.max(...completions.map((c) => c.responseIds.length)) + 2;
    const pad = (ids: number[], n: number, left: boolean) => (left ? [...Array(n - ids.length).fill(37), ...ids] : [...ids, ...Array(n - ids.length).fill(37)]);
    const ones = (k: number, n: number, left: boolean) => pad(Array(k).fill(1), n, left).map((v) => (v === 37 ? 0 : v));
    const rollout = {
      queries: tf.tensor2d(completions.map((c) => pad(c.promptIds, P, true)), undefined, "int32") as tf.Tensor2D,
      queryMask: tf.tensor2d(completions.map((c) => ones(c.promptIds.length, P, true))) as tf.Tensor2D,
      responses: tf.tensor2d(completions.map((c) => pad(c.responseIds, T, false)), undefined, "int32") as tf.Tensor2D,
      mask: tf.tensor2d(completions.map((c) => ones(c.responseIds.length, T, false))) as tf.Tensor2D,
    };
    assert.deepEqual(rollout.queryMask.arraySync()[0].slice(0, 2), [0, 0], "row 0 is left-padded");
    assert.deepEqual(rollout.mask.arraySync()[1].slice(-2), [0, 0], "row 1 is right-padded");
    assertClose(rewardScores(rm, rollout).dataSync(), alone, 1e-5);
    // Sanity: the score at the token before the last is a different number (the position matters).
    const ids0 = [...completions[0].promptIds, ...completions[0].responseIds];
    const before = tf.tidy(() => rm.scalar(rm.hiddenStates(tf.tensor2d([ids0], [1, ids0.length], "int32"))).dataSync()[ids0.length - 2]);
    assert.ok(Math.abs(before - alone[0]) > 1e-4);
    tf.dispose(Object.values(rollout));
    rm.dispose();
  });
});

describe("reward model evaluation helpers", () => {
  it("pearson on numbers", () => {
    // x = 1,2,3; y = 2,4,7: sxy = 5, sxx = 2, syy = 114/9
    assertClose([pearson([1, 2, 3], [2, 4, 7])], [5 / Math.sqrt((2 * 114) / 9)], 1e-12);
    assertClose([pearson([1, 2, 3], [3, 2, 1])], [-1], 1e-12);
  });

  it("logisticThreshold recovers the cut of a known logistic, stays between separable classes, refuses a falling one", () => {
    const rng = new Rng(4);
    const s: number[] = [], y: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const x = 3 * rng.next() - 1; // uniform on [-1, 2]; P(1 | x) = sigmoid(4 (x - 0.7))
      s.push(x);
      y.push(rng.next() < 1 / (1 + Math.exp(-4 * (x - 0.7))) ? 1 : 0);
    }
    assert.ok(Math.abs(logisticThreshold(s, y) - 0.7) < 0.06, `${logisticThreshold(s, y)}`);
    const t = logisticThreshold([0.1, 0.2, 0.3, 0.9, 1.0, 1.1], [0, 0, 0, 1, 1, 1]);
    assert.ok(t > 0.3 && t < 0.9, `separable: ${t}`);
    assert.throws(() => logisticThreshold([1, 2, 3, 4], [1, 1, 0, 0]), /do not rise with the score/);
    // valThreshold: the logistic cut when the labels rise with the score, else the accuracy-maximising one
    assert.equal(valThreshold(s, y), logisticThreshold(s, y));
    assert.equal(valThreshold([1, 2, 3, 4], [1, 1, 0, 0]), bestThreshold([1, 2, 3, 4], [1, 1, 0, 0]).threshold);
  });

  it("bestThreshold picks the accuracy-maximising cut on the given labels; thresholdAccuracy applies it", () => {
    // sorted: 0.1 (neg), 0.35 (pos), 0.4 (neg), 0.8 (pos): the first best cut is between 0.1 and 0.35
    const fit = bestThreshold([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
    assertClose([fit.threshold, fit.accuracy], [0.225, 0.75], 1e-12);
    assert.equal(thresholdAccuracy([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.225), 0.75);
    assert.equal(thresholdAccuracy([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.6), 0.75);
    // separable data: accuracy 1
    assert.equal(bestThreshold([3, -1, 2, -5], [1, 0, 1, 0]).accuracy, 1);
  });

  it("splitAccuracy, calibrationBins and worstErrors on hand-made scores", () => {
    const d = handData(
      [
        { prompt: "A", texts: [[" x", 0.5], [" y", 0.1]] }, // chosen 0 (gold 0.5)
        { prompt: "B", texts: [[" z", -0.2], [" w", 0.3]] }, // chosen 3
        { prompt: "C", texts: [[" u", 0.2], [" v", 0.2]] }, // tie: the labeller draws
      ],
      ["A", "B", "C"],
    );
    // scores: right on A (margin 1), wrong on B (margin -2), tie on C
    const scores = new Map([[0, 1], [1, 0], [2, 2], [3, 0], [4, 0.5], [5, 0.5]]);
    assertClose([splitAccuracy(d, scores, "heldout")], [(1 + 0 + 0.5) / 3], 1e-12);
    assert.ok(Number.isNaN(splitAccuracy(d, scores, "train")));
    // calibration, oriented by sampling order (a = first sampled): A: sigmoid(1) = 0.731, a chosen;
    // B: sigmoid(2) = 0.881, a rejected; C: sigmoid(0) = 0.5
    const bins = calibrationBins(d, scores, 10);
    assert.deepEqual(bins.map((x) => [x.lo, x.count]), [[0.5, 1], [0.7, 1], [0.8, 1]]);
    assertClose([bins[1].predicted, bins[1].observed, bins[1].labeller], [1 / (1 + Math.exp(-1)), 1, 1], 1e-12);
    assertClose([bins[2].predicted, bins[2].observed, bins[2].labeller], [1 / (1 + Math.exp(-2)), 0, 0], 1e-12);
    assertClose([bins[0].labeller], [0.5], 1e-12);
    // the one error against the gold order is B: it preferred " z" (gold -0.2) to " w" (gold 0.3)
    const errs = worstErrors(d, scores, 5);
    assert.equal(errs.length, 1);
    assert.deepEqual([errs[0].prompt, errs[0].preferred, errs[0].other, errs[0].reward_preferred, errs[0].reward_other], ["B", " z", " w", 2, 0]);
    assertClose([errs[0].p_labeller], [1 / (1 + Math.exp(-10 * (-0.2 - 0.3)))], 1e-12);
  });

  it("rewardBatches: every training group once per epoch, never a held-out one", () => {
    const groups = Array.from({ length: 10 }, (_, i) => ({ prompt: `p${i}`, texts: [[" a", 0.1], [" b", 0.2], [" c", 0.3]] as [string, number][] }));
    const d = handData(groups, ["p3", "p7"]);
    // k = 3: 3 pairs per group; batch_size 6 -> 2 groups per step; 8 training groups -> 4 steps per epoch
    const steps = rewardBatches(d, { epochs: 2, batch_size: 6, completions_per_prompt: 3 }, new Rng(1));
    assert.equal(steps.length, 8);
    for (const e of [steps.slice(0, 4), steps.slice(4)]) {
      assert.deepEqual(e.flat().sort((a, b) => a - b), [0, 1, 2, 4, 5, 6, 8, 9]);
      for (const s of e) assert.equal(s.length, 2);
    }
    assert.notDeepEqual(steps.slice(0, 4), steps.slice(4), "reshuffled each epoch");
    const g4 = trainGroups(d).get(4)!;
    assert.deepEqual(g4.completions, [12, 13, 14]);
    assert.equal(g4.pairs.length, 3);
  });
});

describe("trainRewardModel", () => {
  it("learns a preference it can see (positive vs negative words) and logs the promised metrics", () => {
    const pos: [string, number][] = [[" good", 0.44], [" great", 0.62], [" nice", 0.42], [" fun", 0.51]];
    const neg: [string, number][] = [[" bad", -0.54], [" awful", -0.46], [" sad", -0.48], [" dull", -0.36]];
    const rng = new Rng(9);
    const groups = Array.from({ length: 60 }, (_, i) => ({
      prompt: `it was${" ".repeat(i % 3)}${String.fromCharCode(97 + (i % 26))}`,
      texts: rng.shuffle([rng.choice(pos), rng.choice(neg)]) as [string, number][],
    }));
    const heldout = [...new Set(groups.map((g) => g.prompt))].slice(0, 10);
    const d = handData(groups, heldout);
    const rm = new GPT(tinyConfig, { seed: 2, head: "reward" });
    const c = loadConfig("config/smoke.yaml").rm;
    const cfg = { ...c, epochs: 8, batch_size: 8, lr: 0.003, warmup_steps: 2, eval_every: 10, completions_per_prompt: 2 };
    const n0 = tf.memory().numTensors;
    const steps: number[] = [];
    const metrics = trainRewardModel(rm, d, cfg, { rng: new Rng(4), onStep: (s) => steps.push(s) });
    assert.ok(tf.memory().numTensors - n0 <= 2 * rm.trainableVariables().length, "no per-step tensor leak");
    assert.deepEqual(metrics.columns, ["step", "loss", "accuracy", "lr", "grad_norm", "heldout_accuracy"]);
    assert.equal(steps.length, metrics.length);
    const loss = metrics.series("loss").y;
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    assert.ok(mean(loss.slice(-5)) < 0.5 * mean(loss.slice(0, 5)), `loss fell: ${mean(loss.slice(0, 5))} -> ${mean(loss.slice(-5))}`);
    const held = metrics.last("heldout_accuracy")!;
    assert.ok(held >= 0.9, `held-out accuracy ${held}`);
    assert.equal(metrics.series("heldout_accuracy").x.at(-1), metrics.length, "evaluated at the last step");
    rm.dispose();
  });
});

describe("ensureRewardModel (the stage, on smoke.yaml in a temporary folder)", () => {
  it("trains and writes pairs.csv, metrics.csv, summary.json and the checkpoint; loads it when the config matches", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rm-stage-"));
    try {
      const base = loadConfig("config/smoke.yaml");
      const cfg = { ...base, paths: { checkpoints: path.join(tmp, "ck"), runs: path.join(tmp, "runs") } };
      const quiet = { log: () => {} };
      const first = await ensureRewardModel(cfg, quiet);
      assert.equal(first.trained, true);
      assert.equal(first.model.head, "reward");
      const runs = path.join(tmp, "runs", "rm");
      const summary = JSON.parse(fs.readFileSync(path.join(runs, "summary.json"), "utf8"));
      for (const k of ["heldout_accuracy", "labeller_ceiling", "human_label_agreement", "seconds"]) assert.equal(typeof summary[k], "number", k);
      assert.ok(summary.labeller_ceiling >= 0.5 && summary.labeller_ceiling <= 1);
      assert.equal(fs.readFileSync(path.join(runs, "metrics.csv"), "utf8").split("\n")[0], "step,loss,accuracy,lr,grad_norm,heldout_accuracy");
      // every pair of each prompt's k samples, plus (smoke has rm.include_reference) k pairs per reference sentence,
      // plus (smoke has rm.review_sentences) every pair of each group of k real sentences
      const k = cfg.rm.completions_per_prompt;
      assert.equal(cfg.rm.include_reference, true);
      assert.ok(summary.reference_pairs > 0 && summary.reference_pairs % k === 0, `reference_pairs ${summary.reference_pairs}`);
      assert.ok(summary.reference_chosen_rate >= 0 && summary.reference_chosen_rate <= 1);
      assert.ok(cfg.rm.review_sentences > 0);
      assert.ok(summary.review_sentences > 0 && summary.review_sentences <= cfg.rm.review_sentences && summary.review_sentences % k === 0);
      assert.equal(summary.review_pairs, (summary.review_sentences / k) * (k * (k - 1)) / 2);
      const csvPairs = parseCsv(fs.readFileSync(path.join(runs, "pairs.csv"), "utf8")).slice(1);
      assert.equal(csvPairs.length, (cfg.rm.prompts * k * (k - 1)) / 2 + summary.reference_pairs + summary.review_pairs);
      assert.deepEqual(readRewardScoreStats(cfg), first.scoreStats);
      assert.ok(first.scoreStats.std > 0);

      const second = await ensureRewardModel(cfg, quiet);
      assert.equal(second.trained, false);
      assert.deepEqual(second.data, first.data, "pairs read back from pairs.csv");
      assert.deepEqual(second.scoreStats, first.scoreStats);
      const some = first.data!.completions.slice(0, 6);
      assertClose(scoreCompletions(second.model, some), Array.from(scoreCompletions(first.model, some)), 1e-6);
      second.model.dispose();

      const changed = { ...cfg, rm: { ...cfg.rm, lr: cfg.rm.lr * 2 } };
      const third = await ensureRewardModel(changed, quiet);
      assert.equal(third.trained, true, "an rm key changed: retrained");
      third.model.dispose();
      first.model.dispose();
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
