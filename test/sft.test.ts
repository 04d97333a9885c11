import { before, after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { loadConfig, Config } from "../lib/core/config";
import { Demonstration } from "../lib/lm/data";
import { GPT } from "../lib/lm/model";
import { trainTokenizer } from "../lib/lm/tokenizer";
import { encodeDemonstrations, sftBatch, sftLoss } from "../lib/train/sft";
import { ensureSft } from "../lib/pipeline/stages";
import { checkpointMismatch } from "../lib/pipeline/stage";
import { ensurePretrained } from "../lib/pipeline/stages";
import { generate } from "../lib/lm/sample";

let tmp: string;
before(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sft-test-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const tok = trainTokenizer("the food was great. the food was bad. the movie was great fun.".repeat(20), { kind: "bpe", vocab_size: 280 });
const demo = (prompt: string, response: string): Demonstration => ({ prompt, response, id: "x", label: 1, source: "yelp" });

test("demonstrations: BOS + prompt + response + EOS; too-long ones dropped and counted", () => {
  const { examples, dropped } = encodeDemonstrations([demo("the food", " was great."), demo("the movie", " was great fun.".repeat(20))], tok, 16);
  assert.equal(dropped, 1);
  const e = examples[0];
  assert.deepEqual(e.ids, [tok.bos, ...tok.encode("the food"), ...tok.encode(" was great."), tok.eos]);
  assert.equal(e.promptLen, 1 + tok.encode("the food").length);
  assert.equal(tok.decode(e.ids), "the food was great.");
});

test("SFT batch: targets shifted by one, mask = response targets (EOS included), right padding masked", () => {
  const { examples } = encodeDemonstrations([demo("the food", " was great."), demo("the", " food was bad.")], tok, 32);
  const { x, y, mask } = sftBatch(examples, tok.pad);
  const X = x.arraySync(), Y = y.arraySync(), M = mask.arraySync();
  const T = Math.max(...examples.map((e) => e.ids.length)) - 1;
  assert.deepEqual(x.shape, [2, T]);
  examples.forEach((e, r) => {
    const n = e.ids.length;
    for (let t = 0; t < T; t++) {
      if (t < n - 1) {
        assert.equal(X[r][t], e.ids[t]);
        assert.equal(Y[r][t], e.ids[t + 1]);
        assert.equal(M[r][t], t + 1 >= e.promptLen ? 1 : 0, `row ${r} t ${t}`);
      } else {
        assert.equal(X[r][t], tok.pad);
        assert.equal(M[r][t], 0);
      }
    }
    // Exactly the response tokens and EOS are learned.
    const learned = M[r].reduce((s, v) => s + v, 0);
    assert.equal(learned, n - e.promptLen);
    assert.equal(Y[r][n - 2], tok.eos);
    assert.equal(M[r][n - 2], 1);
  });
});

test("SFT loss = mean over response tokens of -log p, computed by hand from the logits", () => {
  const m = new GPT({ vocab_size: tok.vocabSize, context: 32, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 3 });
  const { examples } = encodeDemonstrations([demo("the food", " was great."), demo("the", " food was bad.")], tok, 32);
  const { x, y, mask } = sftBatch(examples, tok.pad);
  const loss = sftLoss(m, x, y, mask, false).dataSync()[0];
  const logits = m.forward(x).logits.arraySync();
  const Y = y.arraySync(), M = mask.arraySync();
  let sum = 0, n = 0;
  logits.forEach((row, r) => row.forEach((l, t) => {
    if (!M[r][t]) return;
    const mx = Math.max(...l);
    const lse = mx + Math.log(l.reduce((s, v) => s + Math.exp(v - mx), 0));
    sum += lse - l[Y[r][t]];
    n++;
  }));
  assert.ok(Math.abs(loss - sum / n) < 1e-4, `${loss} vs ${sum / n}`);
  // Changing a prompt token's target does not change the loss (it is masked out); changing a response target does.
  const Y2 = Y.map((row) => row.slice());
  Y2[0][0] = (Y2[0][0] + 1) % tok.vocabSize;
  assert.equal(sftLoss(m, x, tf.tensor2d(Y2, undefined, "int32"), mask, false).dataSync()[0], loss);
  const Y3 = Y.map((row) => row.slice());
  Y3[0][examples[0].promptLen] = (Y3[0][examples[0].promptLen] + 1) % tok.vocabSize;
  assert.notEqual(sftLoss(m, x, tf.tensor2d(Y3, undefined, "int32"), mask, false).dataSync()[0], loss);
  m.dispose();
});

test("generate: greedy continuation equals the argmax of a full forward pass; stops at EOS; seeded sampling repeats", () => {
  const m = new GPT({ vocab_size: tok.vocabSize, context: 24, d_model: 16, n_layers: 2, n_heads: 2, dropout: 0.1 }, { seed: 5 });
  const prompts = ["the food", "the movie was"];
  const g = generate(m, tok, prompts, { maxNewTokens: 6, temperature: 0, seed: 1 });
  g.forEach((gen, r) => {
    // Re-derive greedily with full forward passes, no cache, no padding.
    const ids = [tok.bos, ...tok.encode(prompts[r])];
    const want: number[] = [];
    for (let i = 0; i < gen.tokens.length; i++) {
      const logits = m.forward(tf.tensor2d([ids], undefined, "int32")).logits;
      const next = tf.argMax(logits.slice([0, ids.length - 1, 0], [1, 1, -1]).reshape([-1])).dataSync()[0];
      want.push(next);
      ids.push(next);
      if (next === tok.eos) break;
    }
    assert.deepEqual(gen.tokens, want);
    assert.equal(gen.ended, want[want.length - 1] === tok.eos);
  });
  const a = generate(m, tok, prompts, { maxNewTokens: 6, temperature: 1, seed: 7 });
  const b = generate(m, tok, prompts, { maxNewTokens: 6, temperature: 1, seed: 7 });
  assert.deepEqual(a, b);
  assert.throws(() => generate(m, tok, prompts, { maxNewTokens: 24, temperature: 1, seed: 1 }), /exceeds the model context of 24/);
  m.dispose();
});

test("generate: a model that always says EOS ends every row after one token, and the tensor count stays flat", () => {
  const m = new GPT({ vocab_size: tok.vocabSize, context: 24, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 6 });
  const before = tf.memory().numTensors;
  const normal = generate(m, tok, ["the food", "the"], { maxNewTokens: 5, temperature: 1, seed: 2 });
  assert.ok(normal.every((g) => g.tokens.length === 5 || g.ended));
  assert.equal(tf.memory().numTensors, before);
  // ln_f with gain 0 and shift 1 makes every final hidden state the all-ones vector, so logit(v) = sum(wte[v]):
  // a row of 50s for EOS makes it the only plausible token.
  const v = m.namedVariables();
  v.get("ln_f.gamma")!.assign(tf.zeros([16]));
  v.get("ln_f.beta")!.assign(tf.ones([16]));
  const rows = v.get("wte")!.arraySync() as number[][];
  rows[tok.eos] = rows[tok.eos].map(() => 50);
  v.get("wte")!.assign(tf.tensor2d(rows));
  const g = generate(m, tok, ["the food", "the"], { maxNewTokens: 5, temperature: 1, seed: 2 });
  for (const gen of g) {
    assert.deepEqual(gen.tokens, [tok.eos]);
    assert.equal(gen.ended, true);
    assert.equal(gen.completion, "");
  }
  m.dispose();
});

test("generate draws with the rollout sampler: PAD and BOS are never drawn, even when the model prefers them", () => {
  const m = new GPT({ vocab_size: tok.vocabSize, context: 24, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 7 });
  // As above: every final hidden state is all ones, so logit(v) = sum(wte[v]); PAD and BOS get 50 each.
  const v = m.namedVariables();
  v.get("ln_f.gamma")!.assign(tf.zeros([16]));
  v.get("ln_f.beta")!.assign(tf.ones([16]));
  const rows = v.get("wte")!.arraySync() as number[][];
  for (const id of [tok.pad, tok.bos]) rows[id] = rows[id].map(() => 50);
  v.get("wte")!.assign(tf.tensor2d(rows));
  for (const temperature of [0, 1]) {
    for (const g of generate(m, tok, ["the food", "the"], { maxNewTokens: 5, temperature, seed: 3 })) {
      assert.ok(!g.tokens.includes(tok.pad) && !g.tokens.includes(tok.bos), `temperature ${temperature}: ${g.tokens}`);
    }
  }
  m.dispose();
});

function tinyConfig(): Config {
  const cfg = loadConfig("config/smoke.yaml");
  cfg.paths.checkpoints = path.join(tmp, "checkpoints");
  cfg.paths.runs = path.join(tmp, "runs");
  cfg.pretrain.steps = 4;
  cfg.pretrain.eval_every = 2;
  cfg.pretrain.eval_batches = 1;
  cfg.sft.steps = 3;
  cfg.sft.eval_every = 3;
  return cfg;
}

test("ensureSft trains pretrain + SFT once, writes checkpoints and runs, then reuses them; a config change retrains", async () => {
  const cfg = tinyConfig();
  const quiet = { log: () => {} };
  const first = await ensureSft(cfg, quiet);
  assert.equal(first.trained, true);
  for (const f of ["pretrain/model.json", "pretrain/weights.bin", "pretrain/tokenizer.json", "pretrain/config.json", "sft/model.json"]) {
    assert.ok(fs.existsSync(path.join(cfg.paths.checkpoints, f)), f);
  }
  const csv = fs.readFileSync(path.join(cfg.paths.runs, "pretrain", "metrics.csv"), "utf8").trim().split("\n");
  assert.deepEqual(csv[0].split(",").slice(0, 5), ["step", "loss", "lr", "grad_norm", "tokens"]);
  assert.equal(csv.length, 1 + cfg.pretrain.steps);
  const ps = JSON.parse(fs.readFileSync(path.join(cfg.paths.runs, "pretrain", "summary.json"), "utf8"));
  for (const k of ["val_loss", "unigram_val_loss", "tokens", "seconds"]) assert.equal(typeof ps[k], "number", k);
  assert.equal(ps.tokens, cfg.pretrain.steps * cfg.pretrain.batch_size * cfg.model.context);
  const ss = JSON.parse(fs.readFileSync(path.join(cfg.paths.runs, "sft", "summary.json"), "utf8"));
  for (const k of ["val_loss_before", "val_loss_after", "seconds"]) assert.equal(typeof ss[k], "number", k);

  const again = await ensureSft(cfg, quiet);
  assert.equal(again.trained, false);
  const x = tf.tensor2d([[1, 2, 3]], undefined, "int32");
  assert.deepEqual(Array.from(again.model.forward(x).logits.dataSync()), Array.from(first.model.forward(x).logits.dataSync()));
  assert.equal(again.metrics?.length, cfg.sft.steps);

  cfg.sft.lr = 0.001; // SFT changed, pretraining did not
  assert.match(checkpointMismatch(cfg, "sft"), /sft\.lr 0\.0005 -> 0\.001/);
  assert.equal(checkpointMismatch(cfg, "pretrain"), "");
  const pre = await ensurePretrained(cfg, quiet);
  assert.equal(pre.trained, false);
  [first.model, again.model, pre.model].forEach((m) => m.dispose());
});

test("length-grouped batches: every index at most once per epoch, full batches, less padding than random batches", () => {
  const { Rng } = require("../lib/core/rng") as typeof import("../lib/core/rng");
  const { lengthGroupedBatches } = require("../lib/train/sft") as typeof import("../lib/train/sft");
  const rng = new Rng(1);
  const examples = Array.from({ length: 100 }, (_, i) => ({ demo: demo("a", " b"), ids: new Array(3 + ((i * 37) % 50)).fill(1), promptLen: 2 }));
  const batches = lengthGroupedBatches(examples, 8, rng);
  const seen = batches.flat();
  assert.equal(new Set(seen).size, seen.length);
  assert.ok(batches.every((b) => b.length === 8));
  assert.equal(seen.length, 96); // chunks of 64: 8 batches, then 36 -> 4 batches; 4 examples wait for the next epoch
  const padded = (bs: number[][]) => bs.reduce((s, b) => s + b.length * Math.max(...b.map((i) => examples[i].ids.length)), 0);
  const random = new Rng(1).permutation(100).slice(0, seen.length);
  const randomBatches = Array.from({ length: batches.length }, (_, k) => random.slice(k * 8, k * 8 + 8));
  assert.ok(padded(batches) < 0.8 * padded(randomBatches), `${padded(batches)} vs ${padded(randomBatches)}`);
});

test("pretraining pieces: batch split into inputs/targets; unigram baseline by hand", () => {
  const { batchToTensors, unigramLoss } = require("../lib/lm/pretrain-data") as typeof import("../lib/lm/pretrain-data");
  const b = { tokens: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), batchSize: 2, length: 4, reviewRows: 0 };
  const { x, y } = batchToTensors(b);
  assert.deepEqual(x.arraySync(), [[1, 2, 3], [5, 6, 7]]);
  assert.deepEqual(y.arraySync(), [[2, 3, 4], [6, 7, 8]]);
  // Vocabulary of 3 (a toy tokenizer stand-in); corpus counts {0: 3, 1: 1}, reviews counts {2: 2}; add-one smoothing.
  const data = {
    tokenizer: { vocabSize: 3 }, corpusTrain: Int32Array.from([0, 0, 0, 1]), reviewsTrain: [Int32Array.from([2, 2])],
  } as unknown as import("../lib/lm/pretrain-data").PretrainData;
  const f = 0.25;
  const pc = [4 / 7, 2 / 7, 1 / 7], pr = [1 / 5, 1 / 5, 3 / 5]; // (count + 1) / (n + V)
  const p = pc.map((c, i) => (1 - f) * c + f * pr[i]);
  const val = { tokens: Int32Array.from([9, 0, 2, 2]), batchSize: 1, length: 4, reviewRows: 0 }; // targets 0, 2, 2
  const want = -(Math.log(p[0]) + 2 * Math.log(p[2])) / 3;
  assert.ok(Math.abs(unigramLoss(data, f, [val]) - want) < 1e-12);
});
