// Config overrides (withOverrides) and ablations (lib/studies/ablation.ts): a variant of the PPO stage on the same SFT and
// reward models, with its outputs kept apart from the course's.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../lib/core/backend";
import { ConfigError, configSource, loadConfig, withOverrides } from "../lib/core/config";
import { ablationConfig, ablationSummaries, ppoDifferences, runAblation } from "../lib/studies/ablation";

before(async () => {
  await initBackend();
});

describe("withOverrides", () => {
  const base = loadConfig("config/smoke.yaml");
  it("applies dotted keys with YAML values and leaves the original alone", () => {
    const v = withOverrides(base, ["ppo.kl.coef=0.05", "ppo.reward.missing_eos_penalty=null", "ppo.critic=separate"]);
    assert.equal(v.ppo.kl.coef, 0.05);
    assert.equal(v.ppo.reward.missing_eos_penalty, null);
    assert.equal(v.ppo.critic, "separate");
    assert.equal(base.ppo.kl.coef, 0.1);
    assert.match(configSource(v) ?? "", /smoke\.yaml with ppo\.kl\.coef=0\.05/);
  });
  it("refuses an unknown key, a malformed override and a value the schema refuses, naming the override", () => {
    assert.throws(() => withOverrides(base, ["ppo.kl.coeff=0.05"]), (e: unknown) => e instanceof ConfigError && /no key ppo\.kl\.coeff/.test(e.message));
    assert.throws(() => withOverrides(base, ["ppo.kl.coef"]), /expected key=value/);
    assert.throws(() => withOverrides(base, ["ppo.kl.estimator=k9"]), (e: unknown) => e instanceof ConfigError && /ppo\.kl\.estimator/.test(e.message));
  });
});

describe("ablations", () => {
  it("ablationConfig moves the outputs and refuses changes outside ppo", () => {
    const base = loadConfig("config/smoke.yaml");
    const v = ablationConfig(base, "no-eos", ["ppo.reward.missing_eos_penalty=null"]);
    assert.equal(v.paths.runs, path.join(base.paths.runs, "ablations", "no-eos"));
    assert.throws(() => ablationConfig(base, "x", ["rm.lr=0.1"]), /only ppo\.\* keys may change/);
    assert.throws(() => ablationConfig(base, "../x", []), /ablation name/);
  });

  it("runs PPO with the override on the base config's SFT and reward models and lists the result", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ablation-"));
    try {
      const base = loadConfig("config/smoke.yaml");
      const cfg = { ...base, paths: { checkpoints: path.join(tmp, "ck"), runs: path.join(tmp, "runs") } };
      const run = await runAblation(cfg, "kl0", ["ppo.kl.coef=0", "ppo.iterations=2"], { log: () => {} });
      run.model.dispose();
      assert.ok(fs.existsSync(path.join(tmp, "ck", "sft")), "the base SFT checkpoint was trained in the base paths");
      assert.ok(fs.existsSync(path.join(tmp, "ck", "ablations", "kl0", "ppo")), "the variant's policy is kept apart");
      assert.ok(!fs.existsSync(path.join(tmp, "ck", "ppo")), "the course's own PPO checkpoint is not touched");
      const all = ablationSummaries(cfg);
      assert.equal(all.length, 1);
      assert.deepEqual(all[0].overrides, ["ppo.kl.coef=0", "ppo.iterations=2"]);
      assert.equal(all[0].summary.iterations, 2);
      assert.deepEqual(ppoDifferences(cfg.ppo, all[0].ppo!), ["ppo.iterations=2", "ppo.kl.coef=0"], "what the run changed against its base");
      assert.ok(Number.isFinite(all[0].summary.gold_policy));
      assert.ok(all[0].summary.score_std !== null && all[0].summary.score_std > 0, "normalisation measured at the PPO temperature");
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
