// tools/generate.ts, run as the learner runs it: JSON lines on stdout, the mean gold on stderr, errors that say why.
import { before, after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { initBackend } from "../lib/core/backend";
import { GPT } from "../lib/lm/model";
import { saveCheckpoint } from "../lib/train/checkpoint";
import { goldScore } from "../lib/reward/labeller";
import { trainTokenizer } from "../lib/lm/tokenizer";

let root: string;
before(async () => {
  await initBackend();
  root = fs.mkdtempSync(path.join(os.tmpdir(), "generate-test-"));
  const tok = trainTokenizer("the food was good. the service was bad. great place!".repeat(20), { kind: "bpe", vocab_size: 280 });
  const model = new GPT({ vocab_size: tok.vocabSize, context: 32, d_model: 16, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 3 });
  await saveCheckpoint(path.join(root, "ck"), { model, tokenizer: tok, config: { stage: "sft" } });
  model.dispose();
  fs.writeFileSync(path.join(root, "prompts.txt"), "The food\n\nGreat place\n");
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const run = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "tools/generate.ts", ...args], { encoding: "utf8", cwd: path.resolve(__dirname, "..") });

test("one JSON line per prompt and sample, gold = VADER of prompt + completion, the mean on stderr; same seed, same lines", () => {
  const args = ["--checkpoint", path.join(root, "ck"), "--prompts", path.join(root, "prompts.txt"), "--samples", "3", "--max-new-tokens", "6", "--seed", "4"];
  const r = run(...args);
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { prompt: string; completion: string; gold: number });
  assert.deepEqual(rows.map((x) => x.prompt), ["The food", "The food", "The food", "Great place", "Great place", "Great place"]);
  for (const x of rows) assert.equal(x.gold, goldScore(x.prompt + x.completion));
  const mean = rows.reduce((a, x) => a + x.gold, 0) / rows.length;
  assert.match(r.stderr, new RegExp(`mean gold ${mean.toFixed(3).replace("-", "\\-")} over 6 completions \\(2 prompts x 3`));
  assert.equal(run(...args).stdout, r.stdout);
});

test("errors name the problem: missing prompts file, bad flag value, unknown flag", () => {
  const ck = path.join(root, "ck");
  const missing = run("--checkpoint", ck, "--prompts", path.join(root, "nope.txt"));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /prompts file .*nope\.txt not found/);
  assert.match(run("--checkpoint", ck, "--prompts", path.join(root, "prompts.txt"), "--samples", "0").stderr, /--samples must be a positive integer, got 0/);
  assert.match(run("--checkpoint", ck, "--prompts", path.join(root, "prompts.txt"), "--bogus").stderr, /Unknown option '--bogus'/);
});
