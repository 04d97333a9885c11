// The bench (tools/bench.ts) at a unit size, so it cannot rot: the tfjs half on a tiny shape (never torch), the JSON
// summary's structure, and that the PyTorch script builds a model with the same parameter count as the course GPT.
// No timing thresholds: only that the figures are finite and positive.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as cp from "node:child_process";
import * as fs from "node:fs";
import { initBackend } from "../lib/core/backend";
import { GPT } from "../lib/lm/model";
import { SHAPES, TORCH_SCRIPT, benchTfjs, formatTable, mergeSides, modelConfig, paramCountFormula, summarize, torchPython } from "../tools/bench";

before(async () => {
  await initBackend();
});

const positive = (x: unknown) => typeof x === "number" && Number.isFinite(x) && x > 0;

test("bench: the tfjs half runs on a tiny shape and its summary has finite, positive figures", () => {
  const s = SHAPES.tiny;
  const r = benchTfjs(s, { warmup: 1, repeats: 2 });
  assert.equal(r.train_ms.length, 2);
  assert.ok(r.train_ms.every(positive) && r.score_ms.every(positive));
  assert.deepEqual(Object.keys(r.sample_ms), s.sample_batches.map(String));
  const sum = JSON.parse(JSON.stringify(summarize("tensorflow", 2, 2, { tiny: r }, undefined, "--no-torch")));
  for (const k of ["backend", "threads", "train_step_ratio_vs_torch", "rollout_ratio_vs_torch", "scoring_ratio_vs_torch", "shapes", "torch_missing"]) {
    assert.ok(k in sum, `summary lacks ${k}`);
  }
  assert.equal(sum.train_step_ratio_vs_torch, null); // no torch side: no ratio
  assert.equal(sum.torch_missing, "--no-torch");
  const t = sum.shapes.tiny.tfjs;
  assert.ok(positive(t.train_ms) && positive(t.score_ms) && positive(t.cpu.train_ms), JSON.stringify(t));
  for (const b of s.sample_batches) assert.ok(positive(t.sample_ms[String(b)]), JSON.stringify(t));
  assert.equal(sum.shapes.tiny.params, paramCountFormula(s));
  assert.match(formatTable(sum, { tiny: s }), /train B4xT16/);
});

test("bench: with a torch side the ratios are tfjs / torch", () => {
  const t = (ms: number) => ({ train_ms: [ms], score_ms: [ms], sample_ms: { "2": [ms], "4": [ms] } });
  const side = (ms: number) => ({ params: 1, ...t(ms), cpu: t(2 * ms) });
  const sum = summarize("tensorflow", 2, 1, { tiny: side(30) }, { torch: "x", shapes: { tiny: side(10) } }, undefined);
  assert.equal(sum.train_step_ratio_vs_torch, 3);
  assert.equal(sum.scoring_ratio_vs_torch, 3);
  assert.deepEqual(sum.rollout_ratio_vs_torch, { "2": 3, "4": 3 });
  assert.equal(sum.cpu_ratios_vs_torch?.train, 3);
  const two = mergeSides(side(30), side(50));
  assert.deepEqual(two.train_ms, [30, 50]);
  assert.deepEqual(two.cpu.sample_ms["4"], [60, 100]);
});

test("bench: the parameter-count formula matches the tfjs GPT, and the PyTorch script's model when its venv exists", () => {
  for (const name of ["tiny", "course", "large"]) {
    const s = SHAPES[name];
    const m = new GPT(modelConfig(s), { seed: 0 });
    assert.equal(m.paramCount(), paramCountFormula(s), name);
    m.dispose();
  }
  assert.equal(paramCountFormula(SHAPES.course), 1_063_680);
  const py = torchPython();
  if (!fs.existsSync(py)) return; // torch lives only in the bench's own venv, never required by the tests
  for (const name of ["course"]) { // one shape: importing torch takes seconds
    const s = SHAPES[name];
    const shape = JSON.stringify({ vocab: s.vocab, context: s.context, d_model: s.d_model, layers: s.layers, heads: s.heads });
    const r = cp.spawnSync(py, [TORCH_SCRIPT, "--count-only", "--shape", shape], { encoding: "utf8" });
    if (r.status !== 0) continue; // a broken bench venv is the bench's problem, not the course's
    assert.equal(JSON.parse(r.stdout.trim().split("\n").pop()!).params, paramCountFormula(s), name);
  }
});
