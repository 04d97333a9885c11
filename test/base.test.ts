// The shipped base model and how it was made: the warmup-stable-decay schedule, the cooled-down copies the compute
// curve measures, data/base/ (written whole by shipBase, refused when a config asks for another shape), and the
// property the whole course rests on: held-out text (validation and test reviews, the corpus's validation documents
// and its reserved tenth) is in no pretraining, tokenizer or SFT data.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { InputError, loadConfig, repoPath, withOverrides, wsdDecayStart } from "../lib/core/config";
import { loadCorpus, loadReviews, splitCorpus } from "../lib/lm/data";
import { corpusForRun, preparePretrainData, tokenizerTrainingText, makePretrainSamplerFor } from "../lib/lm/pretrain-data";
import { prepareSftData } from "../lib/train/sft";
import { AdamW, lrAt } from "../lib/train/optim";
import { GPT } from "../lib/lm/model";
import { Rng } from "../lib/core/rng";
import { cooledCopy } from "../lib/pipeline/pretrain";
import { readCurve } from "../lib/pipeline/curve";
import { dataHashes, loadShippedBase, readShippedBaseMeta, shipBase } from "../lib/pipeline/base";
import { ensurePretrained } from "../lib/pipeline/stages";

const ROOT = path.resolve(__dirname, "..");
before(async () => {
  await initBackend();
});

describe("warmup-stable-decay", () => {
  it("warms up, holds lr, then decays linearly over the last decay_fraction to lr * min_lr_ratio", () => {
    const s = { lr: 1, steps: 100, warmup_steps: 10, min_lr_ratio: 0.1, schedule: "wsd" as const, decay_fraction: 0.2 };
    assert.equal(wsdDecayStart(s), 80);
    assert.equal(lrAt(0, s), 0.1);
    for (const t of [10, 50, 79]) assert.equal(lrAt(t, s), 1, `step ${t} is in the stable phase`);
    assert.ok(lrAt(80, s) < 1 && lrAt(80, s) > 0.95);
    assert.ok(Math.abs(lrAt(99, s) - 0.1) < 1e-12, "the last step ends at lr_min");
    for (let t = 81; t < 100; t++) assert.ok(lrAt(t, s) < lrAt(t - 1, s), "strictly decreasing in the decay");
    // the stable phase does not depend on the run's length: a longer run agrees up to the shorter one's decay
    const longer = { ...s, steps: 1000 };
    for (let t = 0; t < 80; t++) assert.equal(lrAt(t, longer), lrAt(t, s));
  });
  it("cooledCopy trains a copy and leaves the run it was cut from untouched", () => {
    const cfg = loadConfig(path.join(ROOT, "config/smoke.yaml"));
    const data = preparePretrainData(cfg);
    const m = new GPT({ ...cfg.model, vocab_size: data.tokenizer.vocabSize }, { seed: 1 });
    const opt = new AdamW(m.trainableVariables());
    const before = m.trainableVariables().map((v) => v.dataSync().slice());
    const sampler = makePretrainSamplerFor(cfg, data, new Rng(1));
    const copy = cooledCopy(m, opt, sampler, 3, { lr: 0.01, min_lr_ratio: 0.1, weight_decay: 0, grad_clip: 1 });
    m.trainableVariables().forEach((v, i) => assert.deepEqual(v.dataSync(), before[i], `${v.name} unchanged`));
    assert.equal(opt.t, 0, "the run's optimizer took no step");
    const moved = copy.trainableVariables().some((v, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(v, tf.tensor(before[i], v.shape)))).dataSync()[0]) > 1e-6);
    assert.ok(moved, "the copy trained");
    [m, copy].forEach((x) => x.dispose());
    opt.dispose();
  });
});

describe("held-out text stays out of training", () => {
  const cfg = loadConfig(path.join(ROOT, "config/base.yaml"));
  const split = splitCorpus(loadCorpus());
  const heldReviews = loadReviews().filter((r) => r.split !== "train").map((r) => r.text);
  const docs = (t: string) => t.trim().split("\n\n");
  // a 120-character probe from the middle of each held-out document
  const probes = [...docs(split.val), ...docs(split.reserved)].map((d) => d.slice(Math.floor(d.length / 2) - 60, Math.floor(d.length / 2) + 60));
  it("the corpus parts share no document, and the pretraining text holds no held-out document", () => {
    const train = corpusForRun(split.train, cfg);
    assert.equal(train, split.train, "the base reads the whole training part");
    for (const p of probes) assert.ok(!train.includes(p), `held-out text found in pretraining: ${p.slice(0, 40)}`);
  });
  it("no validation or test review is in the pretraining corpus or the tokenizer's training text", () => {
    const tokText = tokenizerTrainingText(split.train, loadReviews("train").map((r) => r.text));
    for (const p of probes) assert.ok(!tokText.includes(p));
    const leaked = heldReviews.filter((t) => t.length >= 30 && (split.train.includes(t) || tokText.includes(t)));
    assert.deepEqual(leaked, []);
  });
  it("the review sentences pretraining and SFT train on are training-split sentences only", () => {
    const smoke = loadConfig(path.join(ROOT, "config/smoke.yaml"));
    const data = preparePretrainData(smoke);
    const trainTexts = new Set(loadReviews("train").map((r) => r.text));
    const held = new Set(heldReviews);
    for (const ids of data.reviewsTrain) {
      const text = data.tokenizer.decode(Array.from(ids.subarray(1, ids.length - 1)));
      assert.ok(trainTexts.has(text) && !held.has(text), `pretraining review not from the training split: ${text}`);
    }
    const sft = prepareSftData(smoke, data.tokenizer);
    assert.ok(sft.train.length > 100);
    const trainIds = new Set(loadReviews("train").map((r) => r.id));
    for (const ex of sft.train) assert.ok(trainIds.has(ex.demo.id), `SFT demonstration ${ex.demo.id} is not from the training split`);
  });
});

describe("the shipped base (data/base/)", () => {
  it("was trained on today's data with config/base.yaml, and course.yaml asks for its shape", () => {
    const meta = readShippedBaseMeta();
    assert.deepEqual(meta.data, dataHashes(), "data/corpus.txt or data/reviews.jsonl changed since the base was trained");
    const base = loadConfig(path.join(ROOT, "config/base.yaml"));
    assert.deepEqual(meta.config.pretrain, base.pretrain, "config/base.yaml's pretrain section is the one the base was trained with");
    assert.deepEqual(meta.config.model, base.model);
    const course = loadConfig(path.join(ROOT, "config/course.yaml"));
    assert.equal(course.pretrain.base, "shipped");
    assert.ok(fs.statSync(repoPath("data/base/weights.bin")).size < 16e6, "at most 16 MB");
  });
  it("config/base.yaml is the course's config in every section but name, paths, checkpoint_every and pretrain", () => {
    const base = loadConfig(path.join(ROOT, "config/base.yaml")) as unknown as Record<string, unknown>;
    const course = loadConfig(path.join(ROOT, "config/course.yaml")) as unknown as Record<string, unknown>;
    for (const k of Object.keys(course)) {
      if (["name", "paths", "checkpoint_every", "pretrain"].includes(k)) continue;
      assert.deepEqual(base[k], course[k], `section ${k}: the curve's SFT and the course's model must be the course's`);
    }
  });
  it("shipBase writes a base that loads back with the same weights; another shape is refused by name", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ship-base-"));
    try {
      const cfg = withOverrides(loadConfig(path.join(ROOT, "config/smoke.yaml")), [`paths.checkpoints=${tmp}/ck`, `paths.runs=${tmp}/runs`]);
      const trained = await ensurePretrained(cfg, { log: () => {} });
      const meta = await shipBase(cfg, "test", path.join(tmp, "base"));
      assert.equal(meta.summary.steps, cfg.pretrain.steps);
      const back = loadShippedBase(cfg, path.join(tmp, "base"));
      trained.model.trainableVariables().forEach((v, i) => assert.deepEqual(back.model.trainableVariables()[i].dataSync(), v.dataSync()));
      assert.ok(back.metrics && back.metrics.length > 0, "the loss curve ships with it");
      const wider = withOverrides(cfg, ["model.d_model=64", "model.n_heads=4"]);
      assert.throws(() => loadShippedBase(wider, path.join(tmp, "base")), (e: Error) => e instanceof InputError && /model\.d_model = 64, but the shipped base model .* has 32/.test(e.message));
      assert.throws(() => readShippedBaseMeta(path.join(tmp, "nowhere")), /base\.json: cannot read/);
      [trained.model, back.model].forEach((m) => m.dispose());
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
  it("npm run pipeline -- --set: a curve run records one row per point, and a bad key is refused", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "curve-"));
    try {
      const run = (...extra: string[]) => spawnSync(process.execPath, ["--import", "tsx", "tools/pipeline.ts", "--stage", "pretrain", "--config", "config/smoke.yaml",
        "--set", `paths.checkpoints=${tmp}/ck`, "--set", `paths.runs=${tmp}/runs`, ...extra], { cwd: ROOT, encoding: "utf8" });
      const bad = run("--set", "pretrain.curve_points=[10]");
      assert.equal(bad.status, 2, "curve points need the wsd schedule");
      assert.match(bad.stderr, /pretrain\.curve_points.*needs pretrain\.schedule: wsd/);
      const r = run("--set", "pretrain.schedule=wsd", "--set", "pretrain.steps=40", "--set", "pretrain.curve_points=[10, 20]");
      assert.equal(r.status, 0, r.stderr);
      const rows = readCurve({ paths: { checkpoints: "", runs: `${tmp}/runs` } });
      assert.deepEqual(rows.map((x) => [x.step, x.steps]), [[10, 13], [20, 25], [40, 40]], "cooldown of step x 0.2 / 0.8; the finished run last");
      for (const x of rows) assert.ok(x.sft_bpc > 0 && x.base_bpc > 0 && x.fluency >= 0 && x.fluency <= 1);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
