// Resume: each stage of the smoke config is killed (SIGKILL) mid-run after a resumable checkpoint, continued with
// `npm run pipeline -- --stage <s> --resume`, and must end exactly where an uninterrupted run ends: the same
// metrics.csv (timing columns aside), the same summary.json figures and bit-identical weights.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";

const ROOT = path.resolve(__dirname, "..");
let tmp: string;
const cfgFile = (run: string) => path.join(tmp, `${run}.yaml`);
const ckpt = (run: string, ...p: string[]) => path.join(tmp, run, "checkpoints", ...p);
const runs = (run: string, ...p: string[]) => path.join(tmp, run, "runs", ...p);

function writeConfig(run: string): void {
  const text = fs.readFileSync(path.join(ROOT, "config/smoke.yaml"), "utf8")
    .replace(/^  checkpoints: .*$/m, `  checkpoints: ${ckpt(run)}`)
    .replace(/^  runs: .*$/m, `  runs: ${runs(run)}`);
  fs.writeFileSync(cfgFile(run), text);
}

const pipeline = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "tools/pipeline.ts", ...args], { cwd: ROOT, encoding: "utf8" });

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "resume-test-"));
  writeConfig("a");
  writeConfig("b");
  const r = pipeline("--stage", "all", "--config", cfgFile("a"));
  assert.equal(r.status, 0, `uninterrupted run failed: ${r.stderr}`);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TIMING = /^(time\/|seconds|train_seconds|sft_seconds|ms_per_step|cpu_seconds)/;

/** metrics.csv without its timing columns. */
function metricsWithoutTiming(file: string): string[][] {
  const rows = fs.readFileSync(file, "utf8").trim().split("\n").map((l) => l.split(","));
  const keep = rows[0].map((c, j) => (TIMING.test(c) ? -1 : j)).filter((j) => j >= 0);
  return rows.map((r) => keep.map((j) => r[j]));
}

function summaryWithoutTiming(file: string): Record<string, unknown> {
  const s = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(s).filter(([k]) => !TIMING.test(k)));
}

/** The child that is killed: runs the stage of run `run`'s config in-process and SIGKILLs itself right after the step `killAt`. */
function killedRun(stage: string, killAt: number, run = "b"): SpawnSyncReturns<string> {
  const call: Record<string, string> = {
    pretrain: `require("./lib/pipeline/stages").ensurePretrained(cfg, { log, onStep: kill })`,
    sft: `require("./lib/pipeline/stages").ensureSft(cfg, { log, onStep: kill })`,
    rm: `require("./lib/pipeline/stages").ensureRewardModel(cfg, { log, onStep: kill })`,
    ppo: `require("./lib/pipeline/stages").runPpo(cfg, { log, onIteration: kill })`,
  };
  const script = `
    const { initBackend } = require("./lib/core/backend");
    const cfg = require("./lib/core/config").loadConfig(${JSON.stringify(cfgFile(run))});
    const log = () => {};
    const kill = (step) => { if (step === ${killAt}) process.kill(process.pid, "SIGKILL"); };
    initBackend().then(() => ${call[stage]});`;
  return spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: ROOT, encoding: "utf8" });
}

// killAt: the step index the stage's callback reports (pretrain/sft 0-based, rm/ppo 1-based). With the smoke
// config's checkpoint_every 2 the last save before the kill is a step or two earlier, so resuming replays steps.
for (const [stage, killAt] of [["pretrain", 4], ["sft", 4], ["rm", 3], ["ppo", 2]] as const) {
  test(`${stage}: killed mid-run, resumed with --resume, ends exactly like the uninterrupted run`, () => {
    const k = killedRun(stage, killAt);
    assert.equal(k.signal, "SIGKILL", `the child was not killed as planned: ${k.stderr}`);
    assert.ok(fs.existsSync(ckpt("b", "resume", stage, "resume.json")), "no resumable checkpoint was left");
    assert.ok(!fs.existsSync(runs("b", stage, "summary.json")), "a killed stage must not leave a summary");
    const r = pipeline("--stage", stage, "--config", cfgFile("b"), "--resume");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`${stage}: resumed from .* at step \\d+`));
    assert.deepEqual(metricsWithoutTiming(runs("b", stage, "metrics.csv")), metricsWithoutTiming(runs("a", stage, "metrics.csv")));
    assert.deepEqual(summaryWithoutTiming(runs("b", stage, "summary.json")), summaryWithoutTiming(runs("a", stage, "summary.json")));
    assert.ok(fs.readFileSync(ckpt("b", stage, "weights.bin")).equals(fs.readFileSync(ckpt("a", stage, "weights.bin"))), "weights differ");
    assert.ok(!fs.existsSync(ckpt("b", "resume", stage)), "the resumable checkpoint is removed once the stage is done");
  });
}

test("ppo with the adaptive KL controller and a separate critic: killed, resumed, identical (KL state and critic restored)", () => {
  // Only the ppo section changes, so the earlier stages' checkpoints of run "a" are reused as they are.
  for (const run of ["c1", "c2"]) {
    const text = fs.readFileSync(cfgFile("a"), "utf8")
      .replaceAll(path.join(tmp, "a"), path.join(tmp, run))
      .replace("    adaptive: false ", "    adaptive: true  ")
      .replace("    target: 6.0 ", "    target: 0.01")
      .replace("  critic: shared ", "  critic: separate ");
    assert.ok(text.includes("adaptive: true") && text.includes("critic: separate"), "config edit failed");
    fs.writeFileSync(cfgFile(run), text);
    for (const stage of ["pretrain", "sft", "rm"]) {
      fs.cpSync(ckpt("a", stage), ckpt(run, stage), { recursive: true });
      fs.cpSync(runs("a", stage), runs(run, stage), { recursive: true });
    }
  }
  const full = pipeline("--stage", "ppo", "--config", cfgFile("c1"));
  assert.equal(full.status, 0, full.stderr);
  const k = killedRun("ppo", 2, "c2");
  assert.equal(k.signal, "SIGKILL", k.stderr);
  const saved = JSON.parse(fs.readFileSync(ckpt("c2", "resume", "ppo", "resume.json"), "utf8"));
  assert.ok(saved.state.kl_coef !== 0.1, `the adaptive coefficient moved: ${saved.state.kl_coef}`);
  assert.ok(fs.existsSync(ckpt("c2", "resume", "ppo", "critic.bin")), "the separate critic's weights are saved");
  const r = pipeline("--stage", "ppo", "--config", cfgFile("c2"), "--resume");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /ppo: resumed from .* at step 2/);
  assert.deepEqual(metricsWithoutTiming(runs("c2", "ppo", "metrics.csv")), metricsWithoutTiming(runs("c1", "ppo", "metrics.csv")));
  assert.deepEqual(summaryWithoutTiming(runs("c2", "ppo", "summary.json")), summaryWithoutTiming(runs("c1", "ppo", "summary.json")));
  assert.ok(fs.readFileSync(ckpt("c2", "ppo", "weights.bin")).equals(fs.readFileSync(ckpt("c1", "ppo", "weights.bin"))), "weights differ");
});

test("pretrain with warmup-stable-decay and compute-curve points: killed after a point, resumed, identical run and curve", () => {
  for (const run of ["w1", "w2"]) {
    const text = fs.readFileSync(cfgFile("a"), "utf8")
      .replaceAll(path.join(tmp, "a"), path.join(tmp, run))
      .replace(/^  schedule: cosine /m, "  schedule: wsd    ")
      .replace(/^  curve_points: \[\] /m, "  curve_points: [10, 20]");
    assert.ok(text.includes("schedule: wsd") && text.includes("curve_points: [10, 20]"), "config edit failed");
    fs.writeFileSync(cfgFile(run), text);
  }
  const full = pipeline("--stage", "pretrain", "--config", cfgFile("w1"));
  assert.equal(full.status, 0, full.stderr);
  const k = killedRun("pretrain", 13, "w2");
  assert.equal(k.signal, "SIGKILL", k.stderr);
  assert.equal(fs.readFileSync(runs("w2", "pretrain", "curve.csv"), "utf8").trim().split("\n").length, 2, "the first point was recorded before the kill");
  const r = pipeline("--stage", "pretrain", "--config", cfgFile("w2"), "--resume");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /pretrain: resumed from .* at step 1[24]/);
  const curve = (run: string) => metricsWithoutTiming(runs(run, "pretrain", "curve.csv"));
  assert.equal(curve("w1").length, 4, "a header, two points and the finished run");
  assert.deepEqual(curve("w2"), curve("w1"));
  assert.deepEqual(summaryWithoutTiming(runs("w2", "pretrain", "summary.json")), summaryWithoutTiming(runs("w1", "pretrain", "summary.json")));
  assert.ok(fs.readFileSync(ckpt("w2", "pretrain", "weights.bin")).equals(fs.readFileSync(ckpt("w1", "pretrain", "weights.bin"))), "weights differ");
});

test("a warmup-stable-decay run made longer continues from a checkpoint of its constant phase, and ends like a run of that length", () => {
  // w3: 40 steps from the start; w4: the 30-step run w2's config, killed at step 13, then resumed as a 40-step run
  for (const run of ["w3", "w4"]) {
    const text = fs.readFileSync(cfgFile("w1"), "utf8").replaceAll(path.join(tmp, "w1"), path.join(tmp, run));
    fs.writeFileSync(cfgFile(run), text);
  }
  const longer = (run: string) => fs.writeFileSync(cfgFile(run), fs.readFileSync(cfgFile(run), "utf8").replace(/^  steps: 30$/m, "  steps: 40"));
  longer("w3");
  const full = pipeline("--stage", "pretrain", "--config", cfgFile("w3"));
  assert.equal(full.status, 0, full.stderr);
  assert.equal(killedRun("pretrain", 13, "w4").signal, "SIGKILL");
  const cosine = fs.readFileSync(cfgFile("w4"), "utf8");
  fs.writeFileSync(cfgFile("w4"), cosine.replace(/^  steps: 30$/m, "  steps: 40").replace(/^  schedule: wsd /m, "  schedule: cosine").replace(/^  curve_points: \[10, 20\]/m, "  curve_points: []"));
  const refused = pipeline("--stage", "pretrain", "--config", cfgFile("w4"), "--resume");
  assert.equal(refused.status, 2, "a cosine run of another length shares no constant phase");
  assert.match(refused.stderr, /saved with a different config/);
  fs.writeFileSync(cfgFile("w4"), cosine);
  longer("w4");
  const r = pipeline("--stage", "pretrain", "--config", cfgFile("w4"), "--resume");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /constant-lr phase both share, so this run of 40 steps continues it/);
  assert.ok(fs.readFileSync(ckpt("w4", "pretrain", "weights.bin")).equals(fs.readFileSync(ckpt("w3", "pretrain", "weights.bin"))), "weights differ from the 40-step run");
});

test("--resume without a resumable checkpoint says so and starts from step 0", () => {
  const r = pipeline("--stage", "sft", "--config", cfgFile("b"), "--resume");
  assert.equal(r.status, 0, r.stderr);
  // sft's checkpoint exists and matches, so nothing trains: the flag is harmless
  assert.match(r.stderr, /sft: loaded/);
});

test("a resumable checkpoint saved with another config, or damaged, is refused naming the file; nothing is assigned", async () => {
  const { initBackend } = await import("../lib/core/backend");
  const { loadConfig } = await import("../lib/core/config");
  const { GPT } = await import("../lib/lm/model");
  const { AdamW } = await import("../lib/train/optim");
  const { MetricsLog } = await import("../lib/core/metrics");
  const { Rng } = await import("../lib/core/rng");
  const { StageResume, setResume } = await import("../lib/train/resume");
  const { Tokenizer } = await import("../lib/lm/tokenizer");
  await initBackend();
  const cfg = loadConfig(cfgFile("b"));
  const tok = new Tokenizer("char", []);
  const m = new GPT({ vocab_size: tok.vocabSize, context: 8, d_model: 8, n_layers: 1, n_heads: 2, dropout: 0 }, { seed: 1 });
  const opt = new AdamW(m.trainableVariables());
  const parts = { model: m, tokenizer: tok, opt, rngs: { data: new Rng(3) }, metrics: new MetricsLog("sft") };
  new StageResume(cfg, "sft", 10).saveNow(4, parts);
  setResume(true);
  try {
    const other = { ...cfg, sft: { ...cfg.sft, lr: 0.1 } };
    assert.throws(() => new StageResume(other, "sft", 10).restore(parts), /resume\/sft\/resume\.json: saved with a different config \(hash \w+, this config \w+\); resume with the config it was saved with, or delete/);
    fs.truncateSync(ckpt("b", "resume", "sft", "optimizer.bin"), 12);
    assert.throws(() => new StageResume(cfg, "sft", 10).restore(parts), /resume\/sft\/optimizer\.bin: 12 bytes; expected \d+ bytes of AdamW moments/);
    assert.equal(opt.t, 0, "nothing was assigned");
    fs.writeFileSync(ckpt("b", "resume", "sft", "resume.json"), "{");
    assert.throws(() => new StageResume(cfg, "sft", 10).restore(parts), /resume\/sft\/resume\.json is not valid JSON/);
  } finally {
    setResume(false);
    opt.dispose();
    m.dispose();
    fs.rmSync(ckpt("b", "resume", "sft"), { recursive: true, force: true });
  }
});
