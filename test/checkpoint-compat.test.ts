// Checkpoints outlive the code that wrote them: their config hash covers the config, never file paths, so moving
// lib/ into folders must leave every saved checkpoint valid. The fixture is a smoke SFT checkpoint with the logits it
// gave on one sentence, both written by the code before lib/ moved (commit b8806f7); the moved code must load it,
// accept it as the smoke config's SFT stage, and give the same logits.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { loadConfig } from "../lib/core/config";
import { loadCheckpoint, readCheckpointConfig } from "../lib/train/checkpoint";
import { stageRecord, type StageConfigRecord } from "../lib/pipeline/stage";

const FIX = path.join(__dirname, "fixtures");
const DIR = path.join(FIX, "smoke-sft-checkpoint");

test("a checkpoint written before the move loads with the moved code, matches the smoke config, and gives the same logits", async () => {
  await initBackend();
  const want = JSON.parse(fs.readFileSync(path.join(FIX, "smoke-sft-logits.json"), "utf8")) as { text: string; ids: number[]; logits: number[][] };
  const saved = readCheckpointConfig<StageConfigRecord>(DIR);
  const cfg = loadConfig(path.join(__dirname, "..", "config", "smoke.yaml"));
  assert.equal(saved?.hash, stageRecord(cfg, "sft").hash, "the smoke config's SFT hash no longer matches the saved one");
  const { model, tokenizer } = loadCheckpoint(DIR);
  try {
    assert.deepEqual(tokenizer.encode(want.text), want.ids);
    const got = tf.tidy(() => model.forward(tf.tensor2d([want.ids], [1, want.ids.length], "int32")).logits.arraySync()[0]);
    assert.equal(got.length, want.logits.length);
    let worst = 0;
    for (let t = 0; t < got.length; t++) for (let v = 0; v < got[t].length; v++) worst = Math.max(worst, Math.abs(got[t][v] - want.logits[t][v]));
    assert.ok(worst < 1e-4, `largest logit difference ${worst}`);
  } finally {
    model.dispose();
  }
});
