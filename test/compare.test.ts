// lib/studies/compare.ts: runCompare on the smoke config in a temporary folder (every method's points are its
// evaluations, an RL run's read from its own log; a second call keeps every run), readCompare (a saved comparison
// back, refused when the config asks for other runs or another ppo section), and compareRows on hand-built runs.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../lib/core/backend";
import { type Config, loadConfig, withOverrides } from "../lib/core/config";
import { compareRows, compareTable, type CompareResult, type MethodRun, readCompare, runCompare } from "../lib/studies/compare";
import type { FrontierPoint } from "../lib/studies/study";

let tmp: string;
let cfg: Config;
before(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "compare-"));
  cfg = { ...loadConfig("config/smoke.yaml"), paths: { checkpoints: path.join(tmp, "ck"), runs: path.join(tmp, "runs") } };
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** metrics.csv's rows as name -> value maps, read with a plain split (the file holds no quoted fields). */
function csvRows(file: string): Record<string, string>[] {
  const [head, ...rows] = fs.readFileSync(file, "utf8").trim().split("\n").map((l) => l.split(","));
  return rows.map((r) => Object.fromEntries(head.map((h, j) => [h, r[j]])));
}

const point = (step: number, gold: number, over: Partial<FrontierPoint> = {}): FrontierPoint =>
  ({ method: "ppo", rm: "course", setting: "", step, kl: 0, d: 0, gold, gold_se: 0, proxy: 0, length: 0, distinct2: 0, ...over });

/** Two PPO seeds, one GRPO run, DPO at two betas: the final points' figures chosen so the rows are easy by hand. */
function handRuns(): MethodRun[] {
  const sft = point(0, 0.2, { gold_se: 0.05, proxy: 0.1, length: 9, distinct2: 0.9 });
  return [
    { method: "ppo", setting: "seed 1", seed: 1, seconds: 10, samples: 100, points: [sft, point(4, 0.5, { gold_se: 0.04, proxy: 1.0, kl: 2, length: 10, distinct2: 0.8 })] },
    { method: "grpo", setting: "seed 1", seed: 1, seconds: 5, samples: 200, points: [sft, point(2, 0.9), point(4, 0.4, { gold_se: 0.03, proxy: 0.9, kl: 1, length: 8, distinct2: 0.9 })] },
    { method: "ppo", setting: "seed 2", seed: 2, seconds: 20, samples: 100, points: [{ ...sft, gold: 0.3 }, point(4, 0.7, { gold_se: 0.06, proxy: 1.4, kl: 4, length: 12, distinct2: 0.6 })] },
    { method: "dpo", setting: "beta 0.1", seed: 1, seconds: 3, samples: 0, pairs: 50, points: [sft, point(4, 0.25, { gold_se: 0.02, proxy: 0.3, kl: 0.5, length: 7, distinct2: 0.95 })] },
    { method: "dpo", setting: "beta 0.3", seed: 1, seconds: 4, samples: 0, pairs: 50, points: [sft, point(4, 0.35, { gold_se: 0.01, proxy: 0.2, kl: 0.2, length: 6, distinct2: 0.97 })] },
  ];
}

describe("compareRows", () => {
  it("one row per method (DPO per beta): the final points averaged over seeds, the se across seeds when there are several", () => {
    const rows = compareRows({ runs: handRuns(), seconds: 0, seconds_total: 0 });
    const want = [
      // gold (0.5 + 0.7) / 2; se across seeds sqrt((0.1^2 + 0.1^2) / 1) / sqrt(2) = 0.1; gold_sft the first seed's SFT point
      { method: "ppo", runs: 2, gold: 0.6, gold_se: 0.1, gold_sft: 0.2, proxy: 1.2, kl: 3, length: 11, distinct2: 0.7, seconds: 15, samples: 100 },
      // one run: the se over the prompts of its final evaluation
      { method: "grpo", runs: 1, gold: 0.4, gold_se: 0.03, gold_sft: 0.2, proxy: 0.9, kl: 1, length: 8, distinct2: 0.9, seconds: 5, samples: 200 },
      { method: "dpo beta 0.1", runs: 1, gold: 0.25, gold_se: 0.02, gold_sft: 0.2, proxy: 0.3, kl: 0.5, length: 7, distinct2: 0.95, seconds: 3, samples: 0 },
      { method: "dpo beta 0.3", runs: 1, gold: 0.35, gold_se: 0.01, gold_sft: 0.2, proxy: 0.2, kl: 0.2, length: 6, distinct2: 0.97, seconds: 4, samples: 0 },
    ];
    assert.equal(rows.length, want.length);
    rows.forEach((row, i) => {
      for (const [k, v] of Object.entries(want[i])) {
        const got = (row as unknown as Record<string, unknown>)[k];
        if (typeof v === "number") assert.ok(Math.abs((got as number) - v) < 1e-12, `${want[i].method} ${k}: ${got} vs ${v}`);
        else assert.equal(got, v, `${want[i].method} ${k}`);
      }
    });
    assert.deepEqual(compareTable({ runs: handRuns(), seconds: 0, seconds_total: 0 }).split("\n").slice(1).map((l) => l.split(/\s+/)[0]), ["ppo", "grpo", "dpo", "dpo"]);
  });
});

describe("runCompare and readCompare on the smoke config", () => {
  it("every method's points are its evaluations (an RL run's, the eval rows of its log); a rerun keeps every run", async () => {
    const lines: string[] = [];
    const r = await runCompare(cfg, { log: (l) => lines.push(l) });
    const iters = cfg.study.iterations;
    const names = r.runs.map((x) => `${x.method} ${x.setting}`);
    for (const n of ["ppo seed 1234", "grpo seed 1234", "rloo seed 1234", "reinforce_pp seed 1234", "dpo beta 0.1"]) assert.ok(names.includes(n), `${n} in ${names}`);
    for (const run of r.runs.filter((x) => x.method !== "dpo")) {
      assert.deepEqual(run.points.map((p) => p.step), Array.from({ length: iters + 1 }, (_, i) => i), `${run.method}: the SFT model and every iteration`);
      assert.equal(run.samples, iters * cfg.ppo.rollout_batch);
      const log = csvRows(path.join(tmp, "runs", "compare", `${run.method}-s${run.seed}`, "ppo", "metrics.csv")).filter((x) => x["eval/gold"] !== "");
      assert.deepEqual(run.points.map((p) => [p.step, p.gold, p.gold_se, p.kl, p.proxy, p.length, p.distinct2]),
        log.map((x) => [+x.step, +x["eval/gold"], +x["eval/gold_se"], +x["eval/kl"], +x["eval/proxy"], +x["eval/response_length"], +x["eval/distinct2"]]), `${run.method}: its log's eval rows`);
      assert.ok(run.points.every((p) => Math.abs(p.d - Math.sqrt(Math.max(p.kl, 0))) < 1e-12 && p.method === "ppo" && p.setting === run.method));
    }
    const dpo = r.runs.find((x) => x.method === "dpo")!;
    assert.equal(dpo.points[0].step, 0);
    assert.ok(dpo.points.length >= 2 && dpo.samples === 0 && dpo.pairs! > 0);
    // every run starts from the same SFT model on the same prompts and sampling seed
    assert.ok(r.runs.every((x) => x.points[0].gold === r.runs[0].points[0].gold && x.points[0].kl === 0));

    const again: string[] = [];
    const r2 = await runCompare(cfg, { log: (l) => again.push(l) });
    assert.equal(again.filter((l) => l.includes("kept the finished run")).length, r.runs.length, "no run is trained twice");
    const noTime = (x: CompareResult) => x.runs.map(({ seconds: _s, ...rest }) => rest);
    assert.deepEqual(noTime(r2), noTime(r));
    const loaded = readCompare(cfg)!;
    assert.deepEqual(loaded.runs, r2.runs);
    assert.equal(readCompare(withOverrides(cfg, ["ppo.lr=0.0002"])), undefined, "another ppo section: the runs are stale");
    assert.equal(readCompare({ ...cfg, compare: { ...cfg.compare, seeds: [1234, 7] } }), undefined, "another set of runs");
  });

  it("readCompare gives back the saved runs as saved, and compareRows their rows", () => {
    // the saved runs replaced by hand-made ones of the same methods and seeds (so their checkpoints still match)
    const dir = path.join(tmp, "runs", "compare");
    const saved = JSON.parse(fs.readFileSync(path.join(dir, "runs.json"), "utf8")) as MethodRun[];
    const hand = saved.map((x, i) => ({ ...x, seconds: i + 1, points: [point(0, 0.2, { setting: x.method }), point(2, 0.3 + i / 10, { setting: x.method, gold_se: 0.01 * (i + 1), kl: i })] }));
    fs.writeFileSync(path.join(dir, "runs.json"), JSON.stringify(hand));
    const summary = JSON.parse(fs.readFileSync(path.join(dir, "summary.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "summary.json"), JSON.stringify({ ...summary, seconds: 7, seconds_total: 99 }));
    const got = readCompare(cfg)!;
    assert.deepEqual(got, { runs: hand, seconds: 7, seconds_total: 99 });
    const rows = compareRows(got);
    assert.deepEqual(rows.map((x) => [x.method, x.runs, +x.gold.toFixed(12), x.gold_se, x.kl, x.seconds]),
      hand.map((x, i) => [x.method === "dpo" ? `dpo ${x.setting}` : x.method, 1, +(0.3 + i / 10).toFixed(12), 0.01 * (i + 1), i, i + 1]));
  });
});
