// Fail safe: a non-finite loss stops a stage with a message naming the stage, the step and the last good
// checkpoint, which stays loadable; nothing is written that describes a checkpoint that does not exist; error paths
// (reward model, PPO iteration) free every tensor they made; a corrupted checkpoint is refused naming the file.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { loadCheckpoint, saveCheckpoint } from "../lib/train/checkpoint";
import { type Config, loadConfig } from "../lib/core/config";
import { GPT } from "../lib/lm/model";
import { makeActorCritic, disposeActorCritic } from "../lib/rl/ppo-update";
import { trainPretrain } from "../lib/pipeline/pretrain";
import { resumeDir, StageError } from "../lib/train/resume";
import { trainRewardModel } from "../lib/reward/reward-model";
import { PpoTrainer } from "../lib/rl/trainer";
import { type RewardFns } from "../lib/reward/reward-fns";
import { Rng } from "../lib/core/rng";
import { Tokenizer, BOS, EOS } from "../lib/lm/tokenizer";
import type { Completion, PreferenceData } from "../lib/reward/preferences";

let tmp: string;
before(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "failsafe-test-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const smoke = loadConfig("config/smoke.yaml");
const cfgIn = (name: string): Config => ({ ...smoke, paths: { checkpoints: path.join(tmp, name, "checkpoints"), runs: path.join(tmp, name, "runs") } });

/** Every registered variable whose name ends with one of the given suffixes set to NaN (what a diverged step leaves). */
function poison(suffix = "/wte"): void {
  for (const v of Object.values(tf.engine().registeredVariables)) if (v.name.endsWith(suffix)) tf.tidy(() => v.assign(tf.fill(v.shape, NaN)));
}

describe("a non-finite loss stops the stage", () => {
  it("pretrain: names the stage, the step and the last good checkpoint, which loads; no summary, no stage checkpoint, no leak", async () => {
    const cfg = cfgIn("nan");
    const n0 = tf.memory().numTensors;
    let err: unknown;
    try {
      await trainPretrain(cfg, { log: () => {}, onStep: (step) => { if (step === 5) poison(); } });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof StageError, `expected a StageError, got ${err}`);
    // Steps 0..5 ran (the resumable checkpoint after step 6 = checkpoint_every 2 x 3), the 7th met the NaN weights.
    assert.match(err.message, /^pretrain stopped at step 7 of 30: trainStep: loss is NaN/);
    assert.match(err.message, /last good checkpoint is .*resume\/pretrain \(after step 6; loadable with loadCheckpoint, continued by --resume\)/);
    assert.equal(err.step, 7);
    assert.equal(tf.memory().numTensors, n0, "the failed stage freed its model and optimizer");
    const good = loadCheckpoint(resumeDir(cfg, "pretrain"));
    for (const v of good.model.namedVariables().values()) assert.ok(v.dataSync().every(Number.isFinite));
    good.model.dispose();
    assert.ok(!fs.existsSync(path.join(cfg.paths.checkpoints, "pretrain")), "no stage checkpoint");
    assert.ok(!fs.existsSync(path.join(cfg.paths.runs, "pretrain", "summary.json")), "no summary without its checkpoint");
  });

  it("pretrain: a failure before the first save says that no checkpoint was saved", async () => {
    const cfg = cfgIn("nan0");
    await assert.rejects(trainPretrain(cfg, { log: () => {}, onStep: (step) => { if (step === 0) poison(); } }),
      /pretrain stopped at step 2 of 30: .*\n {2}no checkpoint of this run was saved yet \(checkpoint_every 2\); checkpoints\/pretrain was not touched/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Error paths free their tensors

const tok = new Tokenizer("char", []);
const tiny = { vocab_size: tok.vocabSize, context: 32, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 };

describe("error paths leave no tensors behind", () => {
  it("trainRewardModel: a NaN loss throws and frees the step's index tensors, margins and optimizer", () => {
    const comp = (group: number, text: string, gold: number): Completion =>
      ({ group, prompt: "it was", text, gold, promptIds: [BOS, ...tok.encode("it was")], responseIds: [...tok.encode(text), EOS], eos: true });
    const completions = [comp(0, " good", 0.4), comp(0, " bad", -0.5), comp(1, " fine", 0.2), comp(1, " awful", -0.6)];
    const data: PreferenceData = { completions, pairs: [{ group: 0, chosen: 0, rejected: 1, p: 1, split: "train" }, { group: 1, chosen: 2, rejected: 3, p: 1, split: "heldout" }], beta: 10 };
    const rm = new GPT(tiny, { seed: 1, head: "reward" });
    for (const [name, v] of rm.namedVariables()) if (name === "wte") tf.tidy(() => v.assign(tf.fill(v.shape, NaN)));
    const n0 = tf.memory().numTensors;
    assert.throws(() => trainRewardModel(rm, data, { ...smoke.rm, completions_per_prompt: 2 }, { rng: new Rng(1) }), /loss is NaN/);
    assert.equal(tf.memory().numTensors, n0);
    rm.dispose();
  });

  it("PpoTrainer.step: a reward function that throws (or a NaN score) frees the rollout and the experience", () => {
    const sft = new GPT(tiny, { seed: 3 });
    const ac = makeActorCritic(sft, "shared");
    const broken: RewardFns = { proxy: () => { throw new Error("reward model exploded"); }, gold: (p) => p.map(() => 0) };
    const nan: RewardFns = { proxy: (b) => tf.fill([b.responses.shape[0]], NaN) as tf.Tensor1D, gold: (p) => p.map(() => 0) };
    for (const [reward, msg] of [[broken, /reward model exploded/], [nan, /loss is NaN/]] as const) {
      const trainer = new PpoTrainer({ ppo: { ...smoke.ppo, rollout_batch: 4, minibatches: 2, reward: { ...smoke.ppo.reward, normalize: false } }, ac, tok, reward, prompts: ["the food", "it was", "a", "b"], seed: 1 });
      const n0 = tf.memory().numTensors;
      assert.throws(() => trainer.step(), msg);
      assert.equal(tf.memory().numTensors, n0, `leak after ${msg}`);
      trainer.dispose();
    }
    disposeActorCritic(ac);
    sft.dispose();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Corrupted checkpoints: refused whole, naming the file and what is wrong

describe("a corrupted checkpoint is refused, naming the file", () => {
  const cases: [string, (dir: string) => void, RegExp][] = [
    ["truncated weights.bin", (d) => fs.truncateSync(path.join(d, "weights.bin"), 100), /weights\.bin has 100 bytes, the manifest describes \d+ \(truncated/],
    ["weights.bin missing", (d) => fs.rmSync(path.join(d, "weights.bin")), /no complete checkpoint in .* \(missing weights\.bin\)/],
    ["model.json is not JSON", (d) => fs.writeFileSync(path.join(d, "model.json"), "{ not json"), /model\.json is not valid JSON/],
    ["config.json is not JSON", (d) => fs.writeFileSync(path.join(d, "config.json"), ""), /config\.json is not valid JSON/],
    ["tokenizer.json is not JSON", (d) => fs.writeFileSync(path.join(d, "tokenizer.json"), "[1,"), /tokenizer\.json is not valid JSON/],
    ["extra.json is not JSON", (d) => fs.writeFileSync(path.join(d, "extra.json"), "{"), /extra\.json is not valid JSON/],
    ["a weight with the wrong shape", (d) => {
      const f = path.join(d, "model.json");
      const mj = JSON.parse(fs.readFileSync(f, "utf8"));
      mj.modelTopology.config.d_model = 8; // the manifest still says 16
      mj.modelTopology.config.n_heads = 2;
      fs.writeFileSync(f, JSON.stringify(mj));
    }, /model\.json and weights\.bin: GPT\.loadWeights: weights do not match the model:\n {2}"wte" has shape \[259,16\], the model expects \[259,8\]/],
    ["a NaN weight", (d) => {
      const f = path.join(d, "weights.bin");
      const b = fs.readFileSync(f);
      b.writeFloatLE(NaN, 8);
      fs.writeFileSync(f, b);
    }, /weights\.bin: weight "wte" holds NaN at index 2; a checkpoint must hold finite weights/],
    ["a malformed manifest entry", (d) => {
      const f = path.join(d, "model.json");
      const mj = JSON.parse(fs.readFileSync(f, "utf8"));
      mj.weightsManifest[0].weights[0].shape = "big";
      fs.writeFileSync(f, JSON.stringify(mj));
    }, /model\.json: weight entry .* is malformed \(expected \{name, shape: \[integers\], dtype: "float32"\}\)/],
  ];
  for (const [what, corrupt, message] of cases) {
    it(what, async () => {
      const dir = path.join(tmp, "corrupt", what.replace(/\W+/g, "-"));
      const m = new GPT(tiny, { seed: 1 });
      await saveCheckpoint(dir, { model: m, tokenizer: tok, config: { v: 1 }, extra: { e: 1 } });
      m.dispose();
      corrupt(dir);
      const n0 = tf.memory().numTensors;
      assert.throws(() => loadCheckpoint(dir), message);
      assert.equal(tf.memory().numTensors, n0, "nothing half-loaded stays allocated");
    });
  }
});
