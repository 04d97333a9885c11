import { before, after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { GPT, ModelConfig } from "../lib/lm/model";
import { checkpointExists, loadCheckpoint, readCheckpointConfig, saveCheckpoint } from "../lib/train/checkpoint";
import { trainTokenizer } from "../lib/lm/tokenizer";

let root: string;
before(async () => {
  await initBackend();
  root = fs.mkdtempSync(path.join(os.tmpdir(), "ckpt-test-"));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const tok = trainTokenizer("the cat sat on the mat. the dog sat on the log.".repeat(10), { kind: "bpe", vocab_size: 270 });
const cfg: ModelConfig = { vocab_size: tok.vocabSize, context: 8, d_model: 16, n_layers: 2, n_heads: 2, dropout: 0.1 };
const x = () => tf.tensor2d([[1, 2, 3, 4, 5], [260, 6, 7, 8, 9]], undefined, "int32");

test("round-trip: identical logits, tokenizer, config, extra; files in tfjs artifact format", async () => {
  const m = new GPT(cfg, { seed: 1 });
  const dir = path.join(root, "a", "pretrain");
  await saveCheckpoint(dir, { model: m, tokenizer: tok, config: { stage: "pretrain", lr: 0.002 }, extra: { val_loss: 3.2 } });
  assert.ok(checkpointExists(dir));
  const mj = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  assert.deepEqual(mj.weightsManifest[0].paths, ["weights.bin"]);
  assert.equal(mj.weightsManifest[0].weights[0].name, "wte");
  assert.deepEqual(mj.weightsManifest[0].weights[0].shape, [cfg.vocab_size, cfg.d_model]);
  assert.equal(fs.statSync(path.join(dir, "weights.bin")).size, m.paramCount() * 4);
  // What a browser would do: tfjs's own decoder reads our manifest and bytes back into the same tensors.
  const buf = fs.readFileSync(path.join(dir, "weights.bin"));
  const decoded = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer, mj.weightsManifest[0].weights);
  assert.deepEqual(Array.from(decoded["h1.mlp.w_fc"].dataSync()), Array.from(m.namedVariables().get("h1.mlp.w_fc")!.dataSync()));

  const back = loadCheckpoint<{ stage: string; lr: number }, { val_loss: number }>(dir);
  assert.deepEqual(back.config, { stage: "pretrain", lr: 0.002 });
  assert.deepEqual(back.extra, { val_loss: 3.2 });
  assert.deepEqual(back.model.config, m.config);
  assert.deepEqual(back.tokenizer.encode("the cat"), tok.encode("the cat"));
  const a = m.forward(x()).logits.dataSync(), b = back.model.forward(x()).logits.dataSync();
  assert.deepEqual(Array.from(b), Array.from(a)); // bit-identical
  assert.deepEqual(readCheckpointConfig(dir), { stage: "pretrain", lr: 0.002 });
  m.dispose();
  back.model.dispose();
});

test("head: saved with a reward head loads identical scores; loading as 'value' keeps the trunk, new head", async () => {
  const m = new GPT(cfg, { seed: 2, head: "reward" });
  const dir = path.join(root, "rm");
  await saveCheckpoint(dir, { model: m, tokenizer: tok, config: {} });
  const same = loadCheckpoint(dir).model;
  assert.equal(same.head, "reward");
  assert.deepEqual(Array.from(same.scalar(same.forward(x()).hidden).dataSync()), Array.from(m.scalar(m.forward(x()).hidden).dataSync()));
  const asValue = loadCheckpoint(dir, { head: "value" }).model;
  assert.equal(asValue.head, "value");
  assert.deepEqual(Array.from(asValue.forward(x()).hidden.dataSync()), Array.from(m.forward(x()).hidden.dataSync()));
  const plain = loadCheckpoint(dir, { head: "none" }).model;
  assert.equal(plain.paramCount(), m.paramCount() - cfg.d_model - 1);
  [m, same, asValue, plain].forEach((g) => g.dispose());
});

test("a second save replaces the first; no temp or .prev folders remain", async () => {
  const dir = path.join(root, "replace");
  const m1 = new GPT(cfg, { seed: 3 }), m2 = new GPT(cfg, { seed: 4 });
  await saveCheckpoint(dir, { model: m1, tokenizer: tok, config: { v: 1 } });
  await saveCheckpoint(dir, { model: m2, tokenizer: tok, config: { v: 2 } });
  const back = loadCheckpoint(dir);
  assert.deepEqual(back.config, { v: 2 });
  assert.deepEqual(Array.from(back.model.forward(x()).logits.dataSync()), Array.from(m2.forward(x()).logits.dataSync()));
  assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith("replace")), ["replace"]);
  [m1, m2, back.model].forEach((g) => g.dispose());
});

test("a save that fails before the swap leaves the previous checkpoint loadable", async () => {
  const dir = path.join(root, "fail");
  const m1 = new GPT(cfg, { seed: 5 }), m2 = new GPT(cfg, { seed: 6 });
  await saveCheckpoint(dir, { model: m1, tokenizer: tok, config: { v: 1 } });
  await assert.rejects(saveCheckpoint(dir, { model: m2, tokenizer: tok, config: { v: 2 } }, { beforeCommit: () => { throw new Error("disk full"); } }), /disk full/);
  const back = loadCheckpoint(dir);
  assert.deepEqual(back.config, { v: 1 });
  assert.deepEqual(Array.from(back.model.forward(x()).logits.dataSync()), Array.from(m1.forward(x()).logits.dataSync()));
  [m1, m2, back.model].forEach((g) => g.dispose());
});

test("a process killed mid-save (SIGKILL) leaves the previous checkpoint loadable; the next save cleans up", async () => {
  const dir = path.join(root, "killed");
  const m1 = new GPT(cfg, { seed: 7 });
  await saveCheckpoint(dir, { model: m1, tokenizer: tok, config: { v: 1 } });
  const child = `
    const { initBackend } = require("./lib/core/backend");
    const { GPT } = require("./lib/lm/model");
    const { saveCheckpoint } = require("./lib/train/checkpoint");
    const { Tokenizer } = require("./lib/lm/tokenizer");
    initBackend().then(async () => {
      const tok = Tokenizer.fromJSON(${JSON.stringify(tok.toJSON())});
      const m = new GPT(${JSON.stringify(cfg)}, { seed: 8 });
      await saveCheckpoint(${JSON.stringify(dir)}, { model: m, tokenizer: tok, config: { v: 2 } },
        { beforeCommit: () => process.kill(process.pid, "SIGKILL") });
    });`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", child], { cwd: path.join(__dirname, ".."), encoding: "utf8" });
  assert.equal(r.signal, "SIGKILL", `child did not die as planned: ${r.stderr}`);
  assert.ok(fs.readdirSync(root).some((n) => n.startsWith("killed.tmp-")), "the killed save left its temp folder");
  const back = loadCheckpoint(dir);
  assert.deepEqual(back.config, { v: 1 });
  assert.deepEqual(Array.from(back.model.forward(x()).logits.dataSync()), Array.from(m1.forward(x()).logits.dataSync()));
  await saveCheckpoint(dir, { model: m1, tokenizer: tok, config: { v: 3 } });
  assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith("killed")), ["killed"]);
  [m1, back.model].forEach((g) => g.dispose());
});

test("a crash between the two renames (only <dir>.prev left) is restored on the next read", async () => {
  const dir = path.join(root, "swap");
  const m = new GPT(cfg, { seed: 9 });
  await saveCheckpoint(dir, { model: m, tokenizer: tok, config: { v: 1 } });
  fs.renameSync(dir, `${dir}.prev`); // the state right after the first rename
  assert.ok(checkpointExists(dir));
  assert.deepEqual(loadCheckpoint(dir).config, { v: 1 });
  m.dispose();
});

test("loading names the weights that do not match (shape, missing) and refuses a truncated file", async () => {
  const dir = path.join(root, "bad");
  const m = new GPT(cfg, { seed: 10 });
  await saveCheckpoint(dir, { model: m, tokenizer: tok, config: {} });
  const file = path.join(dir, "model.json");
  const mj = JSON.parse(fs.readFileSync(file, "utf8"));
  const good = JSON.stringify(mj);
  // Claim a bigger context in the topology: wpe no longer fits the model built from it.
  mj.modelTopology.config.context = 9;
  fs.writeFileSync(file, JSON.stringify(mj));
  assert.throws(() => loadCheckpoint(dir), /"wpe" has shape \[8,16\], the model expects \[9,16\]/);
  // Drop a weight from the manifest (and its bytes): the loader names it.
  const mj2 = JSON.parse(good);
  const ws = mj2.weightsManifest[0].weights;
  const last = ws.pop();
  fs.writeFileSync(file, JSON.stringify(mj2));
  const bin = fs.readFileSync(path.join(dir, "weights.bin"));
  fs.writeFileSync(path.join(dir, "weights.bin"), bin.subarray(0, bin.length - last.shape.reduce((a: number, b: number) => a * b, 1) * 4));
  assert.throws(() => loadCheckpoint(dir), new RegExp(`missing "${last.name.replace(".", "\\.")}"`));
  fs.writeFileSync(path.join(dir, "weights.bin"), bin.subarray(0, 100));
  assert.throws(() => loadCheckpoint(dir), /has 100 bytes, the manifest describes/);
  assert.throws(() => loadCheckpoint(path.join(root, "nothing-here")), /no complete checkpoint/);
  m.dispose();
});
