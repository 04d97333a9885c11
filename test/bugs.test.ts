// config ppo.bugs: each switch changes what it claims, on tiny random models built here (seconds, no checkpoints),
// and the healthy path (every switch off, as in both YAML files) does not.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as yaml from "js-yaml";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { loadConfig, validateConfig, type PpoBugs, type PpoConfig } from "../lib/core/config";
import { GPT } from "../lib/lm/model";
import { maskedMean } from "../lib/rl/ppo";
import { buildBuffer, collectExperience, disposeActorCritic, disposeBuffer, makeActorCritic, type ActorCritic, type Experience } from "../lib/rl/ppo-update";
import { PpoTrainer } from "../lib/rl/trainer";
import { Rng } from "../lib/core/rng";
import { disposeRollout, sampleRollout, type ScoredBatch } from "../lib/lm/rollout";
import { modelCfg, PROMPTS, shareOfE, smoke, tinyPpoCfg, tok } from "./tiny-ppo";
import * as fs from "node:fs";

before(async () => {
  await initBackend();
});

const OFF: PpoBugs = smoke.ppo.bugs;

/** The tiny PPO config (test/tiny-ppo.ts) with the given switches on. */
function ppoCfg(bugs: Partial<PpoBugs> = {}, over: Partial<PpoConfig> = {}): PpoConfig {
  return { ...tinyPpoCfg(over), bugs: { ...OFF, ...bugs } };
}

/** The share of "e" in the response; every batch the reward model would score is handed to `seen` first. */
const reward = shareOfE;

interface Run {
  ac: ActorCritic;
  trainer: PpoTrainer;
  sft: GPT;
  done(): void;
}

/**
 * A random model made to look trained: embeddings x 8 (tied logits, so ~3.6 nats per token instead of ~5.5, and
 * temperature matters) and the final LayerNorm's bias along EOS's embedding (+4 on its logit: half the rows end early).
 */
function lifelike(m: GPT): GPT {
  const vars = m.namedVariables();
  const wte = vars.get("wte")!;
  tf.tidy(() => {
    wte.assign(tf.mul(wte, 8));
    const e = tf.reshape(tf.slice(wte, [tok.eos, 0], [1, -1]), [-1]);
    vars.get("ln_f.beta")!.assign(tf.mul(e, tf.div(4, tf.sum(tf.square(e)))));
  });
  return m;
}

function setup(seed: number, ppo: PpoConfig, seen?: (b: ScoredBatch) => void): Run {
  const sft = lifelike(new GPT(modelCfg, { seed }));
  const ac = makeActorCritic(sft, "shared", null, ppo.bugs);
  const trainer = new PpoTrainer({ ppo, ac, tok, reward: reward(seen), prompts: PROMPTS, seed });
  return { ac, trainer, sft, done: () => { trainer.dispose(); disposeActorCritic(ac); sft.dispose(); } };
}

/** The metric rows of n iterations. */
function rows(seed: number, ppo: PpoConfig, n: number): Record<string, number>[] {
  const r = setup(seed, ppo);
  const out = Array.from({ length: n }, () => r.trainer.step());
  r.done();
  return out;
}

describe("ppo.bugs in the config", () => {
  it("both YAML files have every switch off", () => {
    for (const f of ["config/course.yaml", "config/smoke.yaml"]) {
      assert.deepEqual(loadConfig(f).ppo.bugs, {
        logprob_temperature: null, single_pass: false, ref_sync_every: 0, whiten_adds_mean: false,
        pad_is_eos: false, dropout_on: false, value_head_random: false, unmasked_advantages: false,
      }, f);
    }
  });

  it("is validated like every other key: wrong types, ranges, unknown and missing keys name the key path", () => {
    const raw = () => yaml.load(fs.readFileSync("config/smoke.yaml", "utf8")) as { ppo: { bugs: Record<string, unknown> } };
    const err = (edit: (b: Record<string, unknown>) => void) => {
      const r = raw();
      edit(r.ppo.bugs);
      assert.throws(() => validateConfig(r, "x.yaml"));
      try { validateConfig(r, "x.yaml"); } catch (e) { return (e as Error).message; }
      return "";
    };
    assert.equal(err((b) => (b.single_pass = "yes")), `x.yaml: ppo.bugs.single_pass: got "yes" (a string); expected true or false`);
    assert.equal(err((b) => (b.ref_sync_every = -1)), "x.yaml: ppo.bugs.ref_sync_every: -1 is out of range; expected an integer in [0, inf)");
    assert.equal(err((b) => (b.logprob_temperature = 0)), "x.yaml: ppo.bugs.logprob_temperature: 0 is out of range; expected a number in (0, 10], or null (off)");
    assert.match(err((b) => (b.kl_sign = true)), /^x\.yaml: ppo\.bugs\.kl_sign: unknown key/);
    assert.match(err((b) => delete b.pad_is_eos), /^x\.yaml: ppo\.bugs\.pad_is_eos: missing key; expected true or false/);
  });
});

describe("each bug switch changes what it claims", () => {
  it("single_pass: one update step whose ratio is exactly 1 and clipfrac 0; healthy: 4 steps, ratio spread > 0", () => {
    const [bug] = rows(3, ppoCfg({ single_pass: true }), 1);
    assert.equal(bug["policy/update_steps"], 1);
    assert.ok(Math.abs(bug["val/ratio"] - 1) < 1e-6, `ratio ${bug["val/ratio"]}`);
    assert.ok(bug["val/ratio_var"] < 1e-10, `ratio var ${bug["val/ratio_var"]}`);
    assert.equal(bug["policy/clipfrac_avg"], 0);
    const [ok] = rows(3, ppoCfg(), 1);
    assert.equal(ok["policy/update_steps"], 4);
    assert.ok(ok["val/ratio_var"] > 1e-8, `healthy ratio var ${ok["val/ratio_var"]}`);
  });

  it("logprob_temperature: an unchanged policy has KL != 0 (negative, k1) against its own reference and a first ratio != 1", () => {
    const [ok] = rows(3, ppoCfg({}, { epochs: 1, minibatches: 1 }), 1);
    assert.ok(ok["objective/kl"] === 0 && Math.abs(ok["val/ratio"] - 1) < 1e-6);
    const [bug] = rows(3, ppoCfg({ logprob_temperature: 0.7 }, { epochs: 1, minibatches: 1 }), 1); // sampler at 1.0
    // E_p[log p_0.7 - log p_1] = -KL(p_1 || p_0.7) < 0
    assert.ok(bug["objective/kl"] < -0.01, `KL ${bug["objective/kl"]}`);
    assert.ok(Math.abs(bug["val/ratio"] - 1) > 1e-3 && bug["val/ratio_var"] > 1e-3, `ratio ${bug["val/ratio"]} var ${bug["val/ratio_var"]}`);
  });

  it("ref_sync_every: the KL is exactly 0 at each sync (iterations 3 and 5 with N = 2), not in between; healthy stays > 0", () => {
    const k3 = { kl: { ...smoke.ppo.kl, estimator: "k3" as const } }; // k3 >= 0 per token: "not 0" means > 0
    const bug = rows(4, ppoCfg({ ref_sync_every: 2 }, k3), 5).map((r) => r["objective/kl"]);
    const ok = rows(4, ppoCfg({}, k3), 5).map((r) => r["objective/kl"]);
    assert.equal(bug[0], 0);
    assert.ok(bug[1] > 0 && bug[3] > 0, `KL ${bug}`);
    assert.ok(bug[2] === 0 && bug[4] === 0, `KL ${bug}`);
    assert.ok(ok.slice(1).every((k) => k > 0), `healthy KL ${ok}`);
  });

  it("pad_is_eos: no response mask covers an EOS token; healthy masks do (EOS is the last real token)", () => {
    const eosCovered = (bugs: Partial<PpoBugs>): { covered: number; eos: number } => {
      let covered = 0;
      let eos = 0;
      const r = setup(5, ppoCfg(bugs), (b) => {
        const ids = b.responses.dataSync(), m = b.mask.dataSync();
        for (let i = 0; i < ids.length; i++) if (ids[i] === tok.eos) { eos++; if (m[i] > 0) covered++; }
      });
      for (let i = 0; i < 3; i++) r.trainer.step();
      r.done();
      return { covered, eos };
    };
    const ok = eosCovered({});
    assert.ok(ok.eos > 0 && ok.covered === ok.eos, `healthy: ${JSON.stringify(ok)}`);
    const bug = eosCovered({ pad_is_eos: true });
    assert.equal(bug.eos, ok.eos); // same seed, same samples: only the mask differs
    assert.equal(bug.covered, 0);
  });

  it("dropout_on: the first experience pass is noisy, so an unchanged policy shows KL != 0 and a first ratio != 1", () => {
    const [bug] = rows(3, ppoCfg({ dropout_on: true }, { epochs: 1, minibatches: 1 }), 1);
    assert.ok(Math.abs(bug["objective/kl"]) > 1e-3, `KL ${bug["objective/kl"]}`);
    assert.ok(bug["val/ratio_var"] > 1e-4, `ratio var ${bug["val/ratio_var"]}`);
  });

  it("value_head_random: the value head keeps its random init, so V of the first rollout is not 0", () => {
    const sft = new GPT(modelCfg, { seed: 9 });
    const valuesOf = (ac: ActorCritic) => {
      const r = sampleRollout(ac.policy, tok, PROMPTS, { maxNewTokens: 6, temperature: 1, rng: new Rng(1) });
      const exp = collectExperience(ac, r, 1);
      const v = Array.from(exp.values.dataSync());
      const buf = buildBuffer(exp, tf.zeros([PROMPTS.length]), { klCoef: 0, estimator: "k1", gamma: 1, lam: 0.95, whitenAdvantages: false });
      disposeBuffer(buf);
      disposeRollout(r);
      return v;
    };
    const healthy = makeActorCritic(sft, "shared");
    const buggy = makeActorCritic(sft, "shared", null, { value_head_random: true });
    assert.ok(valuesOf(healthy).every((x) => x === 0));
    const v = valuesOf(buggy);
    const rms = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.filter((x) => x !== 0).length);
    assert.ok(rms > 0.1, `value rms ${rms}`); // ~1: the head's 1/sqrt(d+1) init on a unit-scale hidden state
    disposeActorCritic(healthy);
    disposeActorCritic(buggy);
    sft.dispose();
  });
});

describe("the advantage bugs, in buildBuffer", () => {
  // 3 rows of a right-padded batch, values and rewards chosen so the raw advantages have a clearly non-zero mean
  const mask = [[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]];
  function experience(): Experience {
    const z = () => tf.zeros([3, 4]) as tf.Tensor2D;
    return {
      tokens: { queries: tf.zeros([3, 2], "int32") as tf.Tensor2D, queryMask: tf.ones([3, 2]) as tf.Tensor2D, responses: tf.zeros([3, 4], "int32") as tf.Tensor2D, mask: tf.tensor2d(mask) },
      lengths: [4, 2, 1],
      logprobs: z(),
      refLogprobs: z(),
      values: tf.tensor2d([[0.1, 0.2, 0.1, 0.3], [0.2, 0.1, 0, 0], [0.3, 0, 0, 0]]),
      entropy: z(),
    };
  }
  const build = (bugs: Partial<PpoBugs>) => {
    const scores = tf.tensor1d([2, 1.5, 3]);
    const buf = buildBuffer(experience(), scores, { klCoef: 0.1, estimator: "k1", gamma: 1, lam: 0.95, whitenAdvantages: true, bugs });
    scores.dispose();
    const adv = buf.advantages.arraySync() as number[][];
    const mean = maskedMean(buf.advantages, buf.tokens.mask).dataSync()[0];
    disposeBuffer(buf);
    return { adv, mean, padded: adv.flatMap((r, i) => r.filter((_, j) => mask[i][j] === 0)) };
  };

  it("healthy: whitened advantages have mean 0 over real tokens and are exactly 0 at padding", () => {
    const h = build({});
    assert.ok(Math.abs(h.mean) < 1e-6, `mean ${h.mean}`);
    assert.ok(h.padded.every((x) => x === 0));
  });

  it("whiten_adds_mean: the advantages' mean over real tokens is the raw mean (here ~2), not 0", () => {
    const b = build({ whiten_adds_mean: true });
    assert.ok(b.mean > 1, `mean ${b.mean}`);
    assert.ok(b.padded.every((x) => x === 0));
  });

  it("unmasked_advantages: padded advantages are not 0 and the real ones' mean is not 0", () => {
    const b = build({ unmasked_advantages: true });
    assert.ok(b.padded.every((x) => Math.abs(x) > 0.1), `padded ${b.padded}`);
    assert.ok(Math.abs(b.mean) > 0.1, `mean ${b.mean}`);
  });

  it("the trainer hands both to buildBuffer: the first update's policy loss differs from the healthy run's", () => {
    const [ok] = rows(6, ppoCfg(), 1);
    for (const bugs of [{ whiten_adds_mean: true }, { unmasked_advantages: true }]) {
      const [bug] = rows(6, ppoCfg(bugs), 1);
      assert.notEqual(bug["loss/policy_avg"], ok["loss/policy_avg"], JSON.stringify(bugs));
      assert.equal(bug["objective/kl"], ok["objective/kl"]); // same samples: only the advantages differ
    }
  });
});
