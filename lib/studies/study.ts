// The over-optimisation study (Gao, Schulman & Hilton 2022, "Scaling Laws for Reward Model Overoptimization"), on
// the course's own models, measured by the gold scorer that real RLHF never has:
//
//   reward models  the course's (the SFT trunk, policy tokenizer) and an own one: smaller, its own tokenizer
//                  (rm.base: own, lib/reward/text-reward.ts), trained on the same preference pairs
//   best-of-n      from the SFT policy, n in study.bon_n (n = 1 always: the baseline of its gain), placed at the upper
//                  bound KL <= log n - (n - 1)/n, reached only when no two of the n completions repeat (lib/beyond/gao.ts)
//   PPO sweep      the course's PPO at each study.kl_coefs (own_rm_kl_coefs for the own RM), held-out evaluations
//                  every study.eval_every iterations
//
// Every point is measured on the same study.eval_prompts held-out prompts: gold, proxy (the raw score of the RM that
// method optimised), KL from SFT, d = sqrt(KL), length, distinct-2. Gao et al.'s laws are fitted to the gold gain:
// best-of-n's over its own n = 1 draws (the same samples), PPO's over the SFT evaluation of its runs.
// `npm run pipeline -- --stage study` runs it; each finished PPO run is kept, so a rerun (or --resume after a crash)
// trains only what is missing. A run's points are read from its own log (metrics.csv), which a resumed run restores
// and continues, so an interrupted run keeps its earlier evaluations. Outputs: <runs>/study/frontier.csv,
// summary.json, samples.json.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { bestOfN } from "../beyond/best-of-n";
import { type Config, hashedPpo, repoPath, stableStringify, withOverrides } from "../core/config";
import { fitGao, type GaoFit, gaoPeak } from "../beyond/gao";
import { atomicWrite, MetricsLog, readSummary, writeSummary } from "../core/metrics";
import type { GPT } from "../lm/model";
import { checkpointMismatch } from "../pipeline/stage";
import { ensureRewardModel } from "../pipeline/stages";
import { type RewardModelStage } from "../pipeline/reward-model";
import { sameTokenizer, textRewardFns } from "../reward/text-reward";
import { type EvalResult } from "../rl/evaluate";
import { evalPrompts } from "../rl/prompts";
import { trainPpo } from "../pipeline/ppo";
import { type RewardFns, rewardModelFns } from "../reward/reward-fns";
import { Rng } from "../core/rng";
import { ensureSft } from "../pipeline/stages";
import { standardError } from "../core/stats";
import { consoleLog } from "../core/progress";

/** One point of the frontier. */
export interface FrontierPoint {
  method: "sft" | "bon" | "ppo";
  /** "course" (the SFT-trunk reward model) or "own" (its own tokenizer and size) */
  rm: string;
  /** the run: "n" for best-of-n, "kl=0.05" for a PPO run */
  setting: string;
  /** best-of-n: n; PPO: iterations done */
  step: number;
  kl: number;
  d: number;
  gold: number;
  /** standard error of the mean gold over the prompts */
  gold_se: number;
  proxy: number;
  length: number;
  distinct2: number;
}

export const FRONTIER_COLUMNS: (keyof FrontierPoint)[] = ["method", "rm", "setting", "step", "kl", "d", "gold", "gold_se", "proxy", "length", "distinct2"];

export interface StudySample {
  prompt: string;
  sft: string;
  policy: string;
  gold_sft: number;
  gold_policy: number;
}

export interface StudyResult {
  points: FrontierPoint[];
  /** Gao et al.'s law fitted to the gold gain over SFT, per reward model and method ("course/bon", "own/ppo") */
  fits: Record<string, GaoFit>;
  /** per PPO run ("course kl=0"): the evaluation with the highest gold, and the last one */
  runs: { rm: string; setting: string; peak_step: number; peak_gold: number; peak_d: number; final_gold: number; final_d: number; final_proxy: number; gold_se: number; seconds: number }[];
  /** held-out pairwise accuracy of each reward model, and its size */
  reward_models: Record<string, { heldout_accuracy: number; labeller_ceiling: number; params: number; tokenizer: string }>;
  /** held-out samples of the run that moved furthest, next to the SFT model's, for a look at what hacking is */
  samples: { run: string; rows: StudySample[] };
  /** wall seconds of this invocation (kept runs are not rerun) */
  seconds: number;
  /** what the whole study costs from nothing: every PPO run, best-of-n, and the study's own reward models and trunk */
  seconds_total: number;
  hash: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Configs of the parts

/** The study's own reward model: cfg with rm.base = own, saved under <checkpoints>/study/rm_own. */
export function ownRmConfig(cfg: Config): Config {
  const c = withOverrides(cfg, ["rm.base=own"]);
  return { ...c, paths: { checkpoints: path.join(cfg.paths.checkpoints, "study", "rm_own"), runs: path.join(cfg.paths.runs, "study", "rm_own") } };
}

/** The study's third reward model: the course's, trained on study.small_data_fraction of the training prompt groups. */
export function fewPairsRmConfig(cfg: Config): Config {
  const c = withOverrides(cfg, [`rm.pairs_fraction=${cfg.study.small_data_fraction}`]);
  return { ...c, paths: { checkpoints: path.join(cfg.paths.checkpoints, "study", "rm_few_pairs"), runs: path.join(cfg.paths.runs, "study", "rm_few_pairs") } };
}

/** One PPO run of the sweep: the course's ppo section with the study's size, evaluation and KL coefficient. */
export function sweepConfig(cfg: Config, rm: string, coef: number): Config {
  const s = cfg.study;
  const c = withOverrides(cfg, [`ppo.kl.coef=${coef}`, `ppo.iterations=${s.iterations}`, `ppo.eval_every=${s.eval_every}`, `ppo.eval_prompts=${s.eval_prompts}`]);
  const name = `${rm}-kl${coef}`;
  return { ...c, paths: { checkpoints: path.join(cfg.paths.checkpoints, "study", name), runs: path.join(cfg.paths.runs, "study", name) } };
}

// How the study computes its summary from its runs: a saved study of another version is recomputed (its kept PPO
// runs are reused). 2: best-of-n's fit measured from its own n = 1 draws, points read from each run's log.
const STUDY_VERSION = 2;

/**
 * What the study's results depend on: the seed and the sections of every stage it trains or loads (the own RM's keys
 * included) and its own; not dpo or compare. The ppo section as its checkpoints hash it (hashedPpo).
 */
export function studyHash(cfg: Config): string {
  const { seed, checkpoint_every, tokenizer, model, pretrain, sft, rm, ppo, study } = cfg;
  const picked = { version: STUDY_VERSION, seed, checkpoint_every, tokenizer, model, pretrain, sft, rm, ppo: hashedPpo(ppo), study };
  return crypto.createHash("sha256").update(stableStringify(picked)).digest("hex").slice(0, 16);
}

// ---------------------------------------------------------------------------------------------------------------
// Points

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
export function evalPoint(method: FrontierPoint["method"], rm: string, setting: string, step: number, e: EvalResult): FrontierPoint {
  return { method, rm, setting, step, kl: e.kl, d: Math.sqrt(Math.max(e.kl, 0)), gold: e.gold, gold_se: standardError(e.golds), proxy: e.proxy, length: e.length, distinct2: e.distinct2 };
}

/**
 * A PPO run's points, read from its log (<runs>/ppo/metrics.csv, the eval rows; step 0 is the SFT model). The log, not
 * trainPpo's onEval, because a resumed run calls onEval only for the evaluations after its restore.
 */
export function pointsFromPpoLog(runDir: string, method: FrontierPoint["method"], rm: string, setting: string): FrontierPoint[] {
  const log = MetricsLog.readCsv(path.join(runDir, "metrics.csv"), "ppo");
  const legacy = legacyStandardErrors(runDir);
  return log.rows().filter((r) => typeof r["eval/gold"] === "number").map((r) => {
    const kl = r["eval/kl"] as number;
    const se = typeof r["eval/gold_se"] === "number" ? r["eval/gold_se"] : (legacy.get(r.step) ?? NaN);
    return { method, rm, setting, step: r.step, kl, d: Math.sqrt(Math.max(kl, 0)), gold: r["eval/gold"] as number, gold_se: se,
      proxy: r["eval/proxy"] as number, length: r["eval/response_length"] as number, distinct2: r["eval/distinct2"] as number };
  });
}

/** Runs logged before metrics.csv held eval/gold_se kept their standard errors in frontier.json, by step. */
function legacyStandardErrors(runDir: string): Map<number, number> {
  const f = path.join(runDir, "frontier.json");
  if (!fs.existsSync(f)) return new Map();
  return new Map((JSON.parse(fs.readFileSync(f, "utf8")) as FrontierPoint[]).map((p) => [p.step, p.gold_se]));
}

/**
 * The point a method's gold gain is measured from: best-of-n's own n = 1 draws (the same samples its picks come
 * from), PPO's SFT evaluation (step 0 of its runs). Undefined when the study holds none.
 */
export function frontierBaseline(points: FrontierPoint[], rm: string, method: "bon" | "ppo"): FrontierPoint | undefined {
  return method === "bon" ? points.find((p) => p.method === "bon" && p.rm === rm && p.step === 1) : points.find((p) => p.method === "sft" && p.rm === rm);
}

/** Fits Gao et al.'s law of the method to the gold gain of these points over goldBase (frontierBaseline); undefined with too few. */
export function fitPoints(points: FrontierPoint[], form: "bon" | "rl", goldBase: number): GaoFit | undefined {
  const ps = points.filter((p) => p.d > 0);
  if (ps.length < 2) return undefined;
  try {
    return fitGao(form, ps.map((p) => p.d), ps.map((p) => p.gold - goldBase));
  } catch {
    return undefined;
  }
}

/** Gao et al.'s laws per reward model and method ("course/bon", "course/ppo"), each fitted to the gain over its frontierBaseline. */
export function studyFits(points: FrontierPoint[], rms: string[]): Record<string, GaoFit> {
  const fits: Record<string, GaoFit> = {};
  for (const rm of rms) {
    for (const method of ["bon", "ppo"] as const) {
      const base = frontierBaseline(points, rm, method);
      const fit = base && fitPoints(points.filter((p) => p.method === method && p.rm === rm), method === "bon" ? "bon" : "rl", base.gold);
      if (fit) fits[`${rm}/${method}`] = fit;
    }
  }
  return fits;
}

// ---------------------------------------------------------------------------------------------------------------
// The stage

export interface StudyOptions {
  log?: (line: string) => void;
}

/** The study for this config: loaded from <runs>/study/summary.json when it matches (studyHash), else runStudy. */
export async function ensureStudy(cfg: Config, opts: StudyOptions = {}): Promise<StudyResult> {
  const log = opts.log ?? consoleLog;
  const saved = readStudy(cfg);
  if (saved && saved.hash === studyHash(cfg)) {
    log(`study: loaded ${path.join(cfg.paths.runs, "study")} (${saved.points.length} points, ${saved.seconds.toFixed(0)} s when it ran)`);
    return saved;
  }
  log(`study: running (${saved ? "the config changed since it ran" : "no saved study"})`);
  return runStudy(cfg, opts);
}

/** The saved study of this config's runs directory, whatever config made it (undefined when none). */
export function readStudy(cfg: Config): StudyResult | undefined {
  const dir = path.join(repoPath(cfg.paths.runs), "study");
  const s = readSummary(dir) as unknown as Omit<StudyResult, "points" | "samples"> | undefined;
  if (!s || !fs.existsSync(path.join(dir, "frontier.json")) || !fs.existsSync(path.join(dir, "samples.json"))) return undefined;
  const points = JSON.parse(fs.readFileSync(path.join(dir, "frontier.json"), "utf8")) as FrontierPoint[];
  const samples = JSON.parse(fs.readFileSync(path.join(dir, "samples.json"), "utf8")) as StudyResult["samples"];
  return { ...s, points, samples };
}

/** Runs (or completes) the study; the pipeline's stage `study`. */
export async function runStudy(cfg: Config, opts: StudyOptions = {}): Promise<StudyResult> {
  const log = opts.log ?? consoleLog;
  const t0 = performance.now();
  const s = cfg.study;
  const dir = path.join(repoPath(cfg.paths.runs), "study");
  fs.mkdirSync(dir, { recursive: true });
  const sft = await ensureSft(cfg, { log });
  const models: { name: string; stage: RewardModelStage; coefs: number[] }[] = [];
  try {
    let course = await ensureRewardModel(cfg, { log, sft });
    if (!course.data) {
      course.model.dispose();
      course = await ensureRewardModel(cfg, { log, sft, force: true }); // the pairs file is gone: the own RM needs the pairs
    }
    models.push({ name: "course", stage: course, coefs: s.kl_coefs });
    if (s.own_rm_kl_coefs.length > 0) models.push({ name: "own", stage: await ensureRewardModel(ownRmConfig(cfg), { log, pairs: course.data }), coefs: s.own_rm_kl_coefs });
    if (s.small_data_kl_coefs.length > 0) models.push({ name: "few-pairs", stage: await ensureRewardModel(fewPairsRmConfig(cfg), { log, pairs: course.data, sft }), coefs: s.small_data_kl_coefs });

    const base = sweepConfig(cfg, "course", cfg.ppo.kl.coef);
    const prompts = evalPrompts(base);
    const points: FrontierPoint[] = [];
    const runs: StudyResult["runs"] = [];
    const rmInfo: StudyResult["reward_models"] = {};
    let furthest: { run: string; d: number; rows: StudySample[] } = { run: "", d: -1, rows: [] };
    let bonSeconds = 0;
    for (const m of models) {
      const own = !sameTokenizer(m.stage.tokenizer, sft.tokenizer);
      const reward: RewardFns = own ? textRewardFns({ model: m.stage.model, tok: m.stage.tokenizer }, sft.tokenizer) : rewardModelFns(m.stage.model);
      rmInfo[m.name] = { heldout_accuracy: m.stage.summary?.heldout_accuracy ?? NaN, labeller_ceiling: m.stage.summary?.labeller_ceiling ?? NaN,
        params: countParams(m.stage.model), tokenizer: `${m.stage.tokenizer.kind} ${m.stage.tokenizer.vocabSize}` };

      // best-of-n on the held-out prompts, drawn with the same seed for every reward model
      const tb = performance.now();
      const ns = s.bon_n.includes(1) ? s.bon_n : [1, ...s.bon_n]; // n = 1 is the baseline of best-of-n's gain
      const bon = bestOfN(sft.model, sft.tokenizer, prompts, reward, { ns, maxNewTokens: cfg.ppo.max_new_tokens, temperature: cfg.ppo.temperature,
        seed: new Rng(cfg.seed).fork("study-bon").seed });
      for (const b of bon) {
        points.push({ method: "bon", rm: m.name, setting: "best-of-n", step: b.n, kl: b.kl, d: b.d, gold: b.gold, gold_se: standardError(b.golds), proxy: b.proxy, length: b.length, distinct2: b.distinct2 });
      }
      bonSeconds += (performance.now() - tb) / 1000;
      log(`study: best-of-n with the ${m.name} reward model, n = ${ns.join(", ")}: gold ${bon.map((b) => b.gold.toFixed(3)).join(", ")} (${((performance.now() - tb) / 1000).toFixed(0)} s)`);

      // the PPO sweep
      for (const coef of m.coefs) {
        const v = sweepConfig(cfg, m.name, coef);
        const setting = `kl=${coef}`;
        const runDir = path.join(repoPath(v.paths.runs), "ppo");
        const samplesFile = path.join(runDir, "samples.json");
        let rows: StudySample[], seconds: number;
        if (checkpointMismatch(v, "ppo") === "" && fs.existsSync(samplesFile) && readSummary(runDir)) {
          rows = JSON.parse(fs.readFileSync(samplesFile, "utf8")) as StudySample[];
          seconds = (readSummary(runDir) as { seconds: number }).seconds;
          log(`study: ${m.name} ${setting}: kept the finished run in ${path.relative(repoPath("."), runDir)}`);
        } else {
          log(`study: PPO with the ${m.name} reward model, ppo.kl.coef = ${coef}, ${s.iterations} iterations`);
          const run = await trainPpo(v, { sft: sft.model, rm: m.stage.model, tok: sft.tokenizer, rmTokenizer: m.stage.tokenizer }, { log });
          run.model.dispose();
          seconds = run.summary!.seconds;
          // the SFT evaluation is rerun on resume and the last evaluation always follows the restore: both are this call's
          const first = run.sftEval!, last = run.policyEval!;
          rows = prompts.slice(0, 12).map((prompt, i) => ({ prompt, sft: first.completions[i], policy: last.completions[i], gold_sft: first.golds[i], gold_policy: last.golds[i] }));
          atomicWrite(samplesFile, JSON.stringify(rows, null, 1) + "\n");
        }
        const ps = pointsFromPpoLog(runDir, "ppo", m.name, setting);
        if (ps.length && ps[0].step === 0 && points.every((p) => !(p.method === "sft" && p.rm === m.name))) points.push({ ...ps[0], method: "sft", setting: "SFT" });
        const trained = ps.filter((p) => p.step > 0);
        points.push(...trained);
        const peak = trained.reduce((a, b) => (b.gold > a.gold ? b : a), trained[0]);
        const fin = trained[trained.length - 1];
        runs.push({ rm: m.name, setting, peak_step: peak.step, peak_gold: peak.gold, peak_d: peak.d, final_gold: fin.gold, final_d: fin.d, final_proxy: fin.proxy, gold_se: fin.gold_se, seconds });
        if (fin.d > furthest.d) furthest = { run: `${m.name} ${setting}`, d: fin.d, rows };
      }
    }

    const fits = studyFits(points, models.map((m) => m.name));
    // the study's own models: the reward models it trained (not the course's) and the own model's pretrained trunk
    const stageSeconds = (dir: string) => (readSummary(path.join(repoPath(dir))) as { seconds?: number } | undefined)?.seconds ?? 0;
    const own = ownRmConfig(cfg), few = fewPairsRmConfig(cfg);
    const modelSeconds = stageSeconds(path.join(own.paths.runs, "rm")) + stageSeconds(path.join(own.paths.runs, "rm_base", "pretrain")) + stageSeconds(path.join(few.paths.runs, "rm"));
    const secondsTotal = runs.reduce((a, r) => a + r.seconds, 0) + bonSeconds + modelSeconds;
    const result: StudyResult = { points, fits, runs, reward_models: rmInfo, samples: { run: furthest.run, rows: furthest.rows }, seconds: (performance.now() - t0) / 1000,
      seconds_total: secondsTotal, hash: studyHash(cfg) };
    atomicWrite(path.join(dir, "frontier.json"), JSON.stringify(points, null, 1) + "\n");
    atomicWrite(path.join(dir, "frontier.csv"), [FRONTIER_COLUMNS.join(","), ...points.map((p) => FRONTIER_COLUMNS.map((c) => String(p[c])).join(","))].join("\n") + "\n");
    atomicWrite(path.join(dir, "samples.json"), JSON.stringify(result.samples, null, 1) + "\n");
    const { points: _p, samples: _s, ...summary } = result;
    writeSummary(dir, summary as unknown as Record<string, unknown>); // last: its presence says the study finished
    log(`study done in ${result.seconds.toFixed(0)} s (from nothing it costs ${(secondsTotal / 60).toFixed(1)} min: PPO runs, best-of-n and its own reward models): ${points.length} points in ${path.relative(repoPath("."), dir)}/frontier.csv`);
    log(studyTable(result));
    return result;
  } finally {
    sft.model.dispose();
    for (const m of models) m.stage.model.dispose();
  }
}

function countParams(m: GPT): number {
  return m.trainableVariables().reduce((a, v) => a + v.size, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading it

/** A text table of the study: per run, SFT -> peak -> final gold with d, and the fits with R^2 and d* ("none" when the fit has no peak at d > 0). */
export function studyTable(r: StudyResult): string {
  const lines = ["reward model  run          peak gold (d, step)     final gold +- se (d)    final proxy  seconds"];
  for (const x of r.runs) {
    lines.push(`${x.rm.padEnd(12)}  ${x.setting.padEnd(11)}  ${x.peak_gold.toFixed(3)} (${x.peak_d.toFixed(2)}, ${String(x.peak_step).padStart(3)})     ` +
      `${x.final_gold.toFixed(3)} +- ${x.gold_se.toFixed(3)} (${x.final_d.toFixed(2)})   ${x.final_proxy.toFixed(3).padStart(8)}   ${x.seconds.toFixed(0).padStart(6)}`);
  }
  for (const b of r.points.filter((p) => p.method === "bon")) {
    if (b.step === 1 || b.step === Math.max(...r.points.filter((p) => p.method === "bon").map((p) => p.step))) {
      lines.push(`${b.rm.padEnd(12)}  best-of-${String(b.step).padEnd(3)}  gold ${b.gold.toFixed(3)} +- ${b.gold_se.toFixed(3)} at d ${b.d.toFixed(2)}, proxy ${b.proxy.toFixed(3)}`);
    }
  }
  for (const [k, f] of Object.entries(r.fits)) {
    const peak = gaoPeak(f);
    lines.push(`fit ${k.padEnd(11)} gain(d) = d (${f.alpha.toFixed(3)} - ${f.beta.toFixed(3)} ${f.form === "bon" ? "d" : "log d"}),  R^2 ${f.r2.toFixed(3)},  peak at d* = ${peak === undefined ? "none" : peak.toFixed(2)}`);
  }
  for (const [k, m] of Object.entries(r.reward_models)) {
    lines.push(`reward model ${k}: ${m.params} parameters, ${m.tokenizer} tokenizer, held-out accuracy ${m.heldout_accuracy.toFixed(3)} (labeller ceiling ${m.labeller_ceiling.toFixed(3)})`);
  }
  return lines.join("\n");
}
