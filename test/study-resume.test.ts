// The study and the comparison killed (SIGKILL) in the middle of a run and continued with --resume must write what an
// uninterrupted run writes (time fields aside): a resumed PPO run reports onEval only after its restore, so the points
// are rebuilt from the run's log. The study is killed in a PPO run (critic and GAE), the comparison in a GRPO run
// (critic-free) and then in DPO (no resumable checkpoint: it starts over, to the same points). smoke.yaml with study
// runs of 4 iterations, so that checkpoint_every 2 leaves a resumable checkpoint at iteration 2 before the kill at 3.
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

/** smoke.yaml in tmp: 4 study iterations, the course reward model only (the own and few-pairs sweeps are empty). */
function writeConfig(run: string): void {
  const edits: [RegExp, string][] = [
    [/^  checkpoints: .*$/m, `  checkpoints: ${ckpt(run)}`],
    [/^  runs: .*$/m, `  runs: ${runs(run)}`],
    [/^(study:(?:\n(?: .*)?)*?\n  iterations: )\d+/m, "$14"],
    [/^  own_rm_kl_coefs: .*$/m, "  own_rm_kl_coefs: []"],
    [/^  small_data_kl_coefs: .*$/m, "  small_data_kl_coefs: []"],
  ];
  let text = fs.readFileSync(path.join(ROOT, "config/smoke.yaml"), "utf8");
  for (const [re, to] of edits) {
    const next = text.replace(re, to);
    assert.notEqual(next, text, `config edit ${re} changed nothing`);
    text = next;
  }
  fs.writeFileSync(cfgFile(run), text);
}

const pipeline = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "tools/pipeline.ts", ...args], { cwd: ROOT, encoding: "utf8" });

/**
 * A child that runs the stage in-process and SIGKILLs itself at the first log line matching `kill` after one matching
 * `arm` (which run to interrupt); it echoes its log to stderr.
 */
function killedRun(run: string, fn: "runStudy" | "runCompare", resume: boolean, arm: RegExp, kill: RegExp): SpawnSyncReturns<string> {
  const mod = fn === "runStudy" ? "./lib/studies/study" : "./lib/studies/compare";
  const script = `
    const { initBackend } = require("./lib/core/backend");
    require("./lib/train/resume").setResume(${resume});
    const cfg = require("./lib/core/config").loadConfig(${JSON.stringify(cfgFile(run))});
    let armed = false;
    const log = (l) => {
      process.stderr.write(l + "\\n");
      if (${arm}.test(l)) armed = true;
      if (armed && ${kill}.test(l)) process.kill(process.pid, "SIGKILL");
    };
    initBackend().then(() => require(${JSON.stringify(mod)}).${fn}(cfg, { log }));`;
  return spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: ROOT, encoding: "utf8" });
}

/** A JSON file without its time fields (seconds, seconds_total), at any depth. */
function withoutTime(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, "utf8"), (k, v) => (k === "seconds" || k === "seconds_total" ? undefined : v));
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "study-resume-"));
  writeConfig("a");
  writeConfig("b");
  for (const stage of ["study", "compare"]) {
    const r = pipeline("--stage", stage, "--config", cfgFile("a"));
    assert.equal(r.status, 0, `uninterrupted ${stage} failed: ${r.stderr}`);
  }
  // run b trains only the study's and the comparison's own runs: the stages before them are a's
  for (const stage of ["pretrain", "sft", "rm"]) {
    fs.cpSync(ckpt("a", stage), ckpt("b", stage), { recursive: true });
    fs.cpSync(runs("a", stage), runs("b", stage), { recursive: true });
  }
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("study: killed in a PPO run, resumed with --resume, writes the uninterrupted study's frontier, fits and samples", () => {
  const k = killedRun("b", "runStudy", false, /study: PPO with the course reward model, ppo\.kl\.coef = 0\.1,/, /^ppo 3\/4:/);
  assert.equal(k.signal, "SIGKILL", `the child was not killed as planned: ${k.stderr}`);
  assert.ok(fs.existsSync(ckpt("b", "study", "course-kl0.1", "resume", "ppo", "resume.json")), "no resumable checkpoint was left");
  const r = pipeline("--stage", "study", "--config", cfgFile("b"), "--resume");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /ppo: resumed from .*course-kl0\.1.* at step 2\/4/);
  for (const f of ["frontier.json", "samples.json", "summary.json"]) {
    assert.deepEqual(withoutTime(runs("b", "study", f)), withoutTime(runs("a", "study", f)), f);
  }
  const steps = (withoutTime(runs("b", "study", "frontier.json")) as { method: string; setting: string; step: number }[])
    .filter((p) => p.method === "ppo" && p.setting === "kl=0.1").map((p) => p.step);
  assert.deepEqual(steps, [1, 2, 3, 4], "the evaluations before the restore are kept");
});

test("compare: killed in a GRPO run, then in DPO, resumed each time, writes the uninterrupted comparison", () => {
  const k1 = killedRun("b", "runCompare", false, /^compare: grpo /, /^ppo 3\/4:/);
  assert.equal(k1.signal, "SIGKILL", `the child was not killed in GRPO: ${k1.stderr}`);
  assert.ok(fs.existsSync(ckpt("b", "compare", "grpo-s1234", "resume", "ppo", "resume.json")), "no resumable checkpoint of the GRPO run");
  const k2 = killedRun("b", "runCompare", true, /^compare: DPO beta /, /^dpo 2\//);
  assert.equal(k2.signal, "SIGKILL", `the child was not killed in DPO: ${k2.stderr}`);
  assert.match(k2.stderr, /ppo: resumed from .*grpo-s1234.* at step 2\/4/);
  assert.ok(!fs.existsSync(runs("b", "compare", "dpo-b0.1", "points.json")), "the killed DPO run left no points");
  const r = pipeline("--stage", "compare", "--config", cfgFile("b"), "--resume");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /compare: grpo seed 1234: kept the finished run/);
  for (const f of ["runs.json", "summary.json"]) {
    assert.deepEqual(withoutTime(runs("b", "compare", f)), withoutTime(runs("a", "compare", f)), f);
  }
  const saved = withoutTime(runs("b", "compare", "runs.json")) as { method: string; points: { step: number }[] }[];
  assert.deepEqual(saved.find((x) => x.method === "grpo")!.points.map((p) => p.step), [0, 1, 2, 3, 4], "GRPO keeps its evaluations before the restore");
  assert.deepEqual(saved.find((x) => x.method === "dpo")!.points.map((p) => p.step)[0], 0, "DPO started over from the SFT evaluation");
});
