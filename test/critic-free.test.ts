// Critic-free advantages inside the PPO loop (ppo.advantage rloo | grpo | reinforce_pp, ppo.group_size), on tiny
// random models with the share-of-"e" reward (test/tiny-ppo.ts). The estimators' math is in test/advantages.test.ts.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { grpoAdvantages, rlooAdvantages } from "../lib/rl/advantages";
import { initBackend } from "../lib/core/backend";
import { ConfigError, loadConfig, type PpoConfig, stageConfigHash, STAGE_SECTIONS, withOverrides } from "../lib/core/config";
import { sequenceKl } from "../lib/rl/kl";
import { GPT } from "../lib/lm/model";
import { buildBuffer, collectExperience, disposeActorCritic, disposeBuffer, hasValueFunction, makeActorCritic, usesCritic } from "../lib/rl/ppo-update";
import { PPO_METRICS, PpoTrainer } from "../lib/rl/trainer";
import { Rng } from "../lib/core/rng";
import { disposeRollout, sampleRollout } from "../lib/lm/rollout";
import { modelCfg, PROMPTS, shareOfE, smoke, tinyPpoCfg, tok } from "./tiny-ppo";

before(async () => {
  await initBackend();
});

function setup(seed: number, ppo: PpoConfig) {
  const sft = new GPT(modelCfg, { seed });
  const ac = makeActorCritic(sft, usesCritic(ppo.advantage) ? ppo.critic : "none");
  const trainer = new PpoTrainer({ ppo, ac, tok, reward: shareOfE(), prompts: PROMPTS, seed });
  return {
    sft, ac, trainer,
    dispose: () => {
      trainer.dispose();
      disposeActorCritic(ac);
      sft.dispose();
    },
  };
}

const VALUE_METRICS = ["loss/value_avg", "val/clipfrac_avg", "val/explained_variance", "val/return_mean"];

describe("critic-free PPO on tiny random models", () => {
  for (const [advantage, k] of [["rloo", 4], ["grpo", 4], ["reinforce_pp", 1], ["reinforce_pp", 2]] as const) {
    it(`${advantage}, group_size ${k}: 3 iterations, no critic, finite losses, value metrics NaN, no tensor leak`, () => {
      const s = setup(7, tinyPpoCfg({ advantage, group_size: k, iterations: 3 }));
      assert.equal(s.ac.critic, null);
      assert.equal(s.ac.policy.head, "none");
      assert.ok(!hasValueFunction(s.ac));
      assert.ok(![...s.ac.policy.namedVariables().keys()].some((n) => n.startsWith("value_head")), "no value head was built");
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) {
        s.trainer.step();
        counts.push(tf.memory().numTensors);
      }
      assert.equal(counts[2], counts[1], `numTensors drifted: ${counts}`);
      for (const r of s.trainer.log.rows()) {
        assert.deepEqual(Object.keys(r), ["step", ...PPO_METRICS], "the same columns as GAE");
        for (const m of PPO_METRICS) {
          if (VALUE_METRICS.includes(m)) assert.ok(Number.isNaN(r[m]), `${m} = ${r[m]}: no critic, nothing measured`);
          else assert.ok(Number.isFinite(r[m]), `${m} = ${r[m]} at step ${r.step}`);
        }
        assert.equal(r["policy/update_steps"], 4);
      }
      s.dispose();
    });
  }

  it("group_size k: each iteration answers rollout_batch / k prompts, each k times in a row, and moves on", () => {
    const s = setup(1, tinyPpoCfg({ advantage: "rloo", group_size: 4 }));
    assert.deepEqual(s.trainer.promptsAt(0), [...Array(4).fill(PROMPTS[0]), ...Array(4).fill(PROMPTS[1])]);
    assert.deepEqual(s.trainer.promptsAt(1), [...Array(4).fill(PROMPTS[2]), ...Array(4).fill(PROMPTS[3])]);
    assert.deepEqual(s.trainer.promptsAt(4), s.trainer.promptsAt(0)); // 8 prompts, 2 an iteration: cycles after 4
    s.dispose();
    const g = setup(1, tinyPpoCfg());
    assert.deepEqual(g.trainer.promptsAt(1), PROMPTS.map((_, j) => PROMPTS[(8 + j) % PROMPTS.length]), "group_size 1: as before");
    g.dispose();
  });

  it("the trainer refuses an actor-critic that does not match ppo.advantage, and a group_size that does not fit", () => {
    const sft = new GPT(modelCfg, { seed: 2 });
    const withCritic = makeActorCritic(sft, "shared");
    const none = makeActorCritic(sft, "none");
    const make = (ppo: PpoConfig, ac: typeof none) => () => new PpoTrainer({ ppo, ac, tok, reward: shareOfE(), prompts: PROMPTS, seed: 1 });
    assert.throws(make(tinyPpoCfg({ advantage: "grpo", group_size: 4 }), withCritic), /ppo\.advantage = grpo uses no critic.*makeActorCritic\(sft, "none"\)/);
    assert.throws(make(tinyPpoCfg(), none), /ppo\.advantage = gae needs a value function/);
    assert.throws(make(tinyPpoCfg({ advantage: "rloo", group_size: 1 }), none), /needs ppo\.group_size >= 2/);
    assert.throws(make(tinyPpoCfg({ advantage: "rloo", group_size: 3 }), none), /group_size = 3 does not divide ppo\.rollout_batch = 8/);
    disposeActorCritic(withCritic);
    disposeActorCritic(none);
    sft.dispose();
  });

  it("RLOO raises the share of 'e' within 60 iterations", () => {
    const s = setup(3, tinyPpoCfg({ advantage: "rloo", group_size: 4, rollout_batch: 16, iterations: 60, lr: 3e-3, kl: { ...smoke.ppo.kl, coef: 0.01 } }));
    const gold: number[] = [];
    for (let i = 0; i < 60; i++) gold.push(s.trainer.step()["objective/gold"]);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(gold.slice(0, 5)), last = mean(gold.slice(-5));
    assert.ok(last > first + 0.1, `share of e: first 5 iterations ${first.toFixed(3)}, last 5 ${last.toFixed(3)}`);
    s.dispose();
  });
});

describe("the critic-free buffer", () => {
  /** One rollout of 8 rows (2 prompts x 4 samples) from a random policy, 1 iteration ahead so the KL is not 0. */
  function experience() {
    const sft = new GPT(modelCfg, { seed: 5 });
    const ac = makeActorCritic(sft, "none");
    // nudge the policy away from the reference so the KL terms are not all 0
    for (const v of ac.policy.trainableVariables().slice(0, 2)) tf.tidy(() => v.assign(tf.add(v, tf.mul(0.05, tf.randomNormal(v.shape, 0, 1, "float32", 9)))));
    const prompts = [...Array(4).fill(PROMPTS[0]), ...Array(4).fill(PROMPTS[1])];
    const r = sampleRollout(ac.policy, tok, prompts, { maxNewTokens: 6, temperature: 1, rng: new Rng(4) });
    const exp = collectExperience(ac, r, 1);
    disposeRollout(r);
    return { exp, done: () => { disposeActorCritic(ac); sft.dispose(); } };
  }
  const scores = () => tf.tensor1d([0.1, 0.9, 0.4, 0.4, -1, 2, 0.5, 0.3]);

  it("RLOO: the KL folded into the sequence reward, one advantage on every real token, 0 at padding", () => {
    const { exp, done } = experience();
    const sc = scores();
    const mask = exp.tokens.mask.arraySync() as number[][];
    const beta = 0.2;
    const want = tf.tidy(() => {
      const kl = tf.mul(tf.sub(exp.logprobs, exp.refLogprobs), exp.tokens.mask) as tf.Tensor2D; // k1
      return rlooAdvantages(tf.reshape(tf.sub(sc, tf.mul(beta, sequenceKl(kl, exp.tokens.mask))), [2, 4]) as tf.Tensor2D).reshape([8]).arraySync() as number[];
    });
    const buf = buildBuffer(exp, sc, { klCoef: beta, estimator: "k1", gamma: 1, lam: 0.95, whitenAdvantages: true, advantage: "rloo", groupSize: 4 });
    assert.equal(buf.valued, false);
    assert.equal(buf.klLoss, null);
    const adv = buf.advantages.arraySync() as number[][];
    adv.forEach((row, b) => row.forEach((a, t) => {
      if (mask[b][t] > 0) assert.ok(Math.abs(a - want[b]) < 1e-5, `row ${b} token ${t}: ${a} vs ${want[b]}`);
      else assert.equal(a, 0);
    }));
    assert.ok(Math.abs(want.slice(0, 4).reduce((x, y) => x + y, 0)) < 1e-5, "a group's advantages sum to 0");
    disposeBuffer(buf);
    sc.dispose();
    done();
  });

  it("GRPO: the score alone makes the advantage; the KL is left to the loss (coefficient and estimator in the buffer)", () => {
    const { exp, done } = experience();
    const sc = scores();
    const want = tf.tidy(() => grpoAdvantages(tf.reshape(sc, [2, 4]) as tf.Tensor2D, 1e-4).reshape([8]).arraySync() as number[]);
    const buf = buildBuffer(exp, sc, { klCoef: 0.3, estimator: "k1", gamma: 1, lam: 0.95, whitenAdvantages: true, advantage: "grpo", groupSize: 4, advantageEps: 1e-4, lossEstimator: "k2" });
    assert.deepEqual(buf.klLoss, { coef: 0.3, estimator: "k2" });
    const adv = buf.advantages.arraySync() as number[][];
    adv.forEach((row, b) => assert.ok(Math.abs(row[0] - want[b]) < 1e-5, `row ${b}: ${row[0]} vs ${want[b]}`));
    // rows 2 and 3 tie at 0.4 inside a group whose mean is 0.45: the same advantage, finite
    assert.ok(Math.abs(adv[2][0] - adv[3][0]) < 1e-7 && Number.isFinite(adv[2][0]));
    disposeBuffer(buf);
    sc.dispose();
    done();
  });

  it("refuses rows that are not whole groups", () => {
    const { exp, done } = experience();
    const sc = scores();
    const n0 = tf.memory().numTensors;
    assert.throws(() => buildBuffer(exp, sc, { klCoef: 0.1, estimator: "k1", gamma: 1, lam: 0.95, whitenAdvantages: true, advantage: "rloo", groupSize: 3 }), /8 rows cannot be cut into groups of ppo\.group_size = 3/);
    assert.equal(tf.memory().numTensors, n0, "a refused buffer leaks nothing");
    tf.dispose([exp.tokens.queries, exp.tokens.queryMask, exp.tokens.responses, exp.tokens.mask, exp.logprobs, exp.refLogprobs, exp.values, exp.entropy, sc]);
    done();
  });
});

describe("config: ppo.advantage and ppo.group_size", () => {
  const base = loadConfig("config/smoke.yaml");
  it("rloo and grpo need group_size >= 2; group_size must divide rollout_batch; the messages name the key", () => {
    assert.throws(() => withOverrides(base, ["ppo.advantage=rloo"]), (e: unknown) => e instanceof ConfigError && /ppo\.group_size: 1 with ppo\.advantage = rloo; expected at least 2/.test(e.message));
    assert.throws(() => withOverrides(base, ["ppo.advantage=grpo", "ppo.group_size=3"]), /ppo\.group_size: 3 does not divide ppo\.rollout_batch = 8/);
    assert.throws(() => withOverrides(base, ["ppo.advantage=ppo"]), /ppo\.advantage: got "ppo".*allowed: gae \| rloo \| grpo \| reinforce_pp/);
    assert.throws(() => withOverrides(base, ["ppo.kl.loss_estimator=k1"]), /ppo\.kl\.loss_estimator/);
    assert.equal(withOverrides(base, ["ppo.advantage=grpo", "ppo.group_size=4"]).ppo.group_size, 4);
    assert.equal(withOverrides(base, ["ppo.advantage=reinforce_pp"]).ppo.advantage, "reinforce_pp"); // needs no groups
  });
  it("defaults are gae with group_size 1; at those the new keys leave the PPO checkpoint hash as it was", () => {
    assert.equal(base.ppo.advantage, "gae");
    assert.equal(base.ppo.group_size, 1);
    const { advantage: _a, group_size: _g, advantage_eps: _e, ...old } = base.ppo;
    const { loss_estimator: _l, ...oldKl } = base.ppo.kl;
    const before = { ...base, ppo: { ...old, kl: oldKl } } as unknown as typeof base; // a config from before the keys
    assert.equal(stageConfigHash(base, STAGE_SECTIONS.ppo), stageConfigHash(before, STAGE_SECTIONS.ppo));
    assert.notEqual(stageConfigHash(withOverrides(base, ["ppo.advantage=reinforce_pp"]), STAGE_SECTIONS.ppo), stageConfigHash(base, STAGE_SECTIONS.ppo));
  });
});
