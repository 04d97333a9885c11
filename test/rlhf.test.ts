// The PPO update and the RLHF loop on tiny random models with a cheap reward (seconds, no checkpoints needed).
// The clipped loss, value loss, whitening and entropy against hand values are in test/ppo.test.ts.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import type { PpoConfig } from "../lib/core/config";
import { GPT } from "../lib/lm/model";
import { makeActorCritic, minibatchIndices, type ActorCritic, disposeActorCritic } from "../lib/rl/ppo-update";
import { distinctN, evaluatePolicy } from "../lib/rl/evaluate";
import { PPO_METRICS, PpoTrainer } from "../lib/rl/trainer";
import { type RewardFns } from "../lib/reward/reward-fns";
import { Rng } from "../lib/core/rng";
import { modelCfg, PROMPTS, shareOfE, smoke, tinyPpoCfg, tok } from "./tiny-ppo";

before(async () => {
  await initBackend();
});

/** smoke.yaml's ppo section with overrides (test/tiny-ppo.ts). */
const ppoCfg = tinyPpoCfg;

/** A cheap reward: the share of response tokens that are the letter "e" (test/tiny-ppo.ts). */
const cheapReward: RewardFns = shareOfE();

function setup(seed: number, ppo: PpoConfig, critic: "shared" | "separate" = "shared"): { ac: ActorCritic; trainer: PpoTrainer; sft: GPT; rm: GPT } {
  const sft = new GPT(modelCfg, { seed });
  const rm = new GPT(modelCfg, { seed: seed + 1, head: "reward" });
  const ac = makeActorCritic(sft, critic, rm);
  const trainer = new PpoTrainer({ ppo, ac, tok, reward: cheapReward, prompts: PROMPTS, seed });
  return { ac, trainer, sft, rm };
}

function teardown(s: ReturnType<typeof setup>): void {
  s.trainer.dispose();
  disposeActorCritic(s.ac);
  s.sft.dispose();
  s.rm.dispose();
}

const weightsOf = (m: GPT): Float32Array[] => m.trainableVariables().map((v) => v.dataSync() as Float32Array);

describe("PPO loop on tiny random models", () => {
  it("over 50 iterations tf.memory().numTensors is flat after warm-up", () => {
    // small batches keep it to seconds; every code path of an iteration runs (sampling, scoring, 2 minibatch steps)
    const s = setup(11, ppoCfg({ iterations: 50, rollout_batch: 4, max_new_tokens: 4, epochs: 1, minibatches: 2 }));
    const counts: number[] = [];
    for (let i = 0; i < 50; i++) {
      s.trainer.step();
      counts.push(tf.memory().numTensors);
    }
    // Warm-up: the first step creates nothing lasting beyond AdamW's slots, which exist from construction.
    const after = counts.slice(2);
    assert.ok(after.every((c) => c === after[0]), `numTensors drifted: ${counts.join(",")}`);
    assert.equal(s.trainer.log.length, 50);
    // every row has exactly the documented columns, every value a finite number
    for (const r of s.trainer.log.rows()) {
      assert.deepEqual(Object.keys(r), ["step", ...PPO_METRICS]);
      for (const k of PPO_METRICS) assert.ok(Number.isFinite(r[k]), `${k} = ${r[k]} at step ${r.step}`);
    }
    teardown(s);
  });

  it("the same seed gives the same first 5 metric rows (time columns aside); another seed does not", () => {
    const rows = (seed: number) => {
      const s = setup(seed, ppoCfg({ iterations: 5 }));
      for (let i = 0; i < 5; i++) s.trainer.step();
      const out = s.trainer.log.rows().map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith("time/"))));
      teardown(s);
      return out;
    };
    const a = rows(5), b = rows(5), c = rows(6);
    assert.equal(a.length, 5);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.ok(Object.keys(a[0]).includes("objective/kl") && Object.keys(a[0]).includes("policy/clipfrac_avg"));
  });

  it("first iteration: policy == reference, so the KL is exactly 0; one epoch of one minibatch has ratio 1 and clipfrac 0", () => {
    const s = setup(3, ppoCfg({ epochs: 1, minibatches: 1 }));
    const row = s.trainer.step();
    assert.ok(row["objective/kl"] === 0, `KL ${row["objective/kl"]}`); // === : -0 counts as 0
    assert.ok(row["objective/non_score_reward"] === 0);
    // the only step sees the old log-probs recomputed with the same weights and dropout off: ratio exactly 1
    assert.ok(Math.abs(row["val/ratio"] - 1) < 1e-6, `ratio ${row["val/ratio"]}`);
    assert.ok(row["val/ratio_var"] < 1e-10);
    assert.equal(row["policy/clipfrac_avg"], 0);
    assert.ok(row["policy/approxkl_avg"] < 1e-10);
    teardown(s);
  });

  it("ppo.dropout = true makes the first ratio differ from 1 (model dropout 0.1); false keeps it exactly 1", () => {
    const on = setup(3, ppoCfg({ epochs: 1, minibatches: 1, dropout: true }));
    const r = on.trainer.step();
    assert.ok(r["val/ratio_var"] > 1e-6, `ratio var ${r["val/ratio_var"]}`);
    teardown(on);
  });

  it("later iterations: positive KL (k3, never negative per token), ratios near 1, the reference never changes", () => {
    // k1's batch mean can dip below 0 on 8 samples (it is unbiased, not non-negative); k3 >= 0 token by token.
    const s = setup(4, ppoCfg({ iterations: 8, kl: { ...smoke.ppo.kl, estimator: "k3" } }));
    const refBefore = weightsOf(s.ac.ref);
    const policyBefore = weightsOf(s.ac.policy);
    const rows: Record<string, number>[] = [];
    for (let i = 0; i < 8; i++) rows.push(s.trainer.step());
    const refAfter = weightsOf(s.ac.ref);
    refBefore.forEach((w, i) => assert.deepEqual(refAfter[i], w, `reference variable ${i} changed`));
    assert.ok(weightsOf(s.ac.policy).some((w, i) => w.some((x, j) => x !== policyBefore[i][j])), "the policy did not move");
    const late = rows.slice(1);
    assert.ok(late.every((r) => r["objective/kl"] > 0), `KL ${late.map((r) => r["objective/kl"])}`);
    assert.ok(late.every((r) => Math.abs(r["val/ratio"] - 1) < 0.2));
    for (const r of rows) {
      assert.equal(r.kl_coef, smoke.ppo.kl.coef);
      assert.ok(r["val/num_eos_tokens"] >= 0 && r["val/num_eos_tokens"] <= 8);
      assert.ok(r.response_length >= 1 && r.response_length <= 6);
      assert.equal(r["policy/update_steps"], 4);
    }
    teardown(s);
  });

  it("early stop on approx-KL: the first minibatch (ratio 1) never stops, the second one does", () => {
    const s = setup(4, ppoCfg({ early_stop_kl: 1e-12, epochs: 3, minibatches: 2 }));
    const row = s.trainer.step();
    assert.equal(row["policy/update_steps"], 2);
    assert.equal(row["policy/early_stopped"], 1);
    teardown(s);
  });

  it("separate critic: initialised from the reward model (trunk and head), trained alongside the policy", () => {
    const s = setup(8, ppoCfg({ critic: "separate" }), "separate");
    const critic = s.ac.critic!;
    const rmVars = s.rm.namedVariables();
    for (const [name, v] of critic.namedVariables()) {
      const src = rmVars.get(name.replace("value_head.", "reward_head."))!;
      assert.deepEqual(v.dataSync(), src.dataSync(), name);
    }
    assert.equal(s.ac.policy.head, "value"); // present but unused with a separate critic
    const before = weightsOf(critic);
    s.trainer.step();
    assert.ok(weightsOf(critic).some((w, i) => w.some((x, j) => x !== before[i][j])), "the critic did not move");
    teardown(s);
  });

  it("shared critic: the value head starts at zero", () => {
    const s = setup(9, ppoCfg());
    for (const [name, v] of s.ac.policy.namedVariables()) if (name.startsWith("value_head.")) assert.ok(v.dataSync().every((x) => x === 0));
    teardown(s);
  });

  it("separate critic, critic_init sft: the SFT model's trunk, the value head at zero, the reward model unused", () => {
    const sft = new GPT(modelCfg, { seed: 12 });
    const rm = new GPT(modelCfg, { seed: 13, head: "reward" });
    const ac = makeActorCritic(sft, "separate", rm, undefined, "sft");
    const sftVars = sft.namedVariables();
    for (const [name, v] of ac.critic!.namedVariables()) {
      if (name.startsWith("value_head.")) assert.ok(v.dataSync().every((x) => x === 0), name);
      else assert.deepEqual(v.dataSync(), sftVars.get(name)!.dataSync(), name);
    }
    disposeActorCritic(ac);
    sft.dispose();
    rm.dispose();
  });
});

describe("minibatches and evaluation", () => {
  it("minibatchIndices: a seeded permutation cut into near-equal parts covering every row once", () => {
    const parts = minibatchIndices(10, 3, new Rng(1));
    assert.deepEqual(parts.map((p) => p.length), [3, 3, 4]);
    assert.deepEqual(parts.flat().sort((a, b) => a - b), [...Array(10).keys()]);
    assert.deepEqual(minibatchIndices(10, 3, new Rng(1)), parts);
  });

  it("distinctN: distinct word n-grams over all n-grams, n-grams never cross texts", () => {
    assert.equal(distinctN(["good good good good"]), 1 / 3); // "good good" x3
    assert.equal(distinctN(["a b c", "a b"]), 2 / 3); // "a b", "b c", "a b"
    assert.equal(distinctN(["one", ""]), 0);
    assert.equal(distinctN(["a b c d"], 1), 1);
  });

  it("evaluatePolicy: the reference against itself has KL exactly 0; the same seed answers the same prompts identically", () => {
    const sft = new GPT(modelCfg, { seed: 21 });
    const other = new GPT(modelCfg, { seed: 22 });
    const o = { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1, seed: 99, batch: 3 };
    const a = evaluatePolicy(sft, sft, tok, PROMPTS, cheapReward, o);
    const b = evaluatePolicy(sft, sft, tok, PROMPTS, cheapReward, o);
    assert.deepEqual(a.completions, b.completions);
    assert.equal(a.completions.length, PROMPTS.length);
    assert.ok(a.kls.every((k) => k === 0));
    const c = evaluatePolicy(other, sft, tok, PROMPTS, cheapReward, o);
    assert.ok(c.kl > 0);
    assert.ok(Math.abs(a.gold - a.golds.reduce((s, g) => s + g, 0) / a.golds.length) < 1e-12);
    sft.dispose();
    other.dispose();
  });
});
