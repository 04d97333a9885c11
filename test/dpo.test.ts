// DPO (lib/beyond/dpo.ts): the loss against hand values, sequence log-probs of given completions, and trainDpo on a tiny
// random model with synthetic pairs (chosen responses full of "e", rejected ones without).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { type Config, withOverrides } from "../lib/core/config";
import { dpoBatches, dpoLoss, dpoPairs, trainDpo } from "../lib/beyond/dpo";
import { dpoConfig } from "../lib/pipeline/dpo";
import { completionBatch, completionLogprobs, fittingBatches, sequenceLogprobs } from "../lib/lm/sequence-logprobs";
import { MetricsLog } from "../lib/core/metrics";
import { GPT } from "../lib/lm/model";
import type { Completion, PreferenceData } from "../lib/reward/preferences";
import { EVAL_METRICS } from "../lib/rl/evaluate";
import { Rng } from "../lib/core/rng";
import { modelCfg, PROMPTS, shareOfE, smoke, tok } from "./tiny-ppo";

let tmp: string;
before(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dpo-test-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const t1 = (xs: number[]) => tf.tensor1d(xs);
const logSigmoid = (x: number) => -Math.log1p(Math.exp(-x));

describe("dpoLoss", () => {
  it("matches hand values on 3 pairs: loss, rewards, accuracy, margin", () => {
    const beta = 0.5;
    const pc = [-3, -5, -2], pr = [-4, -4, -2], rc = [-3.5, -4, -2], rr = [-3, -4.5, -2];
    // rewards: chosen beta*(pc-rc) = [0.25, -0.5, 0], rejected beta*(pr-rr) = [-0.5, 0.25, 0]
    const diffs = [0.75, -0.75, 0];
    const want = -(logSigmoid(diffs[0]) + logSigmoid(diffs[1]) + logSigmoid(diffs[2])) / 3;
    const d = dpoLoss(t1(pc), t1(pr), t1(rc), t1(rr), beta);
    assert.ok(Math.abs(d.loss.dataSync()[0] - want) < 1e-6, `${d.loss.dataSync()[0]} vs ${want}`);
    assert.deepEqual(Array.from(d.chosenReward.dataSync()), [0.25, -0.5, 0]);
    assert.deepEqual(Array.from(d.rejectedReward.dataSync()), [-0.5, 0.25, 0]);
    assert.ok(Math.abs(d.accuracy.dataSync()[0] - 1.5 / 3) < 1e-7); // one win, one loss, one tie (half)
    assert.ok(Math.abs(d.margin.dataSync()[0]) < 1e-7);
    tf.dispose(Object.values(d));
  });

  it("exactly log 2 when the policy equals the reference, whatever beta", () => {
    for (const beta of [0.01, 0.1, 5]) {
      const lp = t1([-10, -3.2, -7]);
      const d = dpoLoss(lp, t1([-1, -20, -4]), lp, t1([-1, -20, -4]), beta);
      assert.ok(Math.abs(d.loss.dataSync()[0] - Math.log(2)) < 1e-6);
      tf.dispose([lp, ...Object.values(d)]);
    }
  });

  it("raising the chosen log-prob lowers the loss (negative gradient), raising the rejected one raises it", () => {
    const pr = t1([-4, -6]), rc = t1([-5, -5]), rr = t1([-5, -5]);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => dpoLoss(a as tf.Tensor1D, b as tf.Tensor1D, rc, rr, 0.1).loss)([t1([-5, -3]), pr]);
    assert.ok(g[0].dataSync().every((x) => x < 0), `d loss / d pi_w = ${g[0].dataSync()}`);
    assert.ok(g[1].dataSync().every((x) => x > 0), `d loss / d pi_l = ${g[1].dataSync()}`);
    tf.dispose([pr, rc, rr, ...g]);
  });

  it("stable for huge margins: softplus, no Infinity or NaN", () => {
    const d = dpoLoss(t1([0, -1000]), t1([-1000, 0]), t1([0, 0]), t1([0, 0]), 1);
    const v = d.loss.dataSync()[0];
    assert.ok(Math.abs(v - 500) < 1e-3, `loss ${v}`); // (0 + 1000) / 2
    tf.dispose(Object.values(d));
  });

  it("refuses mismatched shapes and beta <= 0, naming the key", () => {
    const a = t1([1, 2]), b = t1([1]);
    assert.throws(() => dpoLoss(a, a, b, a, 0.1), /refChosen has shape \[1\]/);
    assert.throws(() => dpoLoss(a, a, a, a, 0), /dpo\.beta/);
    tf.dispose([a, b]);
  });
});

// Synthetic preference data: each prompt has a chosen response full of "e" and a rejected one without.
function completion(group: number, prompt: string, text: string, eos = true): Completion {
  return { group, prompt, text, gold: 0, promptIds: [tok.bos, ...tok.encode(prompt)], responseIds: [...tok.encode(text), ...(eos ? [tok.eos] : [])], eos };
}
function syntheticPairs(): PreferenceData {
  const completions: Completion[] = [];
  const pairs: PreferenceData["pairs"] = [];
  PROMPTS.forEach((p, g) => {
    completions.push(completion(g, p, " eee eee"), completion(g, p, " ok, no"), completion(g, p, " so so", false));
    pairs.push({ group: g, chosen: 3 * g, rejected: 3 * g + 1, p: 0.9, split: "train" });
    pairs.push({ group: g, chosen: 3 * g + 1, rejected: 3 * g + 2, p: 0.5, split: "train" }); // a gold tie
    if (g === 0) pairs.push({ group: g, chosen: 0, rejected: 2, p: 0.9, split: "heldout" });
  });
  return { completions, pairs, beta: 10 };
}

describe("sequence log-probs", () => {
  it("sum over the response tokens (EOS included), at temperature 1, the same in any batch", () => {
    const m = new GPT(modelCfg, { seed: 3 });
    const data = syntheticPairs();
    const batch = completionBatch(data.completions.slice(0, 3), tok.pad);
    const lp = sequenceLogprobs(m, batch);
    const mask = batch.mask.arraySync() as number[][];
    assert.deepEqual(mask.map((r) => r.reduce((a, b) => a + b, 0)), [9, 8, 6]); // " eee eee" + EOS, " ok, no" + EOS, " so so" (cut before its EOS)
    // independently: the model on each unpadded sequence alone, log-softmax of its logits, the response tokens' entries
    data.completions.slice(0, 3).forEach((c, b) => {
      const ids = [...c.promptIds, ...c.responseIds];
      const logits = tf.tidy(() => m.forward(tf.tensor2d([ids], [1, ids.length], "int32")).logits.arraySync()[0] as number[][]);
      let want = 0;
      for (let t = c.promptIds.length; t < ids.length; t++) {
        const row = logits[t - 1], top = Math.max(...row);
        want += row[ids[t]] - top - Math.log(row.reduce((a, x) => a + Math.exp(x - top), 0));
      }
      assert.ok(Math.abs(lp.dataSync()[b] - want) < 1e-4, `completion ${b}: ${lp.dataSync()[b]} vs ${want}`);
    });
    const alone = completionLogprobs(m, data.completions, tok.pad, 2); // other batches, other padding
    lp.dataSync().forEach((v, b) => assert.ok(Math.abs(v - alone[b]) < 1e-4, `${v} vs ${alone[b]}`));
    tf.dispose([lp, batch.queries, batch.queryMask, batch.responses, batch.mask]);
    m.dispose();
  });

  it("fittingBatches: a long prompt and a long response never share a batch wider than the context", () => {
    const mk = (p: number, t: number): Completion => ({ group: 0, prompt: "", text: "", gold: 0, promptIds: Array(p).fill(tok.bos), responseIds: Array(t).fill(65), eos: false });
    const cs = [mk(20, 5), mk(1, 60), mk(3, 4), mk(22, 10), mk(2, 40)];
    const groups = fittingBatches(cs, [0, 1, 2, 3, 4], 64);
    assert.deepEqual(groups.flat().sort(), [0, 1, 2, 3, 4]);
    for (const g of groups) assert.ok(Math.max(...g.map((i) => cs[i].promptIds.length)) + Math.max(...g.map((i) => cs[i].responseIds.length)) <= 64, `${g}`);
    assert.deepEqual(fittingBatches(cs, [0, 2, 3], 64, 2).map((g) => g.length), [2, 1]);
    assert.throws(() => fittingBatches([mk(10, 60)], [0], 64), /10 prompt \+ 60 response tokens exceed the model context of 64/);
  });

  it("pairs: train split, gold ties dropped on request; the plan covers each pair once an epoch, max_steps caps it", () => {
    const data = syntheticPairs();
    assert.equal(dpoPairs(data, false).length, 16);
    assert.equal(dpoPairs(data, true).length, 8);
    const plan = dpoBatches(8, { epochs: 2, batch_size: 3, max_steps: null }, new Rng(1));
    assert.deepEqual(plan.map((s) => s.length), [3, 3, 2, 3, 3, 2]);
    assert.deepEqual(plan.slice(0, 3).flat().sort(), [...Array(8).keys()]);
    assert.equal(dpoBatches(8, { epochs: 2, batch_size: 3, max_steps: 4 }, new Rng(1)).length, 4);
  });
});

describe("trainDpo on a tiny random model", () => {
  function tinyCfg(over: string[]): Config {
    const base = withOverrides(smoke, ["ppo.eval_prompts=4", "ppo.max_new_tokens=4", ...over]);
    return { ...base, paths: { checkpoints: path.join(tmp, "ck"), runs: path.join(tmp, "runs") } };
  }

  it("lowers the training loss from log 2, raises the chosen responses over the rejected, leaks no tensors, writes its files", async () => {
    const cfg = tinyCfg(["dpo.epochs=6", "dpo.batch_size=4", "dpo.max_steps=null", "dpo.lr=0.002", "dpo.warmup_steps=0", "dpo.eval_every=6"]);
    const sft = new GPT(modelCfg, { seed: 4 });
    const data = syntheticPairs();
    const n0 = tf.memory().numTensors;
    const run = await trainDpo(cfg, { sft, tok, data, reward: shareOfE() }, { log: () => {} });
    const rows = run.metrics.rows().filter((r) => r.step > 0);
    assert.equal(rows.length, 12); // 8 pairs (ties dropped) / 4 a step x 6 epochs
    assert.ok(Math.abs((rows[0].loss as number) - Math.log(2)) < 1e-5, `first loss ${rows[0].loss}: policy == reference`);
    const last = rows.slice(-2).map((r) => r.loss as number);
    assert.ok(last.every((l) => l < 0.6), `last losses ${last}`);
    assert.ok((rows[rows.length - 1].margin as number) > 0 && (rows[rows.length - 1].accuracy as number) > 0.5);
    // held-out evaluations at steps 0, 6, 12, with PPO's columns
    const evals = run.metrics.rows().filter((r) => r["eval/gold"] !== null);
    assert.deepEqual(evals.map((r) => r.step), [0, 6, 12]);
    assert.equal(evals[0]["eval/kl"], 0);
    assert.ok((evals[2]["eval/kl"] as number) > 0);
    const runs = path.join(tmp, "runs", "dpo");
    const csv = MetricsLog.readCsv(path.join(runs, "metrics.csv"));
    for (const k of EVAL_METRICS) assert.ok(csv.columns.includes(k), k);
    const summary = JSON.parse(fs.readFileSync(path.join(runs, "summary.json"), "utf8"));
    assert.equal(summary.steps, 12);
    assert.equal(summary.pairs_train, 8);
    assert.ok(fs.existsSync(path.join(tmp, "ck", "dpo", "model.json")));
    run.model.dispose();
    assert.equal(tf.memory().numTensors, n0, "everything but the caller's models is freed");
    sft.dispose();
  });

  it("dpoConfig: dpo.* overrides only, outputs under dpo/<name>", () => {
    const base = tinyCfg([]);
    const v = dpoConfig(base, "b0.3", ["dpo.beta=0.3"]);
    assert.equal(v.dpo.beta, 0.3);
    assert.equal(v.paths.runs, path.join(base.paths.runs, "dpo", "b0.3"));
    assert.throws(() => dpoConfig(base, "x", ["ppo.lr=0.1"]), /only dpo\.\* keys may change.*ppo changed/);
    assert.throws(() => dpoConfig(base, "../x", []), /dpo name/);
    assert.throws(() => dpoConfig(base, "x", ["dpo.beta=0"]), /dpo\.beta/);
  });
});
