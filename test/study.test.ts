// lib/studies/study.ts on the smoke config, in a temporary folder: best-of-n and the PPO sweep against both reward models
// land on one frontier with the right points; a second run keeps the finished PPO runs and gives the same points;
// ensureStudy loads the saved study; each PPO run's points are its log's eval rows; the fits measure best-of-n's gain
// from its own n = 1 draws and PPO's from the SFT evaluation; studyTable says "none" for a peak at d <= 0.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../lib/core/backend";
import { loadConfig } from "../lib/core/config";
import { fitGao, gaoCurve } from "../lib/beyond/gao";
import { ensureStudy, fewPairsRmConfig, fitPoints, type FrontierPoint, ownRmConfig, runStudy, studyFits, type StudyResult, studyTable } from "../lib/studies/study";

/** metrics.csv's rows as name -> value maps, read with a plain split (the file holds no quoted fields). */
function csvRows(file: string): Record<string, string>[] {
  const [head, ...rows] = fs.readFileSync(file, "utf8").trim().split("\n").map((l) => l.split(","));
  return rows.map((r) => Object.fromEntries(head.map((h, j) => [h, r[j]])));
}

let tmp: string;
before(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "study-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("the over-optimisation study", () => {
  it("puts best-of-n and every PPO run of both reward models on one frontier, and keeps finished runs", async () => {
    const base = loadConfig("config/smoke.yaml");
    const cfg = { ...base, paths: { checkpoints: path.join(tmp, "ck"), runs: path.join(tmp, "runs") } };
    const lines: string[] = [];
    const r = await runStudy(cfg, { log: (l) => lines.push(l) });
    const s = cfg.study;
    for (const rm of ["course", "own", "few-pairs"]) {
      const bon = r.points.filter((p) => p.rm === rm && p.method === "bon");
      assert.deepEqual(bon.map((p) => p.step), s.bon_n, `${rm}: one best-of-n point per n`);
      // best-of-n's law is fitted to the gain over its own n = 1 draws (exact here: two points, two coefficients)
      const f = r.fits[`${rm}/bon`];
      const want = fitGao("bon", bon.slice(1).map((p) => p.d), bon.slice(1).map((p) => p.gold - bon[0].gold));
      assert.ok(f && Math.abs(f.alpha - want.alpha) < 1e-9 && Math.abs(f.beta - want.beta) < 1e-9, `${rm}: the best-of-n fit's baseline`);
      assert.ok(bon.every((p, i) => i === 0 || p.proxy >= bon[i - 1].proxy - 1e-6), `${rm}: the pick's proxy never falls as n grows (nested samples)`);
      assert.equal(r.points.filter((p) => p.rm === rm && p.method === "sft").length, 1, `${rm}: one SFT point`);
    }
    for (const [rm, coefs] of [["course", s.kl_coefs], ["own", s.own_rm_kl_coefs], ["few-pairs", s.small_data_kl_coefs]] as const) {
      for (const c of coefs) {
        const steps = r.points.filter((p) => p.rm === rm && p.method === "ppo" && p.setting === `kl=${c}`).map((p) => p.step);
        assert.deepEqual(steps, Array.from({ length: s.iterations }, (_, i) => i + 1), `${rm} kl=${c}: an evaluation after every iteration`);
      }
    }
    // every PPO point is an eval row of its run's log, its standard error included
    for (const [rm, coefs] of [["course", s.kl_coefs], ["own", s.own_rm_kl_coefs], ["few-pairs", s.small_data_kl_coefs]] as const) {
      for (const c of coefs) {
        const rows = csvRows(path.join(tmp, "runs", "study", `${rm}-kl${c}`, "ppo", "metrics.csv")).filter((x) => x["eval/gold"] !== "");
        const pts = r.points.filter((p) => p.rm === rm && p.method === "ppo" && p.setting === `kl=${c}`);
        assert.deepEqual(pts.map((p) => [p.step, p.gold, p.gold_se, p.kl, p.proxy]),
          rows.filter((x) => x.step !== "0").map((x) => [+x.step, +x["eval/gold"], +x["eval/gold_se"], +x["eval/kl"], +x["eval/proxy"]]), `${rm} kl=${c}: the log's eval rows`);
        assert.ok(pts.every((p) => Number.isFinite(p.gold_se)));
      }
    }
    assert.ok(r.reward_models.own.params < r.reward_models.course.params || r.reward_models.own.tokenizer !== r.reward_models.course.tokenizer);
    assert.match(r.reward_models.own.tokenizer, /^char/, "smoke.yaml gives the own reward model a char-level tokenizer");
    assert.ok(fs.existsSync(path.join(tmp, "ck", "study", "rm_own", "rm_base", "pretrain")), "the own RM's trunk was pretrained apart");
    assert.ok(fs.existsSync(path.join(tmp, "runs", "study", "frontier.csv")));
    assert.match(studyTable(r), /fit course\/bon/);
    assert.equal(ownRmConfig(cfg).rm.base, "own");
    assert.equal(fewPairsRmConfig(cfg).rm.pairs_fraction, s.small_data_fraction);
    const trained = (name: string) => JSON.parse(fs.readFileSync(path.join(tmp, "runs", "study", name, "rm", "summary.json"), "utf8")).pairs_train as number;
    assert.ok(trained("rm_few_pairs") < trained("rm_own"), "the few-pairs reward model trained on fewer pairs");

    const again: string[] = [];
    const r2 = await runStudy(cfg, { log: (l) => again.push(l) });
    assert.equal(again.filter((l) => l.includes("kept the finished run")).length, s.kl_coefs.length + s.own_rm_kl_coefs.length + s.small_data_kl_coefs.length, "no PPO run is trained twice");
    const strip = (ps: FrontierPoint[]) => ps.map((p) => ({ ...p }));
    assert.deepEqual(strip(r2.points), strip(r.points), "the kept runs give the same points");
    const loaded: string[] = [];
    const r3 = await ensureStudy(cfg, { log: (l) => loaded.push(l) });
    assert.match(loaded.join("\n"), /study: loaded/);
    assert.equal(r3.points.length, r.points.length);
  });

  it("fitPoints fits the gain over SFT, skips d = 0 and needs two points", () => {
    const law = { form: "bon" as const, alpha: 0.3, beta: 0.1 };
    const pts = [0, 0.5, 1, 1.5, 2].map((d): FrontierPoint => ({ method: "bon", rm: "x", setting: "", step: 0, kl: d * d, d, gold: 0.2 + gaoCurve(law, d), gold_se: 0, proxy: 0, length: 0, distinct2: 0 }));
    const f = fitPoints(pts, "bon", 0.2)!;
    assert.ok(Math.abs(f.alpha - 0.3) < 1e-9 && Math.abs(f.beta - 0.1) < 1e-9 && Math.abs(f.dPeak - 1.5) < 1e-9);
    assert.equal(fitPoints(pts.slice(0, 2), "bon", 0.2), undefined);
  });

  it("studyFits: best-of-n's gain is over its own n = 1 draws, PPO's over the SFT evaluation", () => {
    const pt = (method: FrontierPoint["method"], step: number, d: number, gold: number): FrontierPoint =>
      ({ method, rm: "course", setting: method, step, kl: d * d, d, gold, gold_se: 0, proxy: 0, length: 0, distinct2: 0 });
    const bonLaw = { form: "bon" as const, alpha: 0.3, beta: 0.1 }, rlLaw = { form: "rl" as const, alpha: 0.2, beta: 0.05 };
    // the SFT evaluation (0.5) and the n = 1 draws (0.4) are different samples of the same policy: their golds differ
    const points = [pt("sft", 0, 0, 0.5), pt("bon", 1, 0, 0.4), ...[0.5, 1, 1.5].map((d, i) => pt("bon", 2 ** (i + 1), d, 0.4 + gaoCurve(bonLaw, d))),
      ...[0.3, 0.8, 1.6].map((d, i) => pt("ppo", i + 1, d, 0.5 + gaoCurve(rlLaw, d)))];
    const f = studyFits(points, ["course"]);
    assert.ok(Math.abs(f["course/bon"].alpha - 0.3) < 1e-9 && Math.abs(f["course/bon"].beta - 0.1) < 1e-9, `bon ${JSON.stringify(f["course/bon"])}`);
    assert.ok(Math.abs(f["course/ppo"].alpha - 0.2) < 1e-9 && Math.abs(f["course/ppo"].beta - 0.05) < 1e-9, `ppo ${JSON.stringify(f["course/ppo"])}`);
  });

  it("studyTable prints d* = none when the fit has no peak at positive d", () => {
    const fit = (form: "bon" | "rl", dPeak: number) => ({ form, alpha: 0, beta: 0, r2: 1, dPeak });
    const r: StudyResult = { points: [], runs: [], reward_models: {}, samples: { run: "", rows: [] }, seconds: 0, seconds_total: 0, hash: "",
      fits: { "course/bon": fit("bon", -0.7), "own/bon": fit("bon", 1.25), "course/ppo": fit("rl", Infinity) } };
    const peaks = studyTable(r).split("\n").filter((l) => l.startsWith("fit ")).map((l) => l.replace(/.*peak at d\* = /, ""));
    assert.deepEqual(peaks, ["none", "1.25", "none"]);
  });
});

describe("keepTrainGroups (rm.pairs_fraction)", () => {
  it("keeps a seeded share of the training prompt groups and every held-out pair", async () => {
    const { keepTrainGroups } = await import("../lib/reward/reward-model");
    const { Rng } = await import("../lib/core/rng");
    const pairs = Array.from({ length: 40 }, (_, g) => [0, 1, 2].map(() => ({ group: g, chosen: 0, rejected: 1, p: 0.7, split: (g < 30 ? "train" : "heldout") as "train" | "heldout" }))).flat();
    const data = { completions: [], pairs, beta: 10 };
    const half = keepTrainGroups(data, 0.5, new Rng(1));
    const groups = new Set(half.pairs.filter((q) => q.split === "train").map((q) => q.group));
    assert.equal(groups.size, 15);
    assert.equal(half.pairs.filter((q) => q.split === "heldout").length, 30, "held-out pairs all kept");
    assert.ok(half.pairs.filter((q) => q.split === "train").every((q) => groups.has(q.group)) && half.pairs.length === 15 * 3 + 30, "whole groups");
    assert.deepEqual(keepTrainGroups(data, 0.5, new Rng(1)).pairs, half.pairs, "seeded");
    assert.equal(keepTrainGroups(data, 1, new Rng(1)), data);
    assert.equal(new Set(keepTrainGroups(data, 0.001, new Rng(1)).pairs.filter((q) => q.split === "train").map((q) => q.group)).size, 1, "at least one group");
  });
});

describe("goldAtDistance", () => {
  it("interpolates between the evaluations that bracket d, in order of d, and says null beyond the run", async () => {
    const { goldAtDistance } = await import("../lib/studies/compare");
    const pts = [{ d: 0, gold: 0.2 }, { d: 3, gold: 0.8 }, { d: 1, gold: 0.4 }]; // out of order, as a run's evaluations can be
    assert.ok(Math.abs(goldAtDistance(pts, 0.5)! - 0.3) < 1e-12);
    assert.ok(Math.abs(goldAtDistance(pts, 2)! - 0.6) < 1e-12);
    assert.equal(goldAtDistance(pts, 1), 0.4);
    assert.equal(goldAtDistance(pts, 3.5), null);
  });
});
