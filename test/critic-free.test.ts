// Critic-free advantages inside the PPO loop (ppo.advantage rloo | grpo | reinforce_pp, ppo.group_size), on tiny
// random models with the share-of-"e" reward (test/tiny-ppo.ts). The estimators' math is in test/advantages.test.ts.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { ConfigError, loadConfig, type PpoConfig, stageConfigHash, STAGE_SECTIONS, withOverrides } from "../lib/core/config";
import { GPT } from "../lib/lm/model";
import { buildBuffer, collectExperience, disposeActorCritic, disposeBuffer, hasValueFunction, makeActorCritic, ppoUpdate, usesCritic } from "../lib/rl/ppo-update";
import { CRITIC_FREE_METRICS, PPO_METRICS, PpoTrainer } from "../lib/rl/trainer";
import { AdamW } from "../lib/train/optim";
import { methodConfig } from "../lib/studies/compare";
import { sweepConfig } from "../lib/studies/study";
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
        assert.deepEqual(Object.keys(r), ["step", ...PPO_METRICS, ...CRITIC_FREE_METRICS], "GAE's columns, then the group reward spread");
        for (const m of PPO_METRICS) {
          if (VALUE_METRICS.includes(m)) assert.ok(Number.isNaN(r[m]), `${m} = ${r[m]}: no critic, nothing measured`);
          else assert.ok(Number.isFinite(r[m]), `${m} = ${r[m]} at step ${r.step}`);
        }
        assert.equal(r["policy/update_steps"], 4);
        if (k === 1) assert.ok(Number.isNaN(r.reward_std!) && Number.isNaN(r.frac_reward_zero_std!), "groups of one have no std");
        else {
          assert.ok(r.reward_std! >= 0 && Number.isFinite(r.reward_std!), `reward_std ${r.reward_std}`);
          assert.ok(r.frac_reward_zero_std! >= 0 && r.frac_reward_zero_std! <= 1, `frac_reward_zero_std ${r.frac_reward_zero_std}`);
        }
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
  function experience(nudge = 0.05) {
    const sft = new GPT(modelCfg, { seed: 5 });
    const ac = makeActorCritic(sft, "none");
    // nudge the policy away from the reference so the KL terms are not all 0
    for (const v of ac.policy.trainableVariables().slice(0, 2)) tf.tidy(() => v.assign(tf.add(v, tf.mul(nudge, tf.randomNormal(v.shape, 0, 1, "float32", 9)))));
    const prompts = [...Array(4).fill(PROMPTS[0]), ...Array(4).fill(PROMPTS[1])];
    const r = sampleRollout(ac.policy, tok, prompts, { maxNewTokens: 6, temperature: 1, rng: new Rng(4) });
    const exp = collectExperience(ac, r, 1);
    disposeRollout(r);
    return { exp, ac, done: () => { disposeActorCritic(ac); sft.dispose(); } };
  }
  const SCORES = [0.1, 0.9, 0.4, 0.4, -1, 2, 0.5, 0.3];
  const scores = () => tf.tensor1d(SCORES);
  /** The rollout as plain arrays, for expected values computed here without the library. */
  const arrays = (exp: ReturnType<typeof experience>["exp"]) => ({
    mask: exp.tokens.mask.arraySync() as number[][],
    logp: exp.logprobs.arraySync() as number[][],
    ref: exp.refLogprobs.arraySync() as number[][],
  });
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

  it("RLOO: the KL folded into the sequence reward, one advantage on every real token, 0 at padding", () => {
    const { exp, done } = experience();
    const sc = scores();
    const { mask, logp, ref } = arrays(exp);
    const beta = 0.2;
    // by hand: R_b = score_b - beta * sum_t (logp - ref) over real tokens (k1); A_b = R_b - mean of the 3 others of its group
    const R = SCORES.map((s, b) => s - beta * sum(mask[b].map((m, t) => (m > 0 ? logp[b][t] - ref[b][t] : 0))));
    const want = R.map((r, b) => {
      const g = Math.floor(b / 4) * 4;
      return r - (sum(R.slice(g, g + 4)) - r) / 3;
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
    // by hand: group [0.1, 0.9, 0.4, 0.4]: mean 0.45, deviations -0.35 0.45 -0.05 -0.05, unbiased var 0.3300 / 3 = 0.11;
    // group [-1, 2, 0.5, 0.3]: mean 0.45, deviations -1.45 1.55 0.05 -0.15, unbiased var 4.5300 / 3 = 1.51
    const s1 = Math.sqrt(0.11) + 1e-4, s2 = Math.sqrt(1.51) + 1e-4;
    const want = [-0.35 / s1, 0.45 / s1, -0.05 / s1, -0.05 / s1, -1.45 / s2, 1.55 / s2, 0.05 / s2, -0.15 / s2];
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

  it("GRPO with scale_rewards none (Dr. GRPO): the group-centred score, undivided", () => {
    const { exp, done } = experience();
    const sc = scores();
    const want = [-0.35, 0.45, -0.05, -0.05, -1.45, 1.55, 0.05, -0.15]; // deviations from the group means above
    const buf = buildBuffer(exp, sc, { klCoef: 0.3, estimator: "k1", gamma: 1, lam: 0.95, whitenAdvantages: true, advantage: "grpo", groupSize: 4, scaleRewards: "none" });
    (buf.advantages.arraySync() as number[][]).forEach((row, b) => assert.ok(Math.abs(row[0] - want[b]) < 1e-5, `row ${b}: ${row[0]} vs ${want[b]}`));
    disposeBuffer(buf);
    sc.dispose();
    done();
  });

  it("REINFORCE++: a per-token return-to-go (score - beta * the KL still to come), whitened over all real tokens", () => {
    const { exp, done } = experience();
    const sc = scores();
    const { mask, logp, ref } = arrays(exp);
    const beta = 0.2;
    // by hand: G_t = score - beta * sum_{s >= t} (logp_s - ref_s) (k1) on real tokens; whitened with the population
    // std over every real token of the batch, eps 1e-4
    const G: number[][] = mask.map((row, b) => row.map((m, t) => (m > 0 ? SCORES[b] - beta * sum(row.map((ms, u) => (u >= t && ms > 0 ? logp[b][u] - ref[b][u] : 0))) : NaN)));
    const real = G.flat().filter((g) => !Number.isNaN(g));
    const mean = sum(real) / real.length, std = Math.sqrt(sum(real.map((g) => (g - mean) ** 2)) / real.length);
    const buf = buildBuffer(exp, sc, { klCoef: beta, estimator: "k1", gamma: 1, lam: 0.95, whitenAdvantages: true, advantage: "reinforce_pp", groupSize: 1, advantageEps: 1e-4 });
    assert.equal(buf.valued, false);
    assert.equal(buf.klLoss, null);
    const adv = buf.advantages.arraySync() as number[][];
    let compared = 0;
    adv.forEach((row, b) => {
      const last = mask[b].lastIndexOf(1);
      row.forEach((a, t) => {
        if (mask[b][t] === 0) return assert.equal(a, 0, `padding at row ${b} token ${t}`);
        assert.ok(Math.abs(a - (G[b][t] - mean) / (std + 1e-4)) < 1e-4, `row ${b} token ${t}: ${a} vs ${(G[b][t] - mean) / (std + 1e-4)}`);
        // the KL inside the reward: every token before the last carries a different advantage than the token after it
        if (t < last) {
          assert.ok(Math.abs(a - row[t + 1]) > 1e-6, `row ${b}: tokens ${t} and ${t + 1} share the advantage ${a}`);
          compared++;
        }
      });
    });
    assert.ok(compared >= 8, `only ${compared} token pairs compared`);
    disposeBuffer(buf);
    sc.dispose();
    done();
  });

  it("the update's loss: the policy term and GRPO's KL term (beta * k3) both aggregated as ppo.loss_type says", () => {
    // One step (1 epoch x 1 minibatch) from the policy that sampled: ratio 1, so L_clip = aggregate(-A), and the KL
    // term is beta * aggregate(k3(logp, ref)) with logp the buffer's own. Expected values by hand from the arrays.
    // The responses are cut to unequal lengths: at equal lengths the three aggregations differ only by a constant.
    const beta = 0.5;
    const lengths = [6, 2, 4, 6, 3, 6, 1, 5];
    for (const lossType of ["grpo", "dapo", "dr_grpo"] as const) {
      const { exp, ac, done } = experience(0.5);
      const m0 = exp.tokens.mask.arraySync() as number[][];
      exp.tokens.mask.dispose();
      exp.tokens.mask = tf.tensor2d(m0.map((row, b) => row.map((m, t) => (t < lengths[b] ? m : 0))));
      exp.lengths = exp.lengths.map((n, b) => Math.min(n, lengths[b]));
      assert.ok(new Set(exp.lengths).size >= 4, `unequal lengths: ${exp.lengths}`);
      const sc = scores();
      const { mask, logp, ref } = arrays(exp);
      const buf = buildBuffer(exp, sc, { klCoef: beta, estimator: "k1", gamma: 1, lam: 0.95, whitenAdvantages: true, advantage: "grpo", groupSize: 4, advantageEps: 1e-4, lossEstimator: "k3" });
      const A = (buf.advantages.arraySync() as number[][]).map((row) => row[0]);
      const k3 = mask.map((row, b) => row.map((m, t) => (m > 0 ? Math.exp(ref[b][t] - logp[b][t]) - 1 - (ref[b][t] - logp[b][t]) : 0)));
      const lens = mask.map((row) => sum(row)), maxLen = 6;
      const agg = (x: number[][]) =>
        lossType === "grpo" ? sum(x.map((row, b) => sum(row) / lens[b])) / x.length
        : lossType === "dapo" ? sum(x.map(sum)) / sum(lens)
        : sum(x.map(sum)) / (x.length * maxLen);
      const wantPolicy = agg(mask.map((row, b) => row.map((m) => (m > 0 ? -A[b] : 0))));
      const wantKl = beta * agg(k3);
      assert.ok(wantKl > 1e-3, `the KL term is large enough to see: ${wantKl}`);
      const opt = new AdamW(ac.policy.trainableVariables(), { weightDecay: 0 });
      const st = ppoUpdate(ac, buf, opt, { ...tinyPpoCfg({ epochs: 1, minibatches: 1, ent_coef: 0, max_new_tokens: maxLen }), loss_type: lossType }, 1e-3, new Rng(1));
      assert.equal(st["policy/update_steps"], 1);
      assert.ok(Math.abs(st["loss/policy_avg"] - wantPolicy) < 1e-5, `${lossType}: policy loss ${st["loss/policy_avg"]} vs ${wantPolicy}`);
      const klPart = st["loss/total_avg"] - st["loss/policy_avg"];
      assert.ok(Math.abs(klPart - wantKl) < 1e-4 * Math.max(1, wantKl), `${lossType}: total - policy = ${klPart}, beta * aggregated k3 = ${wantKl}`);
      opt.dispose();
      disposeBuffer(buf);
      sc.dispose();
      done();
    }
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
    const { advantage: _a, group_size: _g, advantage_eps: _e, loss_type: _t, scale_rewards: _s, ...old } = base.ppo;
    const { loss_estimator: _l, ...oldKl } = base.ppo.kl;
    const before = { ...base, ppo: { ...old, kl: oldKl } } as unknown as typeof base; // a config from before the keys
    assert.equal(stageConfigHash(base, STAGE_SECTIONS.ppo), stageConfigHash(before, STAGE_SECTIONS.ppo));
    assert.notEqual(stageConfigHash(withOverrides(base, ["ppo.advantage=reinforce_pp"]), STAGE_SECTIONS.ppo), stageConfigHash(base, STAGE_SECTIONS.ppo));
    // PPO with another loss aggregation is another run
    assert.notEqual(stageConfigHash(withOverrides(base, ["ppo.loss_type=grpo"]), STAGE_SECTIONS.ppo), stageConfigHash(base, STAGE_SECTIONS.ppo));
  });
});

describe("config: ppo.loss_type and ppo.scale_rewards", () => {
  const base = loadConfig("config/smoke.yaml");
  it("defaults dapo and group (PPO's behaviour); other values are checked, and scale_rewards is refused outside grpo", () => {
    assert.equal(base.ppo.loss_type, "dapo");
    assert.equal(base.ppo.scale_rewards, "group");
    assert.throws(() => withOverrides(base, ["ppo.loss_type=bnpo"]), /ppo\.loss_type: got "bnpo".*allowed: grpo \| dapo \| dr_grpo/);
    assert.throws(() => withOverrides(base, ["ppo.scale_rewards=std"]), /ppo\.scale_rewards: got "std".*allowed: group \| batch \| none/);
    assert.throws(() => withOverrides(base, ["ppo.scale_rewards=none"]), (e: unknown) => e instanceof ConfigError && /ppo\.scale_rewards: none with ppo\.advantage = gae/.test(e.message));
    const dr = withOverrides(base, ["ppo.advantage=grpo", "ppo.group_size=4", "ppo.loss_type=dr_grpo", "ppo.scale_rewards=none"]);
    assert.deepEqual([dr.ppo.loss_type, dr.ppo.scale_rewards], ["dr_grpo", "none"]);
  });
  it("the comparison's arms: GRPO as Shao et al. (grpo, group), Dr. GRPO (dr_grpo, none), the others at the config's loss", () => {
    const cfg = loadConfig("test/fixtures/config.yaml");
    const pick = (m: Parameters<typeof methodConfig>[1]) => {
      const v = methodConfig(cfg, m, 7).ppo;
      return [v.advantage, v.group_size, v.loss_type, v.scale_rewards, v.seed];
    };
    const k = cfg.compare.group_size;
    assert.deepEqual(pick("grpo"), ["grpo", k, "grpo", "group", 7]);
    assert.deepEqual(pick("dr_grpo"), ["grpo", k, "dr_grpo", "none", 7]);
    assert.deepEqual(pick("rloo"), ["rloo", k, "dapo", "group", 7]);
    assert.deepEqual(pick("reinforce_pp"), ["reinforce_pp", k, "dapo", "group", 7]);
    assert.deepEqual(pick("ppo"), ["gae", 1, "dapo", "group", 7]);
    assert.ok(methodConfig(cfg, "dr_grpo", 7).paths.runs.endsWith("dr_grpo-s7"));
    // against the overrides methodConfig made before the keys: PPO's hash is unchanged (finished PPO runs are kept),
    // RLOO's config unchanged but for the keys at their defaults, GRPO's changed (its loss is now Shao et al.'s)
    const study = sweepConfig(cfg, "course", cfg.compare.kl_coef);
    const before = (adv: string, g: number) => withOverrides(study, [`ppo.advantage=${adv}`, `ppo.group_size=${g}`, "ppo.seed=7"]);
    assert.equal(stageConfigHash(methodConfig(cfg, "ppo", 7), STAGE_SECTIONS.ppo), stageConfigHash(before("gae", 1), STAGE_SECTIONS.ppo));
    assert.equal(stageConfigHash(methodConfig(cfg, "rloo", 7), STAGE_SECTIONS.ppo), stageConfigHash(before("rloo", k), STAGE_SECTIONS.ppo));
    assert.notEqual(stageConfigHash(methodConfig(cfg, "grpo", 7), STAGE_SECTIONS.ppo), stageConfigHash(before("grpo", k), STAGE_SECTIONS.ppo));
  });
});
