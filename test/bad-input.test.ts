// Bad input, each with a named error and nothing overwritten. Every row of the tables below is one input tried and
// the error it gets: the message must name the file, the key or line, and what was expected.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { initBackend } from "../lib/core/backend";
import { saveCheckpoint } from "../lib/train/checkpoint";
import { loadConfig } from "../lib/core/config";
import { decodeUtf8, parseReviews } from "../lib/lm/data";
import { GPT } from "../lib/lm/model";
import { ensureSft } from "../lib/pipeline/stages";
import { trainTokenizer } from "../lib/lm/tokenizer";

const ROOT = path.resolve(__dirname, "..");
let tmp: string;
before(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bad-input-test-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SMOKE = fs.readFileSync(path.join(ROOT, "config/smoke.yaml"), "utf8");
/** smoke.yaml with one exact line replaced (the line must exist, so a row cannot silently edit nothing). */
function edit(from: string, to: string): string {
  assert.ok(SMOKE.includes(from), `smoke.yaml has no line "${from}"`);
  return SMOKE.replace(from, to);
}
const lineOf = (text: string, needle: string) => text.slice(0, text.indexOf(needle)).split("\n").length;

// ---------------------------------------------------------------------------------------------------------------
// Configs: [what, YAML text, the text whose line the message must give (or null), expected message]

const FLOW_MODEL = "model: {context: 32, d_model: 32, n_layers: 1, n_heads: 2, dropout: 1.5}";
const CONFIGS: [string, string, string | null, RegExp][] = [
  ["broken YAML (unclosed flow list)", edit("  steps: 30\n", "  steps: [30\n"), null, /YAML syntax error: .*/],
  ["duplicated key", edit("  steps: 30\n", "  steps: 30\n  steps: 31\n"), null, /YAML syntax error: duplicated mapping key/],
  ["unknown key", edit("  grad_clip: 1.0\n  schedule", "  grad_clip: 1.0\n  learning_rate: 3\n  schedule"), "learning_rate",
    /pretrain\.learning_rate: unknown key \(value 3\); allowed keys in pretrain: base, steps, batch_size, lr/],
  ["wrong type (string for an integer)", edit("  steps: 10\n", '  steps: "ten"\n'), 'steps: "ten"', /sft\.steps: got "ten" \(a string\); expected an integer in \[1, inf\)/],
  ["wrong type (float for an integer)", edit("  iterations: 3\n", "  iterations: 2.5\n"), "iterations: 2.5", /ppo\.iterations: got 2\.5; expected an integer in \[1, inf\)/],
  ["wrong type (list for a section)", SMOKE.replace(/^  kl:\n(    .*\n)+/m, "  kl: [1]\n"), "kl: [1]", /ppo\.kl: got a list \[1\]; expected a mapping with keys estimator/],
  ["out of range", edit("  clip_eps: 0.2 ", "  clip_eps: 1.5 "), "clip_eps: 1.5", /ppo\.clip_eps: 1\.5 is out of range; expected a number in \(0, 1\)/],
  ["out of range (checkpoint_every)", edit("checkpoint_every: 2 ", "checkpoint_every: -1 "), "checkpoint_every: -1", /checkpoint_every: -1 is out of range; expected an integer in \[0, inf\)/],
  ["enum value not allowed", edit("    estimator: k1 ", "    estimator: k4 "), "estimator: k4", /ppo\.kl\.estimator: got "k4" \(a string\); allowed: k1 \| k2 \| k3/],
  ["missing key", edit("  eval_batches: 2\n", ""), "pretrain:", /pretrain\.eval_batches: missing key; expected an integer in \[1, inf\)/],
  ["flow-style section with a bad value", SMOKE.replace(/^model:\n(  .*\n)+/m, FLOW_MODEL + "\n"), FLOW_MODEL, /model\.dropout: 1\.5 is out of range; expected a number in \[0, 1\)/],
  ["cross-key rule", edit("  n_heads: 2\n", "  n_heads: 3\n"), "d_model: 32", /model\.d_model: 32 is not divisible by model\.n_heads = 3/],
  ["empty file (no line to name: the whole file)", "", "", /the config is empty; expected a mapping with keys name, seed, checkpoint_every/],
];

describe("configs: the error names the file, the line, the key and what is allowed", () => {
  CONFIGS.forEach(([what, text, lineText, message], i) => {
    it(what, (t) => {
      const file = path.join(tmp, `config-${i}.yaml`);
      fs.writeFileSync(file, text);
      let err: Error | undefined;
      try {
        loadConfig(file);
      } catch (e) {
        err = e as Error;
      }
      assert.ok(err, "the config was accepted");
      t.diagnostic(err.message.split("\n")[0]);
      assert.match(err.message, message);
      const shown = path.relative(ROOT, file).startsWith("..") ? file : path.relative(ROOT, file);
      const expectLine = lineText === null ? ":\\d+(:\\d+)?" : lineText === "" ? "" : `:${lineOf(text, lineText)}`;
      assert.match(err.message, new RegExp(`^${shown.replace(/[.\\/]/g, "\\$&")}${expectLine}: `), `no file:line in "${err.message}"`);
    });
  });

  it("the pipeline refuses a bad config with exit code 2 and writes nothing", () => {
    const ck = path.join(tmp, "untouched");
    fs.mkdirSync(path.join(ck, "pretrain"), { recursive: true });
    fs.writeFileSync(path.join(ck, "pretrain", "model.json"), "old");
    const file = path.join(tmp, "bad-pipeline.yaml");
    fs.writeFileSync(file, edit("  checkpoints: checkpoints/smoke ", `  checkpoints: ${ck} `).replace("  clip_eps: 0.2 ", "  clip_eps: 7 "));
    const r = spawnSync(process.execPath, ["--import", "tsx", "tools/pipeline.ts", "--stage", "pretrain", "--config", file], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /invalid config, nothing was run\.\n.*bad-pipeline\.yaml:\d+: ppo\.clip_eps: 7 is out of range/);
    assert.deepEqual(fs.readdirSync(ck), ["pretrain"]);
    assert.equal(fs.readFileSync(path.join(ck, "pretrain", "model.json"), "utf8"), "old");
  });

  it("the pipeline refuses unknown flags and bad values with exit code 2", () => {
    const run = (...a: string[]) => spawnSync(process.execPath, ["--import", "tsx", "tools/pipeline.ts", ...a], { cwd: ROOT, encoding: "utf8" });
    const unknown = run("--stages", "all");
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /Unknown option '--stages'/);
    const stage = run("--stage", "rlhf");
    assert.equal(stage.status, 2);
    assert.match(stage.stderr, /--stage "rlhf" is not a stage; choose one of pretrain, sft, rm, ppo, study, compare, rlvr, all/);
    const help = run("--help");
    assert.equal(help.status, 0);
    assert.match(help.stdout, /exit codes: 0 done; 1 a stage failed .*\n.*2 bad arguments, an invalid config, or bad input/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Data files: [what, file name, content, expected message]

const good = (i: number) => JSON.stringify({ id: `yelp-${i}`, text: "Great food.", label: 1, source: "yelp", split: "train" });
const DATA: [string, string, Buffer | string, RegExp][] = [
  ["reviews: a row that is not JSON", "data/reviews.jsonl", `${good(1)}\n{"id": "yelp-2", "text": \n`, /^data\/reviews\.jsonl:2: not valid JSON \(.*\); expected one object \{id, text, label, source, split\} per line/],
  ["reviews: a row with a wrong field", "data/reviews.jsonl", `${good(1)}\n${good(2)}\n${good(3).replace('"label":1', '"label":2')}\n`, /^data\/reviews\.jsonl:3: malformed review .*; expected \{id: string, text: non-empty string, label: 0 \| 1/],
  ["reviews: an empty file", "data/reviews.jsonl", "\n\n", /^data\/reviews\.jsonl: no reviews; expected one JSON object per line/],
  ["corpus: bytes that are not UTF-8", "data/corpus.txt", Buffer.from([0x61, 0x0a, 0x62, 0xff, 0xfe, 0x0a]), /^data\/corpus\.txt:2: not valid UTF-8 \(an invalid byte sequence on this line\); expected UTF-8 text/],
];

describe("data files: the error names the file, the line and what was expected", () => {
  for (const [what, file, content, message] of DATA) {
    it(what, (t) => {
      const err = (() => {
        try {
          const text = decodeUtf8(typeof content === "string" ? Buffer.from(content) : content, file);
          parseReviews(text, file);
        } catch (e) {
          return e as Error;
        }
        return undefined;
      })();
      assert.ok(err, "accepted");
      t.diagnostic(err.message);
      assert.match(err.message, message);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Prompt files for generate: [what, content, exit code, expected stderr]

describe("prompt files for npm run generate", () => {
  let ck: string;
  before(async () => {
    const tok = trainTokenizer("the food was good. the service was bad. great place!".repeat(20), { kind: "bpe", vocab_size: 280 });
    const model = new GPT({ vocab_size: tok.vocabSize, context: 16, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 3 });
    ck = path.join(tmp, "gen-ck");
    await saveCheckpoint(ck, { model, tokenizer: tok, config: { stage: "sft" } });
    model.dispose();
  });
  const PROMPTS: [string, Buffer | string, number, RegExp][] = [
    ["an empty file", "", 2, /empty\.txt: no prompts \(0 lines, all empty\); expected one prompt per line/],
    ["only empty lines", "\n  \n\n", 2, /blank\.txt: no prompts \(3 lines, all empty\); expected one prompt per line/],
    ["a prompt longer than the context", "The food\nthe service was bad and the food was good and great place the food\n", 2,
      /long\.txt:2: the prompt has \d+ tokens \(BOS included\); expected at most 15, so that one new token fits the model's context of 16/],
    ["bytes that are not UTF-8", Buffer.from([0x54, 0x68, 0xe9, 0x0a]), 2, /latin1\.txt:1: not valid UTF-8 \(an invalid byte sequence on this line\); expected UTF-8 text/],
    ["empty lines among prompts: skipped and reported", "The food\n\nGreat place\n", 0, /skipped 1 empty line \(line 2\)/],
  ];
  const names = ["empty", "blank", "long", "latin1", "gaps"];
  PROMPTS.forEach(([what, content, code, message], i) => {
    it(what, (t) => {
      const file = path.join(tmp, `${names[i]}.txt`);
      fs.writeFileSync(file, content);
      const r = spawnSync(process.execPath, ["--import", "tsx", "tools/generate.ts", "--checkpoint", ck, "--prompts", file, "--max-new-tokens", "4"], { cwd: ROOT, encoding: "utf8" });
      t.diagnostic(r.stderr.split("\n").find((l) => l.startsWith("generate:")) ?? "");
      assert.equal(r.status, code, r.stderr);
      assert.match(r.stderr, message);
      if (code !== 0) assert.equal(r.stdout, "", "nothing generated");
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Too little data for a batch

describe("too little data for a batch", () => {
  it("SFT with sft.batch_size above the demonstrations: a named error before anything trains or is written (was a TypeError)", async () => {
    const file = path.join(tmp, "big-batch.yaml");
    fs.writeFileSync(file, edit("  checkpoints: checkpoints/smoke ", `  checkpoints: ${path.join(tmp, "bb", "ck")} `)
      .replace("  runs: runs/smoke ", `  runs: ${path.join(tmp, "bb", "runs")} `)
      .replace("sft:\n  steps: 10\n  batch_size: 8\n", "sft:\n  steps: 10\n  batch_size: 5000\n"));
    const cfg = loadConfig(file);
    assert.equal(cfg.sft.batch_size, 5000);
    await assert.rejects(ensureSft(cfg, { log: () => {} }), (e: Error) => {
      assert.match(e.message, /big-batch\.yaml: sft\.batch_size is 5000 but only \d+ training demonstrations fit the context \(from data\/reviews\.jsonl\); expected sft\.batch_size <= \d+/);
      return true;
    });
    assert.ok(!fs.existsSync(path.join(tmp, "bb", "ck", "sft")), "no SFT checkpoint");
    assert.ok(!fs.existsSync(path.join(tmp, "bb", "runs", "sft")), "no SFT run folder");
  });

  it("the pipeline reports it with exit code 2, the message alone (no stack), and no SFT output", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "tools/pipeline.ts", "--stage", "sft", "--config", path.join(tmp, "big-batch.yaml")], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /pipeline: bad input, the stage did not start \(nothing of it was written\)\.\n.*big-batch\.yaml: sft\.batch_size is 5000 but only \d+/);
    assert.doesNotMatch(r.stderr, /\n {4}at /, "no stack trace");
    assert.ok(!fs.existsSync(path.join(tmp, "bb", "ck", "sft")), "no SFT checkpoint");
  });
});
