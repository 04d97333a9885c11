// Beyond PPO (notebook 10): PPO, GRPO, RLOO, REINFORCE++ and DPO on the same SFT model, the same reward model, the
// same held-out prompts and sampling seed as the over-optimisation study (lib/studies/study.ts), so every method lands
// on the
// study's gold-vs-sqrt(KL) frontier, with best-of-n and the PPO KL sweep as the reference lines.
//
//   PPO          the course's loop: critic + GAE (ppo.advantage: gae)
//   GRPO         group-normalised advantages, the KL as a loss term, each response's token mean (Shao et al. 2024)
//   Dr. GRPO     GRPO without the group std and with a constant loss divisor (Liu et al. 2025)
//   RLOO         leave-one-out baseline, the KL in the reward (Ahmadian et al. 2024)
//   REINFORCE++  per-token return with the KL in the reward, whitened over the batch (Hu 2025)
//   DPO          offline, on the reward model's own preference pairs, no reward model at training time (Rafailov et al. 2023)
//
// The RL methods share ppo.* except the keys of `compare` (and the study's size: iterations, evaluation); the
// headline methods (PPO, GRPO, RLOO) run once per compare.seeds. `npm run pipeline -- --stage compare` runs it; each
// finished run is kept while its checkpoint's config matches. An RL run's points are read from its own log
// (metrics.csv), which --resume restores and continues; DPO has no resumable checkpoint and restarts, seeded, to the
// same points. Outputs: <runs>/compare/.
import * as fs from "node:fs";
import * as path from "node:path";
import { readCheckpointConfig } from "../train/checkpoint";
import { type AdvantageKind, type Config, hashedRm, type LossType, type ScaleRewards, repoPath, stableStringify, withOverrides } from "../core/config";
import { trainDpo } from "../beyond/dpo";
import { atomicWrite, readSummary, writeSummary } from "../core/metrics";
import { checkpointMismatch } from "../pipeline/stage";
import { ensureRewardModel } from "../pipeline/stages";
import { type EvalResult } from "../rl/evaluate";
import { rewardModelFns } from "../reward/reward-fns";
import { trainPpo } from "../pipeline/ppo";
import { ensureSft } from "../pipeline/stages";
import { evalPoint, type FrontierPoint, pointsFromPpoLog, sweepConfig } from "./study";
import { standardError } from "../core/stats";
import { consoleLog } from "../core/progress";

export type CompareMethod = "ppo" | "grpo" | "dr_grpo" | "rloo" | "reinforce_pp" | "dpo";

/** One finished run of the comparison. */
export interface MethodRun {
  method: CompareMethod;
  /** "seed 1234", "beta 0.1" */
  setting: string;
  seed: number;
  /** held-out evaluations, the SFT model's first (step 0) */
  points: FrontierPoint[];
  seconds: number;
  /** completions sampled for training (DPO: 0, it trains on the reward model's stored pairs) */
  samples: number;
  /** DPO: the preference pairs it trained on */
  pairs?: number;
}

export interface CompareResult {
  runs: MethodRun[];
  /** wall seconds of this invocation (kept runs are not rerun) */
  seconds: number;
  /** what the comparison costs from nothing: the sum of its runs' own times */
  seconds_total: number;
}

/** The RL arms in run order: the headline methods once per compare.seeds, the others at its first seed only. */
export const RL_ARMS: { method: Exclude<CompareMethod, "dpo">; everySeed: boolean }[] = [
  { method: "ppo", everySeed: true }, { method: "grpo", everySeed: true }, { method: "rloo", everySeed: true },
  { method: "reinforce_pp", everySeed: false }, { method: "dr_grpo", everySeed: false },
];

const ADVANTAGE: Record<Exclude<CompareMethod, "dpo">, AdvantageKind> = { ppo: "gae", grpo: "grpo", dr_grpo: "grpo", rloo: "rloo", reinforce_pp: "reinforce_pp" };

/**
 * Each RL method's loss aggregation and reward scale (ppo.loss_type, ppo.scale_rewards). GRPO as Shao et al. 2024
 * (eq. 3: each response's token mean, the group's std); Dr. GRPO as Liu et al. 2025 (a constant divisor, no std).
 * The others keep the config's loss_type (dapo: PPO's one token mean) and the scale GRPO alone reads.
 */
const LOSS: Record<Exclude<CompareMethod, "dpo">, { loss_type?: LossType; scale_rewards: ScaleRewards }> = {
  ppo: { scale_rewards: "group" },
  grpo: { loss_type: "grpo", scale_rewards: "group" },
  dr_grpo: { loss_type: "dr_grpo", scale_rewards: "none" },
  rloo: { scale_rewards: "group" },
  reinforce_pp: { scale_rewards: "group" },
};

/** The config of one RL run: the study's PPO run at compare.kl_coef, with the method's estimator, loss, group and seed. */
export function methodConfig(cfg: Config, method: Exclude<CompareMethod, "dpo">, seed: number): Config {
  const base = sweepConfig(cfg, "course", cfg.compare.kl_coef);
  const k = method === "ppo" ? 1 : cfg.compare.group_size;
  const l = LOSS[method];
  const v = withOverrides(base, [`ppo.advantage=${ADVANTAGE[method]}`, `ppo.group_size=${k}`, `ppo.seed=${seed}`,
    `ppo.scale_rewards=${l.scale_rewards}`, ...(l.loss_type ? [`ppo.loss_type=${l.loss_type}`] : [])]);
  return { ...v, paths: runPaths(cfg, `${method}-s${seed}`) };
}

/** The config of one DPO run: dpo.beta, evaluated on the study's held-out prompts. */
export function dpoMethodConfig(cfg: Config, beta: number): Config {
  const v = withOverrides(cfg, [`dpo.beta=${beta}`, `ppo.eval_prompts=${cfg.study.eval_prompts}`]);
  return { ...v, paths: runPaths(cfg, `dpo-b${beta}`) };
}

function runPaths(cfg: Config, name: string): Config["paths"] {
  return { checkpoints: path.join(cfg.paths.checkpoints, "compare", name), runs: path.join(cfg.paths.runs, "compare", name) };
}

/**
 * A finished run made with this config: its points.json, and its checkpoint's recorded sections equal to this
 * config's (the PPO stage hash for the RL methods; the sections DPO records for DPO), else undefined.
 */
function keptRun(v: Config, method: CompareMethod): MethodRun | undefined {
  const f = path.join(repoPath(v.paths.runs), "points.json");
  if (!fs.existsSync(f)) return undefined;
  if (method !== "dpo" && checkpointMismatch(v, "ppo") !== "") return undefined;
  if (method === "dpo" && !dpoCheckpointMatches(v)) return undefined;
  return JSON.parse(fs.readFileSync(f, "utf8")) as MethodRun;
}

/** The sections a DPO checkpoint records, as they enter a comparison (the rm section as its stage hashes it). */
function dpoSections(s: Pick<Config, "tokenizer" | "model" | "pretrain" | "sft" | "rm" | "dpo">, seed: number): string {
  return stableStringify({ seed, tokenizer: s.tokenizer, model: s.model, pretrain: s.pretrain, sft: s.sft, rm: hashedRm(s.rm), dpo: s.dpo });
}

function dpoCheckpointMatches(v: Config): boolean {
  const dir = path.join(repoPath(v.paths.checkpoints), "dpo");
  const saved = readCheckpointConfig<{ seed: number; sections: Pick<Config, "tokenizer" | "model" | "pretrain" | "sft" | "rm" | "dpo"> }>(dir);
  return !!saved?.sections && dpoSections(saved.sections, saved.seed) === dpoSections(v, v.seed);
}

/** PPO at the top-level seed is the study's run at the same coefficient, when the study kept one. */
function studyRun(cfg: Config): MethodRun | undefined {
  const v = sweepConfig(cfg, "course", cfg.compare.kl_coef);
  const dir = path.join(repoPath(v.paths.runs), "ppo");
  const s = readSummary(dir) as { seconds?: number } | undefined;
  if (!fs.existsSync(path.join(dir, "metrics.csv")) || !s || checkpointMismatch(v, "ppo") !== "") return undefined;
  const points = pointsFromPpoLog(dir, "ppo", "course", "ppo");
  return { method: "ppo", setting: `seed ${cfg.seed}`, seed: cfg.seed, points, seconds: s.seconds ?? NaN, samples: v.ppo.iterations * v.ppo.rollout_batch };
}

function saveRun(v: Config, run: MethodRun): void {
  atomicWrite(path.join(repoPath(v.paths.runs), "points.json"), JSON.stringify(run) + "\n");
}

export interface CompareOptions {
  log?: (line: string) => void;
}

/** Runs (or completes) the comparison; the pipeline's stage `compare`. */
export async function runCompare(cfg: Config, opts: CompareOptions = {}): Promise<CompareResult> {
  const log = opts.log ?? consoleLog;
  const t0 = performance.now();
  const c = cfg.compare;
  const sft = await ensureSft(cfg, { log });
  const rm = await ensureRewardModel(cfg, { log, sft }).catch((e) => {
    sft.model.dispose();
    throw e;
  });
  const runs: MethodRun[] = [];
  try {
    const plan: [Exclude<CompareMethod, "dpo">, number][] = [];
    for (const seed of c.seeds) for (const a of RL_ARMS) if (a.everySeed) plan.push([a.method, seed]);
    for (const a of RL_ARMS) if (!a.everySeed) plan.push([a.method, c.seeds[0]]);
    for (const [method, seed] of plan) {
      const v = methodConfig(cfg, method, seed);
      const own = keptRun(v, method);
      const kept = own ?? (method === "ppo" && seed === cfg.seed ? studyRun(cfg) : undefined);
      if (kept) {
        log(`compare: ${method} seed ${seed}: ${own ? `kept the finished run in ${v.paths.runs}` : `the study's run at ppo.kl.coef ${c.kl_coef}`}`);
        runs.push(kept);
        continue;
      }
      log(`compare: ${method} (ppo.advantage ${v.ppo.advantage}, group ${v.ppo.group_size}), seed ${seed}, ${v.ppo.iterations} iterations`);
      const run = await trainPpo(v, { sft: sft.model, rm: rm.model, tok: sft.tokenizer, rmTokenizer: rm.tokenizer }, { log });
      run.model.dispose();
      // from the log, not onEval: a resumed run reports only the evaluations after its restore
      const points = pointsFromPpoLog(path.join(repoPath(v.paths.runs), "ppo"), "ppo", "course", method);
      const r: MethodRun = { method, setting: `seed ${seed}`, seed, points, seconds: run.summary!.seconds, samples: v.ppo.iterations * v.ppo.rollout_batch };
      saveRun(v, r);
      runs.push(r);
    }
    for (const beta of c.dpo_betas) {
      const v = dpoMethodConfig(cfg, beta);
      const kept = keptRun(v, "dpo");
      if (kept) {
        log(`compare: DPO beta ${beta}: kept the finished run in ${v.paths.runs}`);
        runs.push(kept);
        continue;
      }
      if (!rm.data) throw new Error(`compare: DPO needs the reward model's pairs (${path.join(cfg.paths.runs, "rm", "pairs.csv")}); retrain the reward model: npm run pipeline -- --stage rm`);
      log(`compare: DPO beta ${beta}, ${v.dpo.max_steps ?? "all"} steps x ${v.dpo.batch_size} pairs`);
      // DPO keeps no resumable checkpoint: an interrupted run starts over here, so onEval sees every evaluation
      const points: FrontierPoint[] = [];
      const run = await trainDpo(v, { sft: sft.model, tok: sft.tokenizer, data: rm.data, reward: rewardModelFns(rm.model) }, {
        log,
        onEval: (step: number, e: EvalResult) => points.push(evalPoint("ppo", "course", "dpo", step, e)),
      });
      run.model.dispose();
      const r: MethodRun = { method: "dpo", setting: `beta ${beta}`, seed: cfg.seed, points, seconds: run.summary.seconds, samples: 0, pairs: run.summary.pairs_train };
      saveRun(v, r);
      runs.push(r);
    }
    const result: CompareResult = { runs, seconds: (performance.now() - t0) / 1000, seconds_total: runs.reduce((a, r) => a + r.seconds, 0) };
    const dir = path.join(repoPath(cfg.paths.runs), "compare");
    atomicWrite(path.join(dir, "runs.json"), JSON.stringify(runs, null, 1) + "\n");
    writeSummary(dir, { seconds: result.seconds, seconds_total: result.seconds_total, runs: runNames(cfg), table: compareRows(result) } as unknown as Record<string, unknown>);
    log(`compare done in ${result.seconds.toFixed(0)} s (its runs took ${(result.seconds_total / 60).toFixed(1)} min in all)`);
    log(compareTable(result));
    return result;
  } finally {
    sft.model.dispose();
    rm.model.dispose();
  }
}

/** The runs this config asks for, by name. */
function runNames(cfg: Config): string[] {
  const c = cfg.compare;
  const arms = (every: boolean, seed: number) => RL_ARMS.filter((a) => a.everySeed === every).map((a) => `${a.method}-s${seed}`);
  return [...c.seeds.flatMap((seed) => arms(true, seed)), ...arms(false, c.seeds[0]), ...c.dpo_betas.map((b) => `dpo-b${b}`)];
}

/** The saved comparison of this config's runs directory (undefined when none, or made with another config). */
export function readCompare(cfg: Config): CompareResult | undefined {
  const dir = path.join(repoPath(cfg.paths.runs), "compare");
  const f = path.join(dir, "runs.json"), s = path.join(dir, "summary.json");
  if (!fs.existsSync(f) || !fs.existsSync(s)) return undefined;
  const summary = JSON.parse(fs.readFileSync(s, "utf8")) as { seconds: number; seconds_total: number; runs?: string[] };
  if (stableStringify(summary.runs) !== stableStringify(runNames(cfg))) return undefined;
  const runs = JSON.parse(fs.readFileSync(f, "utf8")) as MethodRun[];
  // every run still matches this config (a changed ppo, rm or dpo section retrains it)
  const fresh = runs.every((r) => {
    if (r.method === "dpo") return dpoCheckpointMatches(dpoMethodConfig(cfg, Number(r.setting.replace("beta ", ""))));
    if (r.method === "ppo" && r.seed === cfg.seed && !keptRun(methodConfig(cfg, "ppo", r.seed), "ppo")) return studyRun(cfg) !== undefined;
    return checkpointMismatch(methodConfig(cfg, r.method, r.seed), "ppo") === "";
  });
  return fresh ? { runs, seconds: summary.seconds, seconds_total: summary.seconds_total } : undefined;
}

/** The comparison for this config: the saved one, else runCompare (which keeps any finished run). */
export async function ensureCompare(cfg: Config, opts: CompareOptions = {}): Promise<CompareResult> {
  const log = opts.log ?? consoleLog;
  const saved = readCompare(cfg);
  if (saved) {
    log(`compare: loaded ${path.join(cfg.paths.runs, "compare")} (${saved.runs.length} runs, ${(saved.seconds_total / 60).toFixed(1)} min of runs)`);
    return saved;
  }
  return runCompare(cfg, opts);
}

export interface CompareRow {
  method: string;
  runs: number;
  gold: number;
  /** across seeds when there are several (standard error of the mean of the runs' final gold), else over prompts */
  gold_se: number;
  gold_sft: number;
  proxy: number;
  kl: number;
  length: number;
  distinct2: number;
  seconds: number;
  samples: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** One row per method and setting (DPO per beta; RL methods averaged over their seeds): the final evaluations. */
export function compareRows(r: CompareResult): CompareRow[] {
  const groups = new Map<string, MethodRun[]>();
  for (const run of r.runs) {
    const key = run.method === "dpo" ? `dpo ${run.setting}` : run.method;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return [...groups].map(([key, runs]) => {
    const fin = runs.map((x) => x.points[x.points.length - 1]);
    const golds = fin.map((p) => p.gold);
    const se = runs.length > 1 ? standardError(golds) : fin[0].gold_se;
    return {
      method: key, runs: runs.length, gold: mean(golds), gold_se: se, gold_sft: runs[0].points[0].gold, proxy: mean(fin.map((p) => p.proxy)),
      kl: mean(fin.map((p) => p.kl)), length: mean(fin.map((p) => p.length)), distinct2: mean(fin.map((p) => p.distinct2)),
      seconds: mean(runs.map((x) => x.seconds)), samples: runs[0].samples,
    };
  });
}

/**
 * A run's gold at distance d, linearly interpolated between the two evaluations (sorted by d) that bracket it; null
 * when the run never reached d. Evaluations come every study.eval_every iterations, so this is a coarse estimate.
 */
export function goldAtDistance(points: Pick<FrontierPoint, "d" | "gold">[], d: number): number | null {
  const s = [...points].sort((a, b) => a.d - b.d);
  for (let i = 1; i < s.length; i++) {
    if (s[i - 1].d <= d && d <= s[i].d) return s[i - 1].gold + ((d - s[i - 1].d) / Math.max(s[i].d - s[i - 1].d, 1e-12)) * (s[i].gold - s[i - 1].gold);
  }
  return null;
}

/** The comparison as a text table. */
export function compareTable(r: CompareResult): string {
  const lines = ["method          runs  gold (SFT)            +- se    proxy    KL     length  distinct-2  seconds  samples drawn"];
  for (const x of compareRows(r)) {
    lines.push(`${x.method.padEnd(14)}  ${String(x.runs).padStart(4)}  ${x.gold.toFixed(3)} (${x.gold_sft.toFixed(3)})   +- ${x.gold_se.toFixed(3)}  ${x.proxy.toFixed(3).padStart(6)}  ` +
      `${x.kl.toFixed(2).padStart(5)}  ${x.length.toFixed(1).padStart(6)}  ${x.distinct2.toFixed(3).padStart(10)}  ${x.seconds.toFixed(0).padStart(7)}  ${String(x.samples).padStart(13)}`);
  }
  return lines.join("\n");
}
