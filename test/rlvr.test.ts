// The RLVR study (lib/studies/rlvr.ts): disjoint problem sets, arms that sample alike, REINFORCE without ratio or
// clip, the group statistics and the entropy-reward fit, and a smoke run that is kept, reloaded and partly redone.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../lib/core/backend";
import { type Config, loadConfig, withOverrides } from "../lib/core/config";
import { Rng } from "../lib/core/rng";
import { problemKey, trainProblems } from "../lib/reward/verifiable";
import {
  ensureRlvr, fitEntropyReward, groupRewardStats, readRlvr, rlvrArms, rlvrPpoConfig, rlvrSftHash, rlvrTask, runRlvr,
} from "../lib/studies/rlvr";

before(async () => {
  await initBackend();
});

const course = loadConfig("test/fixtures/config.yaml");

describe("the RLVR task and arms", () => {
  it("test, validation and too-hard problems are disjoint, and no training draw is one of them", () => {
    const t = rlvrTask(course);
    const test = new Set(t.test.map(problemKey)), val = new Set(t.val.map(problemKey));
    assert.equal(test.size, course.rlvr.heldout_problems);
    assert.equal(val.size, course.rlvr.val_problems);
    assert.equal([...val].filter((k) => test.has(k)).length, 0);
    assert.ok(t.hardTest.every((p) => p.digits === course.rlvr.hard_digits));
    assert.deepEqual(rlvrTask(course).test, t.test, "the same problems every time");
    const drawn = trainProblems(50000, [course.rlvr.digits], new Rng(3), t.exclude);
    assert.equal(drawn.filter((p) => t.exclude.has(problemKey(p))).length, 0);
  });

  it("every main arm samples as many completions; REINFORCE takes one step per fresh batch with no KL", () => {
    const arms = rlvrArms(course);
    assert.equal(arms.filter((a) => a.method === "grpo").length, course.rlvr.seeds.length);
    const main = arms.filter((a) => a.method !== "too_easy" && a.method !== "too_hard");
    const samples = new Set(main.map((a) => {
      const p = rlvrPpoConfig(course, a);
      return p.iterations * p.rollout_batch;
    }));
    assert.deepEqual([...samples], [course.rlvr.iterations * course.rlvr.prompts_per_iteration * course.rlvr.group_size]);
    for (const a of arms) {
      const p = rlvrPpoConfig(course, a);
      assert.equal(p.kl.coef, 0, a.name);
      assert.equal(p.epochs, 1, a.name);
      assert.equal(p.group_size, course.rlvr.group_size);
      assert.equal(p.reward.normalize || p.reward.squash || p.reward.clip !== null, false, "the checker's 0/1 reaches the advantage as it is");
    }
    const by = (m: string) => rlvrPpoConfig(course, arms.find((a) => a.method === m)!);
    assert.equal(by("reinforce").minibatches, 1, "one step per batch: the ratio is exactly 1, the clip never acts");
    assert.equal(by("reinforce").scale_rewards, "none");
    assert.equal(by("reinforce").advantage, "grpo");
    assert.equal(by("grpo").minibatches, course.rlvr.minibatches);
    assert.equal(by("rloo").advantage, "rloo");
    assert.deepEqual(["grpo", "grpo_loss_grpo", "grpo_loss_dr_grpo"].map((m) => by(m).loss_type), ["dapo", "grpo", "dr_grpo"]);
    assert.equal(arms.find((a) => a.method === "too_hard")!.digits, course.rlvr.hard_digits);
    assert.equal(arms.find((a) => a.method === "too_easy")!.start, "easy");
    assert.equal(arms.find((a) => a.method === "digit_bonus")!.reward, "digit_count");
  });

  it("groupRewardStats: the mean group std and the share of groups with one reward", () => {
    const s = groupRewardStats([1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0], 4);
    assert.equal(s.frac_reward_zero_std, 2 / 3);
    assert.ok(Math.abs(s.reward_std - Math.sqrt(1 / 3) / 3) < 1e-12, String(s.reward_std)); // [1,0,1,0]: var 4 * 0.25 / 3
  });

  it("fitEntropyReward recovers R = -a e^H + b", () => {
    const h = [0.1, 0.2, 0.4, 0.6, 0.9];
    const f = fitEntropyReward(h, h.map((x) => -0.3 * Math.exp(x) + 0.9));
    assert.ok(Math.abs(f.a - 0.3) < 1e-9 && Math.abs(f.b - 0.9) < 1e-9 && Math.abs(f.r2 - 1) < 1e-9, JSON.stringify(f));
    assert.throws(() => fitEntropyReward([0.5, 0.5], [0, 1]), /same/);
  });
});

describe("the RLVR study on the smoke config", () => {
  it("runs, is kept and reloaded, and retrains only the arms when an RL key changes", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rlvr-test-"));
    try {
      const smoke = loadConfig("config/smoke.yaml");
      const cfg: Config = { ...smoke, paths: { checkpoints: path.join(dir, "ckpt"), runs: path.join(dir, "runs") } };
      const quiet = { log: () => {} };
      const res = await runRlvr(cfg, quiet);
      assert.equal(res.arms.length, rlvrArms(cfg).length);
      for (const a of res.arms) {
        const p = rlvrPpoConfig(cfg, a.arm);
        assert.equal(a.rows.length, p.iterations, a.arm.name);
        assert.equal(a.rows[a.rows.length - 1].samples, p.iterations * p.rollout_batch);
        for (const r of a.rows) for (const k of ["reward", "entropy", "clip_ratio", "completions/mean_length", "frac_reward_zero_std"] as const) assert.ok(Number.isFinite(r[k]), `${a.arm.name} ${k}`);
        if (a.arm.method === "reinforce") assert.ok(a.rows.every((r) => r.clip_ratio === 0), "ratio 1: nothing clipped");
        assert.ok(fs.existsSync(path.join(dir, "runs", "rlvr", a.arm.name, "metrics.csv")));
      }
      const saved = readRlvr(cfg);
      assert.ok(saved, "every part was kept");
      assert.deepEqual(saved.arms.map((a) => a.after.correct), res.arms.map((a) => a.after.correct));
      const lines: string[] = [];
      await ensureRlvr(cfg, { log: (l) => lines.push(l) });
      assert.match(lines.join("\n"), /loaded/);
      const changed = withOverrides(cfg, ["rlvr.lr=0.001"]);
      const moved = { ...changed, paths: cfg.paths };
      assert.equal(rlvrSftHash(moved), rlvrSftHash(cfg), "an RL key leaves SFT valid");
      assert.equal(readRlvr(moved), undefined, "but not the arms");
      const again: string[] = [];
      await runRlvr(moved, { log: (l) => again.push(l) });
      assert.match(again.join("\n"), /loaded the SFT models/);
      assert.ok(readRlvr(moved));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
