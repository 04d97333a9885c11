// RL with verifiable rewards (notebook 11, `npm run pipeline -- --stage rlvr`): reversed-digit addition checked
// exactly (lib/reward/verifiable.ts), a tiny char-level GPT trained from scratch, and the course's PPO loop run as
// GRPO, RLOO and REINFORCE with that checker as the reward.
//
//   1. SFT      worked examples "042+317=" -> "953" EOS, prompt-masked loss (lib/train/sft.ts), constant lr; every
//               rlvr.sft.check_every steps pass@1 on validation problems, and SFT stops at the first check that
//               reaches rlvr.sft.stop_pass1: the model starts RL at the edge of its competence. The same run continued
//               rlvr.sft.easy_steps more steps is the "too easy" start.
//   2. RL arms  from the edge model, each with the same number of sampled completions and no KL (ppo.kl.coef 0):
//                 grpo        group-normalised advantages, ppo.loss_type dapo (every token of the batch weighs the same)
//                 rloo        leave-one-out baseline
//                 reinforce   r - group mean, one gradient step per batch of fresh samples: ratio exactly 1, so the clip
//                             never acts (nanochat's chat RL); rollout_batch / minibatches per iteration, minibatches times
//                             the iterations, so it takes as many steps on as many samples as the others
//                 loss types  GRPO with ppo.loss_type grpo and dr_grpo (Liu et al. 2025): the length of the answers
//                 digit bonus GRPO on the gameable reward (exact + bonus for the right number of digits); gold = exact
//                 too easy    GRPO from the longer-trained SFT model; too hard: GRPO on rlvr.hard_digits-digit problems
//               GRPO, RLOO and REINFORCE run once per rlvr.seeds; the variants (loss types, digit bonus, too easy, too
//               hard) at the first seed
//   3. Evaluation held-out problems (never drawn for training), rlvr.eval_samples samples each every rlvr.eval_every
//               iterations; before and after, rlvr.pass_k_samples each for the unbiased pass@k (lib/rl/pass-at-k.ts).
// Each finished arm is kept (runs/rlvr/<arm>/result.json, checkpoints/rlvr/<arm>/) while its config hash matches.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { type Config, type PpoConfig, repoPath, stableStringify, withOverrides } from "../core/config";
import { MetricsLog, atomicWrite, runDir, writeSummary } from "../core/metrics";
import { consoleLog, progress } from "../core/progress";
import { Rng } from "../core/rng";
import { mean, standardError } from "../core/stats";
import { GPT, type ModelConfig } from "../lm/model";
import { disposeRollout, sampleRollout } from "../lm/rollout";
import { Tokenizer } from "../lm/tokenizer";
import { checkpointExists, loadCheckpoint, readCheckpointConfig, saveCheckpoint } from "../train/checkpoint";
import { AdamW, lrAt, trainStep } from "../train/optim";
import { type SftExample, sftBatch, sftLoss } from "../train/sft";
import {
  type AdditionProblem, type VerifiableRewardKind, exactMatchReward, heldOutProblems, parseCompletion, problemAnswer, problemKey, problemPrompt,
  trainProblems, verifiableRewardFns,
} from "../reward/verifiable";
import { makeActorCritic } from "../rl/ppo-update";
import { PpoTrainer } from "../rl/trainer";
import { meanPassAtK, passAtKGrid } from "../rl/pass-at-k";

// ------------------------------------------------------------------------------------------------ the task

/** The problems of a run: held-out (test), validation (SFT's stopping rule), and the keys no training draw may use. */
export interface RlvrTask {
  test: AdditionProblem[];
  val: AdditionProblem[];
  /** held-out problems of rlvr.hard_digits digits (the too-hard run's test set) */
  hardTest: AdditionProblem[];
  exclude: ReadonlySet<string>;
}

/** The held-out and validation problems of a config, from its top-level seed (the same for every run). */
export function rlvrTask(cfg: Config): RlvrTask {
  const r = cfg.rlvr;
  const test = heldOutProblems(r.heldout_problems, [r.digits], new Rng(cfg.seed).fork("rlvr-test").seed);
  const testKeys = new Set(test.map(problemKey));
  // validation: drawn after the test set and rejecting its problems, so the two never share one
  const val = trainProblems(4 * r.val_problems, [r.digits], new Rng(cfg.seed).fork("rlvr-val"), testKeys)
    .filter((p, i, all) => all.findIndex((q) => problemKey(q) === problemKey(p)) === i).slice(0, r.val_problems);
  const hardTest = r.hard_digits === r.digits ? test : heldOutProblems(r.heldout_problems, [r.hard_digits], new Rng(cfg.seed).fork("rlvr-test-hard").seed);
  const exclude = new Set([...test, ...val, ...hardTest].map(problemKey));
  return { test, val, hardTest, exclude };
}

/** The model of notebook 11: char-level (one token per character), context for the longest prompt and completion. */
export function rlvrModelConfig(cfg: Config, tok: Tokenizer): ModelConfig {
  const r = cfg.rlvr;
  const longest = Math.max(r.digits, r.hard_digits);
  return { vocab_size: tok.vocabSize, context: 1 + 2 * longest + 2 + r.max_new_tokens, ...r.model, dropout: 0 };
}

/** A worked example as SFT reads it: [BOS, prompt, answer, EOS], the loss on the answer and EOS. */
export function workedExample(tok: Tokenizer, p: AdditionProblem): SftExample {
  const prompt = [tok.bos, ...tok.encode(problemPrompt(p))];
  // sftBatch reads ids and promptLen only; the demonstration record of the review data does not apply here
  return { ids: [...prompt, ...tok.encode(problemAnswer(p)), tok.eos], promptLen: prompt.length } as SftExample;
}

// ------------------------------------------------------------------------------------------------ evaluation

/** A model's answers to held-out problems, n samples each, checked exactly. */
export interface VerifiableEval {
  problems: number;
  /** samples per problem */
  n: number;
  /** correct samples per problem */
  correct: number[];
  pass1: number;
  /** standard error of pass@1 over problems */
  pass1_se: number;
  /** share of completions that parse (digits, then EOS) */
  parse_rate: number;
  /** share whose parsed answer has the answer's number of digits */
  right_length_rate: number;
  /** tokens per completion, EOS included (TRL's completions/mean_length) */
  mean_length: number;
  /** standard errors over problems of the parse rate and the mean length */
  parse_rate_se: number;
  mean_length_se: number;
  /** share cut at the token budget without EOS (TRL's completions/clipped_ratio) */
  clipped_ratio: number;
  /** pass@k for k = 1, 2, 4, ... n (when asked for) */
  pass_at_k?: { k: number; mean: number; se: number }[];
  /** the first sample of the first few problems */
  examples: { prompt: string; completion: string; eos: boolean; reward: number }[];
}

export interface VerifiableEvalOptions {
  maxNewTokens: number;
  temperature: number;
  /** the sampling seed: the same for every model compared, so they answer the same random draws */
  seed: number;
  /** pass@k curve from these n samples */
  passAtK?: boolean;
  /** rows per sampling batch */
  batch?: number;
}

/** Samples n completions of every problem at the given temperature and checks them (no gradient, dropout off). */
export function evaluateVerifiable(model: GPT, tok: Tokenizer, problems: AdditionProblem[], n: number, o: VerifiableEvalOptions): VerifiableEval {
  const rows = problems.flatMap((p) => Array<string>(n).fill(problemPrompt(p)));
  const batch = Math.max(n, Math.floor((o.batch ?? 2048) / n) * n);
  const rng = new Rng(o.seed);
  const correct = new Array<number>(problems.length).fill(0);
  const parsedOf = new Array<number>(problems.length).fill(0), lengthOf = new Array<number>(problems.length).fill(0);
  let parsed = 0, rightLength = 0, length = 0, clipped = 0;
  const examples: VerifiableEval["examples"] = [];
  for (let s = 0; s < rows.length; s += batch) {
    const prompts = rows.slice(s, s + batch);
    const r = sampleRollout(model, tok, prompts, { maxNewTokens: o.maxNewTokens, temperature: o.temperature, rng });
    try {
      prompts.forEach((prompt, j) => {
        const i = s + j, p = problems[Math.floor(i / n)];
        const c = r.completions[j], eos = r.eos[j];
        const ok = exactMatchReward(prompt, c, eos);
        correct[Math.floor(i / n)] += ok;
        const a = parseCompletion(c, eos);
        if (a !== null) {
          parsed++;
          parsedOf[Math.floor(i / n)]++;
        }
        if (a !== null && a.length === problemAnswer(p).length) rightLength++;
        length += r.lengths[j];
        lengthOf[Math.floor(i / n)] += r.lengths[j];
        if (!eos) clipped++;
        if (i % n === 0 && examples.length < 8) examples.push({ prompt, completion: c, eos, reward: ok });
      });
    } finally {
      disposeRollout(r);
    }
  }
  const perProblem = correct.map((c) => c / n);
  const N = rows.length;
  return {
    problems: problems.length, n, correct,
    pass1: mean(perProblem), pass1_se: standardError(perProblem),
    parse_rate: parsed / N, right_length_rate: rightLength / N, mean_length: length / N, clipped_ratio: clipped / N,
    parse_rate_se: standardError(parsedOf.map((x) => x / n)), mean_length_se: standardError(lengthOf.map((x) => x / n)),
    ...(o.passAtK ? { pass_at_k: passAtKGrid(n).map((k) => ({ k, ...meanPassAtK(correct, n, k) })) } : {}),
    examples,
  };
}

/** The evaluation options of a config: its temperature and budget, one sampling seed for every model. */
function evalOptions(cfg: Config, passAtK = false): VerifiableEvalOptions {
  return { maxNewTokens: cfg.rlvr.max_new_tokens, temperature: cfg.rlvr.temperature, seed: new Rng(cfg.seed).fork("rlvr-eval").seed, passAtK };
}

// ------------------------------------------------------------------------------------------------ SFT

export interface RlvrSftSummary {
  /** SFT steps of the edge model (where the stopping rule fired, or max_steps) */
  steps: number;
  /** whether the stopping rule fired before max_steps */
  stopped: boolean;
  /** validation pass@1 at each check */
  checks: { step: number; pass1: number }[];
  /** training loss per step of the edge model, then of the continued (too easy) steps */
  loss: number[];
  params: number;
  /** the edge model on the held-out problems: pass@k from rlvr.pass_k_samples samples each */
  edge: VerifiableEval;
  /** the too-easy start (SFT continued rlvr.sft.easy_steps steps) on the held-out problems, rlvr.eval_samples each */
  easy: VerifiableEval;
  /** the edge model on the too-hard problems (rlvr.hard_digits digits), rlvr.eval_samples each */
  hard: VerifiableEval;
  seconds: number;
  cpu_seconds: number;
  hash: string;
}

/** The layout of the saved summaries and results: raised when they gain a field, so older ones are remade. */
const RLVR_FORMAT = 2;

/** What SFT and its evaluation depend on: the top-level seed and the rlvr keys that are not about RL. */
export function rlvrSftHash(cfg: Config): string {
  const r = cfg.rlvr;
  const keys = { format: RLVR_FORMAT, seed: cfg.seed, digits: r.digits, hard_digits: r.hard_digits, sft_examples: r.sft_examples, heldout_problems: r.heldout_problems,
    val_problems: r.val_problems, max_new_tokens: r.max_new_tokens, model: r.model, sft: r.sft, temperature: r.temperature,
    eval_samples: r.eval_samples, pass_k_samples: r.pass_k_samples };
  return crypto.createHash("sha256").update(stableStringify(keys)).digest("hex").slice(0, 16);
}

function rlvrDirs(cfg: Config, name: string): { runs: string; checkpoints: string } {
  return { runs: path.join(repoPath(cfg.paths.runs), "rlvr", name), checkpoints: path.join(repoPath(cfg.paths.checkpoints), "rlvr", name) };
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

export interface RlvrSft {
  edge: GPT;
  easy: GPT;
  tok: Tokenizer;
  summary: RlvrSftSummary;
  trained: boolean;
}

/** The saved SFT models and summary when they match this config, else undefined. */
function loadRlvrSft(cfg: Config): RlvrSft | undefined {
  const edgeDir = rlvrDirs(cfg, "sft").checkpoints, easyDir = rlvrDirs(cfg, "sft-easy").checkpoints;
  const hash = rlvrSftHash(cfg);
  for (const d of [edgeDir, easyDir]) if (readCheckpointConfig<{ hash?: string }>(d)?.hash !== hash) return undefined;
  const f = path.join(rlvrDirs(cfg, "sft").runs, "summary.json");
  if (!fs.existsSync(f)) return undefined;
  const summary = JSON.parse(fs.readFileSync(f, "utf8")) as RlvrSftSummary;
  if (summary.hash !== hash) return undefined;
  const edge = loadCheckpoint(edgeDir).model;
  const e = loadCheckpoint(easyDir);
  return { edge, easy: e.model, tok: e.tokenizer, summary, trained: false };
}

/**
 * SFT from scratch on rlvr.sft_examples worked examples, stopped at the edge of competence (header, step 1), and the
 * same run continued (the too-easy start). Both saved under checkpoints/rlvr/; the caller disposes the models.
 */
export async function trainRlvrSft(cfg: Config, opts: { log?: (line: string) => void } = {}): Promise<RlvrSft> {
  const log = opts.log ?? consoleLog;
  const r = cfg.rlvr, s = r.sft;
  const t0 = performance.now(), c0 = process.cpuUsage();
  const tok = new Tokenizer("char", []);
  const task = rlvrTask(cfg);
  const rng = new Rng(cfg.seed).fork("rlvr-sft");
  const examples = trainProblems(r.sft_examples, [r.digits], rng.fork("examples"), task.exclude).map((p) => workedExample(tok, p));
  const model = new GPT(rlvrModelConfig(cfg, tok), { seed: new Rng(cfg.seed).fork("rlvr-init").seed });
  const vars = model.trainableVariables();
  const opt = new AdamW(vars, { weightDecay: 0 });
  const order = rng.fork("batches");
  const loss: number[] = [];
  const checks: { step: number; pass1: number }[] = [];
  const checkOpts = { ...evalOptions(cfg), seed: new Rng(cfg.seed).fork("rlvr-val-sampling").seed };
  const step = (lr: number) => {
    const batch = Array.from({ length: s.batch_size }, () => examples[order.int(examples.length)]);
    const { x, y, mask } = sftBatch(batch, tok.pad);
    try {
      loss.push(trainStep(vars, () => sftLoss(model, x, y, mask, true), opt, { lr, gradClip: 1 }).loss);
    } finally {
      tf.dispose([x, y, mask]);
    }
  };
  let steps = 0, stopped = false;
  const bar = progress("rlvr: SFT steps", s.max_steps);
  for (; steps < s.max_steps; steps++) {
    if (steps > 0 && steps % s.check_every === 0) {
      const v = evaluateVerifiable(model, tok, task.val, 4, checkOpts);
      checks.push({ step: steps, pass1: v.pass1 });
      if (v.pass1 >= s.stop_pass1) {
        stopped = true;
        break;
      }
    }
    step(lrAt(steps, { lr: s.lr, steps: s.max_steps, warmup_steps: s.warmup_steps, min_lr_ratio: 1 }));
    bar.tick();
    if (steps % 20 === 0) await new Promise((res) => setImmediate(res));
  }
  bar.done();
  log(`rlvr: SFT ${stopped ? `stopped at step ${steps}, validation pass@1 ${checks[checks.length - 1].pass1.toFixed(3)} >= ${s.stop_pass1}` : `ran all ${steps} steps without reaching validation pass@1 ${s.stop_pass1}`}`);
  // the too-easy start: the same run continued (same optimiser and data stream) s.easy_steps more steps, lr decaying
  // to 5%; the edge model is the copy taken here
  const edge = model.clone();
  for (let i = 0; i < s.easy_steps; i++) {
    step(lrAt(i, { lr: s.lr, steps: s.easy_steps, warmup_steps: 0, min_lr_ratio: 0.05 }));
    if (i % 20 === 0) await new Promise((res) => setImmediate(res));
  }
  opt.dispose();
  const easy = model;
  const edgeEval = evaluateVerifiable(edge, tok, task.test, r.pass_k_samples, evalOptions(cfg, true));
  const easyEval = evaluateVerifiable(easy, tok, task.test, r.eval_samples, evalOptions(cfg));
  const hardEval = evaluateVerifiable(edge, tok, task.hardTest, r.eval_samples, evalOptions(cfg));
  const hash = rlvrSftHash(cfg);
  const summary: RlvrSftSummary = {
    steps, stopped, checks, loss, params: edge.paramCount(), edge: edgeEval, easy: easyEval, hard: hardEval,
    seconds: (performance.now() - t0) / 1000, cpu_seconds: cpuSeconds(c0), hash,
  };
  const record = { stage: "rlvr-sft", hash, seed: cfg.seed, rlvr: cfg.rlvr };
  await saveCheckpoint(rlvrDirs(cfg, "sft").checkpoints, { model: edge, tokenizer: tok, config: { ...record, steps } });
  await saveCheckpoint(rlvrDirs(cfg, "sft-easy").checkpoints, { model: easy, tokenizer: tok, config: { ...record, steps: steps + s.easy_steps } });
  const dir = rlvrDirs(cfg, "sft").runs;
  fs.mkdirSync(dir, { recursive: true });
  writeSummary(dir, summary as unknown as Record<string, unknown>); // after the checkpoints it describes
  log(`rlvr: SFT model (${summary.params.toLocaleString("en-US")} parameters) on ${task.test.length} held-out problems: pass@1 ${edgeEval.pass1.toFixed(3)}, ` +
    `parse rate ${edgeEval.parse_rate.toFixed(3)}; continued ${s.easy_steps} steps: pass@1 ${easyEval.pass1.toFixed(3)}; ` +
    `on ${r.hard_digits}-digit problems: ${hardEval.pass1.toFixed(3)} (${summary.seconds.toFixed(0)} s, ${summary.cpu_seconds.toFixed(0)} CPU s)`);
  return { edge, easy, tok, summary, trained: true };
}

/** The SFT models of this config: loaded when saved with the same settings, else trained. */
export async function ensureRlvrSft(cfg: Config, opts: { log?: (line: string) => void } = {}): Promise<RlvrSft> {
  const kept = loadRlvrSft(cfg);
  if (kept) {
    (opts.log ?? consoleLog)(`rlvr: loaded the SFT models from ${path.join(cfg.paths.checkpoints, "rlvr")} (stopped at step ${kept.summary.steps})`);
    return kept;
  }
  return trainRlvrSft(cfg, opts);
}

// ------------------------------------------------------------------------------------------------ RL arms

export type RlvrMethod = "grpo" | "rloo" | "reinforce" | "grpo_loss_grpo" | "grpo_loss_dr_grpo" | "digit_bonus" | "too_easy" | "too_hard";

/** One RL run of the study. */
export interface RlvrArm {
  /** "grpo-s1" */
  name: string;
  method: RlvrMethod;
  seed: number;
  /** which SFT model it starts from */
  start: "edge" | "easy";
  digits: number;
  reward: VerifiableRewardKind;
  /** the ppo.* keys it runs with (on top of the RLVR settings every arm shares) */
  overrides: string[];
}

/** Method -> what it runs as: advantage, reward scaling, loss aggregation, reward, start, width. */
const METHODS: Record<RlvrMethod, { advantage: string; scale: string; loss: string; reward?: VerifiableRewardKind; start?: "easy"; hard?: boolean; side?: boolean }> = {
  grpo: { advantage: "grpo", scale: "group", loss: "dapo" },
  rloo: { advantage: "rloo", scale: "group", loss: "dapo" },
  reinforce: { advantage: "grpo", scale: "none", loss: "dapo" },
  grpo_loss_grpo: { advantage: "grpo", scale: "group", loss: "grpo" },
  grpo_loss_dr_grpo: { advantage: "grpo", scale: "group", loss: "dr_grpo" },
  digit_bonus: { advantage: "grpo", scale: "group", loss: "dapo", reward: "digit_count" },
  too_easy: { advantage: "grpo", scale: "group", loss: "dapo", start: "easy", side: true },
  too_hard: { advantage: "grpo", scale: "group", loss: "dapo", hard: true, side: true },
};

/** What each method is, in a few words (tables and charts). */
export const RLVR_METHOD_LABELS: Record<RlvrMethod, string> = {
  grpo: "GRPO (loss_type dapo)",
  rloo: "RLOO",
  reinforce: "REINFORCE, mean baseline",
  grpo_loss_grpo: "GRPO, loss_type grpo",
  grpo_loss_dr_grpo: "GRPO, loss_type dr_grpo",
  digit_bonus: "GRPO, digit-count bonus",
  too_easy: "GRPO, too easy (SFT trained longer)",
  too_hard: "GRPO, too hard (more digits)",
};

/** The methods run once per rlvr.seeds; the variants of GRPO run at the first seed (their error bars: over problems). */
export const RLVR_MAIN_METHODS: readonly RlvrMethod[] = ["grpo", "rloo", "reinforce"];
export const RLVR_VARIANTS: readonly RlvrMethod[] = ["grpo_loss_grpo", "grpo_loss_dr_grpo", "digit_bonus", "too_easy", "too_hard"];

/** The arms of this config: the main methods once per rlvr.seeds, then the variants at the first seed. */
export function rlvrArms(cfg: Config): RlvrArm[] {
  const r = cfg.rlvr;
  const arms: RlvrArm[] = [];
  const make = (method: RlvrMethod, seed: number): RlvrArm => {
    const m = METHODS[method];
    const reinforce = method === "reinforce";
    const iterations = (m.side ? r.side_iterations : r.iterations) * (reinforce ? r.minibatches : 1);
    const prompts = reinforce ? r.prompts_per_iteration / r.minibatches : r.prompts_per_iteration;
    const digits = m.hard ? r.hard_digits : r.digits;
    return {
      name: `${method}-s${seed}`, method, seed, start: m.start ?? "edge", digits, reward: m.reward ?? "exact",
      overrides: [
        `ppo.iterations=${iterations}`, `ppo.seed=${seed}`, `ppo.group_size=${r.group_size}`, `ppo.rollout_batch=${prompts * r.group_size}`,
        `ppo.max_new_tokens=${r.max_new_tokens}`, `ppo.temperature=${r.temperature}`, "ppo.top_k=0", "ppo.top_p=1",
        `ppo.lr=${r.lr}`, "ppo.min_lr_ratio=1", "ppo.warmup_steps=0", "ppo.weight_decay=0",
        "ppo.epochs=1", `ppo.minibatches=${reinforce ? 1 : r.minibatches}`, "ppo.early_stop_kl=null", "ppo.ent_coef=0", "ppo.dropout=false",
        "ppo.kl.coef=0", "ppo.kl.adaptive=false",
        "ppo.reward.normalize=false", "ppo.reward.squash=false", "ppo.reward.clip=null", "ppo.reward.missing_eos_penalty=null",
        `ppo.advantage=${m.advantage}`, `ppo.scale_rewards=${m.scale}`, `ppo.loss_type=${m.loss}`,
      ],
    };
  };
  for (const seed of r.seeds) for (const m of RLVR_MAIN_METHODS) arms.push(make(m, seed));
  for (const m of RLVR_VARIANTS) arms.push(make(m, r.seeds[0]));
  return arms;
}

/** The ppo section an arm runs with: the config's, with the arm's overrides (validated like a file). */
export function rlvrPpoConfig(cfg: Config, arm: RlvrArm): PpoConfig {
  return withOverrides(cfg, arm.overrides).ppo;
}

/** One iteration of an RL arm, with TRL GRPOTrainer's metric names. */
export interface RlvrRow {
  step: number;
  /** completions sampled so far */
  samples: number;
  reward: number;
  reward_std: number;
  frac_reward_zero_std: number;
  /** mean per-token entropy of the policy on its samples, during the update */
  entropy: number;
  clip_ratio: number;
  "completions/mean_length": number;
  "completions/clipped_ratio": number;
  /** k1 estimate of KL(policy || SFT) per completion, nats (no penalty: measured only) */
  kl: number;
  /** exact-match reward of the same samples (equal to reward unless the reward is gameable) */
  exact: number;
  /** share of groups whose every sample is exact, and whose none is (the two kinds of zero-spread group) */
  frac_all_correct: number;
  frac_none_correct: number;
  parse_rate: number;
  right_length_rate: number;
}

export interface RlvrEvalPoint {
  step: number;
  samples: number;
  pass1: number;
  pass1_se: number;
  parse_rate: number;
  right_length_rate: number;
  mean_length: number;
  clipped_ratio: number;
}

export interface RlvrArmResult {
  arm: RlvrArm;
  label: string;
  rows: RlvrRow[];
  /** held-out evaluations, the start model's first (step 0) */
  evals: RlvrEvalPoint[];
  /** the start model and the final policy, rlvr.pass_k_samples samples per held-out problem (side arms: eval_samples) */
  before: VerifiableEval;
  after: VerifiableEval;
  seconds: number;
  cpu_seconds: number;
  hash: string;
}

/** What an arm's result depends on: the SFT, the arm, every ppo key it runs with, and the RL keys of rlvr. */
export function rlvrArmHash(cfg: Config, arm: RlvrArm): string {
  const { seeds: _s, ...rl } = cfg.rlvr;
  return crypto.createHash("sha256").update(stableStringify({ sft: rlvrSftHash(cfg), rlvr: rl, arm, ppo: rlvrPpoConfig(cfg, arm) })).digest("hex").slice(0, 16);
}

/** The mean over groups of k consecutive rewards of their std (Bessel), and the share of groups with no spread. */
export function groupRewardStats(rewards: number[], k: number): { reward_std: number; frac_reward_zero_std: number } {
  const stds: number[] = [];
  let zero = 0;
  for (let g = 0; g + k <= rewards.length; g += k) {
    const x = rewards.slice(g, g + k);
    const m = mean(x);
    stds.push(Math.sqrt(x.reduce((a, v) => a + (v - m) ** 2, 0) / (k - 1)));
    if (x.every((v) => v === x[0])) zero++;
  }
  return { reward_std: mean(stds), frac_reward_zero_std: zero / stds.length };
}

/** The share of groups of k consecutive exact rewards that are all 1, and that are all 0. */
function allOrNone(exact: number[], k: number): { frac_all_correct: number; frac_none_correct: number } {
  let all = 0, none = 0, groups = 0;
  for (let g = 0; g + k <= exact.length; g += k, groups++) {
    const c = exact.slice(g, g + k).reduce((a, b) => a + b, 0);
    if (c === k) all++;
    if (c === 0) none++;
  }
  return { frac_all_correct: all / groups, frac_none_correct: none / groups };
}

function evalPoint(step: number, samples: number, e: VerifiableEval): RlvrEvalPoint {
  return { step, samples, pass1: e.pass1, pass1_se: e.pass1_se, parse_rate: e.parse_rate, right_length_rate: e.right_length_rate, mean_length: e.mean_length, clipped_ratio: e.clipped_ratio };
}

/** Trains one arm from its start model (not modified) and evaluates it; saves the policy and result. */
export async function runRlvrArm(cfg: Config, arm: RlvrArm, start: GPT, tok: Tokenizer, task: RlvrTask, before: VerifiableEval, opts: { log?: (line: string) => void } = {}): Promise<RlvrArmResult> {
  const log = opts.log ?? consoleLog;
  const r = cfg.rlvr;
  const t0 = performance.now(), c0 = process.cpuUsage();
  const p = rlvrPpoConfig(cfg, arm);
  const side = METHODS[arm.method].side === true;
  const test = arm.digits === r.digits ? task.test : task.hardTest;
  const evalEvery = r.eval_every * (arm.method === "reinforce" ? r.minibatches : 1);
  const ac = makeActorCritic(start, "none");
  const reward = verifiableRewardFns(tok, arm.reward, r.bonus);
  const problems = trainProblems(p.iterations * (p.rollout_batch / p.group_size), [arm.digits], new Rng(arm.seed).fork(`rlvr-train-${arm.digits}`), task.exclude);
  const trainer = new PpoTrainer({ ppo: p, ac, tok, reward, prompts: problems.map(problemPrompt), seed: arm.seed });
  const rows: RlvrRow[] = [];
  const evals: RlvrEvalPoint[] = [evalPoint(0, 0, before)];
  const bar = progress(`rlvr: ${arm.name}`, p.iterations);
  try {
    for (let i = 0; i < p.iterations; i++) {
      const row = trainer.step();
      const last = reward.last!;
      const k = trainer.iteration;
      rows.push({
        step: k, samples: k * p.rollout_batch,
        reward: mean(last.rewards), ...groupRewardStats(last.rewards, p.group_size),
        entropy: row["policy/entropy_avg"], clip_ratio: row["policy/clipfrac_avg"],
        "completions/mean_length": row.response_length, "completions/clipped_ratio": 1 - row["val/num_eos_tokens"] / p.rollout_batch,
        kl: row["objective/kl"], exact: mean(last.exact), ...allOrNone(last.exact, p.group_size), parse_rate: mean(last.parsed.map(Number)), right_length_rate: mean(last.rightLength.map(Number)),
      });
      if (k % evalEvery === 0 && k < p.iterations) evals.push(evalPoint(k, k * p.rollout_batch, evaluateVerifiable(ac.policy, tok, test, r.eval_samples, evalOptions(cfg))));
      bar.tick();
      await new Promise((res) => setImmediate(res)); // lets a notebook kernel breathe
    }
    bar.done();
    const after = evaluateVerifiable(ac.policy, tok, test, side ? r.eval_samples : r.pass_k_samples, evalOptions(cfg, !side));
    // the last point on the curves: pass@1 at rlvr.eval_samples' precision or better
    evals.push(evalPoint(p.iterations, p.iterations * p.rollout_batch, after));
    const result: RlvrArmResult = {
      arm, label: RLVR_METHOD_LABELS[arm.method], rows, evals, before, after,
      seconds: (performance.now() - t0) / 1000, cpu_seconds: cpuSeconds(c0), hash: rlvrArmHash(cfg, arm),
    };
    const dirs = rlvrDirs(cfg, arm.name);
    await saveCheckpoint(dirs.checkpoints, { model: ac.policy, tokenizer: tok, config: { stage: "rlvr", hash: result.hash, arm, ppo: p } });
    const m = new MetricsLog("rlvr");
    const evalAt = new Map(evals.map((e) => [e.step, { "eval/pass1": e.pass1, "eval/parse_rate": e.parse_rate, "eval/mean_length": e.mean_length }]));
    m.log(0, evalAt.get(0)!);
    for (const { step, ...rest } of rows) m.log(step, { ...rest, ...evalAt.get(step) });
    fs.mkdirSync(dirs.runs, { recursive: true });
    m.toCsv(path.join(dirs.runs, "metrics.csv"));
    atomicWrite(path.join(dirs.runs, "result.json"), JSON.stringify(result) + "\n"); // after the checkpoint it describes
    log(`rlvr: ${arm.name}: held-out pass@1 ${before.pass1.toFixed(3)} -> ${after.pass1.toFixed(3)}, parse rate ${after.parse_rate.toFixed(3)}, ` +
      `${p.iterations} iterations x ${p.rollout_batch} completions in ${result.seconds.toFixed(0)} s (${result.cpu_seconds.toFixed(0)} CPU s)`);
    return result;
  } finally {
    trainer.dispose();
    ac.policy.dispose();
    ac.ref.dispose();
  }
}

/** A kept arm result when it was made with this config, else undefined. */
function keptArm(cfg: Config, arm: RlvrArm): RlvrArmResult | undefined {
  const dirs = rlvrDirs(cfg, arm.name);
  const f = path.join(dirs.runs, "result.json");
  if (!fs.existsSync(f) || !checkpointExists(dirs.checkpoints)) return undefined;
  const res = JSON.parse(fs.readFileSync(f, "utf8")) as RlvrArmResult;
  return res.hash === rlvrArmHash(cfg, arm) ? res : undefined;
}

export interface RlvrResult {
  sft: RlvrSftSummary;
  arms: RlvrArmResult[];
  /** wall and CPU seconds of this call (kept parts are not redone) */
  seconds: number;
  cpu_seconds: number;
  /** what the whole study costs from nothing: SFT's and every arm's own times */
  seconds_total: number;
  cpu_seconds_total: number;
}

/** Runs (or completes) the study: SFT, then every arm not kept; the pipeline's stage `rlvr`. */
export async function runRlvr(cfg: Config, opts: { log?: (line: string) => void } = {}): Promise<RlvrResult> {
  const log = opts.log ?? consoleLog;
  const t0 = performance.now(), c0 = process.cpuUsage();
  const task = rlvrTask(cfg);
  const arms = rlvrArms(cfg);
  const results: (RlvrArmResult | undefined)[] = arms.map((a) => keptArm(cfg, a));
  let sft: RlvrSft | undefined;
  const kept = results.filter(Boolean).length;
  if (kept) log(`rlvr: kept ${kept} of ${arms.length} finished runs in ${path.join(cfg.paths.runs, "rlvr")}`);
  try {
    sft = await ensureRlvrSft(cfg, { log });
    for (const [i, arm] of arms.entries()) {
      if (results[i]) continue;
      const s = sft;
      const before = arm.start === "easy" ? s.summary.easy : arm.digits !== cfg.rlvr.digits ? s.summary.hard : s.summary.edge;
      results[i] = await runRlvrArm(cfg, arm, arm.start === "easy" ? s.easy : s.edge, s.tok, task, before, { log });
    }
  } finally {
    sft?.edge.dispose();
    sft?.easy.dispose();
  }
  const done = results as RlvrArmResult[];
  const res: RlvrResult = {
    sft: sft!.summary, arms: done, seconds: (performance.now() - t0) / 1000, cpu_seconds: cpuSeconds(c0),
    seconds_total: sft!.summary.seconds + done.reduce((a, x) => a + x.seconds, 0),
    cpu_seconds_total: sft!.summary.cpu_seconds + done.reduce((a, x) => a + x.cpu_seconds, 0),
  };
  const dir = runDir(cfg, "rlvr");
  writeSummary(dir, {
    seconds: res.seconds, cpu_seconds: res.cpu_seconds, seconds_total: res.seconds_total, cpu_seconds_total: res.cpu_seconds_total,
    arms: arms.map((a) => a.name), sft_steps: res.sft.steps, sft_pass1: res.sft.edge.pass1, sft_parse_rate: res.sft.edge.parse_rate, table: rlvrRows(res),
  });
  log(`rlvr done in ${res.seconds.toFixed(0)} s (${res.cpu_seconds.toFixed(0)} CPU s); from nothing ${res.seconds_total.toFixed(0)} s (${res.cpu_seconds_total.toFixed(0)} CPU s)`);
  log(rlvrTable(res));
  return res;
}

/** The saved study when every part of it matches this config, else undefined. */
export function readRlvr(cfg: Config): RlvrResult | undefined {
  const f = path.join(rlvrDirs(cfg, "sft").runs, "summary.json");
  if (!fs.existsSync(f)) return undefined;
  const sft = JSON.parse(fs.readFileSync(f, "utf8")) as RlvrSftSummary;
  if (sft.hash !== rlvrSftHash(cfg)) return undefined;
  const arms = rlvrArms(cfg).map((a) => keptArm(cfg, a));
  if (arms.some((a) => !a)) return undefined;
  const done = arms as RlvrArmResult[];
  const total = sft.seconds + done.reduce((a, x) => a + x.seconds, 0), cpu = sft.cpu_seconds + done.reduce((a, x) => a + x.cpu_seconds, 0);
  return { sft, arms: done, seconds: 0, cpu_seconds: 0, seconds_total: total, cpu_seconds_total: cpu };
}

/** The study for this config: the saved one, else runRlvr (which keeps any finished part). */
export async function ensureRlvr(cfg: Config, opts: { log?: (line: string) => void } = {}): Promise<RlvrResult> {
  const saved = readRlvr(cfg);
  if (saved) {
    (opts.log ?? consoleLog)(`rlvr: loaded ${path.join(cfg.paths.runs, "rlvr")} (${saved.arms.length} runs; from nothing they took ${saved.seconds_total.toFixed(0)} s, ${saved.cpu_seconds_total.toFixed(0)} CPU s)`);
    return saved;
  }
  return runRlvr(cfg, opts);
}

// ------------------------------------------------------------------------------------------------ summaries

/** One row per method: before and after, mean over its seeds with the standard error across them. */
export interface RlvrTableRow {
  method: RlvrMethod;
  label: string;
  seeds: number;
  pass1_before: number;
  pass1_after: number;
  /** across seeds (two or more), else over problems */
  pass1_after_se: number;
  /** pass@k at the ks of the table (1, 8, n), before and after, means over seeds */
  pass_at_k: { k: number; before: number; after: number }[];
  parse_before: number;
  parse_after: number;
  length_after: number;
  /** exact-match reward of the last iteration's samples, and the reward the policy optimised */
  train_exact: number;
  train_reward: number;
  seconds: number;
  cpu_seconds: number;
  samples: number;
}

/** The table's ks: 1, 8 and n (those not above n). */
export function tableKs(n: number): number[] {
  return [...new Set([1, 8, n].filter((k) => k <= n))];
}

export function rlvrRows(res: RlvrResult): RlvrTableRow[] {
  const by = new Map<RlvrMethod, RlvrArmResult[]>();
  for (const a of res.arms) by.set(a.arm.method, [...(by.get(a.arm.method) ?? []), a]);
  return [...by].map(([method, runs]) => {
    const after = runs.map((x) => x.after.pass1);
    const at = (e: VerifiableEval, k: number) => e.pass_at_k?.find((x) => x.k === k)?.mean ?? (k === 1 ? e.pass1 : NaN);
    const n = runs[0].after.n;
    const last = (x: RlvrArmResult) => x.rows[x.rows.length - 1];
    return {
      method, label: runs[0].label, seeds: runs.length,
      pass1_before: mean(runs.map((x) => x.before.pass1)), pass1_after: mean(after),
      pass1_after_se: runs.length > 1 ? standardError(after) : runs[0].after.pass1_se,
      pass_at_k: tableKs(n).map((k) => ({ k, before: mean(runs.map((x) => at(x.before, k))), after: mean(runs.map((x) => at(x.after, k))) })),
      parse_before: mean(runs.map((x) => x.before.parse_rate)), parse_after: mean(runs.map((x) => x.after.parse_rate)),
      length_after: mean(runs.map((x) => x.after.mean_length)),
      train_exact: mean(runs.map((x) => last(x).exact)), train_reward: mean(runs.map((x) => last(x).reward)),
      seconds: mean(runs.map((x) => x.seconds)), cpu_seconds: mean(runs.map((x) => x.cpu_seconds)),
      samples: last(runs[0]).samples,
    };
  });
}

/** The study's table as text (stdout of the stage, and the notebook). */
export function rlvrTable(res: RlvrResult): string {
  const rows = rlvrRows(res);
  const ks = rows[0]?.pass_at_k.map((x) => x.k) ?? [];
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "  -  ");
  const head = ["method".padEnd(38), "seeds", "pass@1 before -> after (se)".padEnd(27), ...ks.filter((k) => k > 1).map((k) => `pass@${k} before -> after`.padEnd(24)),
    "parse before -> after", "length", "s / run", "CPU s / run"];
  const lines = [head.join(" | ")];
  for (const r of rows) {
    lines.push([
      r.label.padEnd(38), String(r.seeds).padStart(5), `${f(r.pass1_before)} -> ${f(r.pass1_after)} (${f(r.pass1_after_se)})`.padEnd(27),
      ...r.pass_at_k.filter((x) => x.k > 1).map((x) => `${f(x.before)} -> ${f(x.after)}`.padEnd(24)),
      `${f(r.parse_before)} -> ${f(r.parse_after)}`.padEnd(21), r.length_after.toFixed(2).padStart(6), r.seconds.toFixed(0).padStart(7), r.cpu_seconds.toFixed(0).padStart(11),
    ].join(" | "));
  }
  return lines.join("\n");
}

/**
 * Cui et al. 2025's law between a policy's entropy H and its reward R during RL: R = -a e^H + b, fitted by least
 * squares (linear in e^H). r2 is the share of R's variance the fit explains.
 */
export function fitEntropyReward(entropy: number[], reward: number[]): { a: number; b: number; r2: number } {
  if (entropy.length !== reward.length || entropy.length < 2) throw new Error(`fitEntropyReward: need two or more (entropy, reward) pairs of equal count, got ${entropy.length} and ${reward.length}`);
  const x = entropy.map(Math.exp), mx = mean(x), my = mean(reward);
  const sxx = x.reduce((a, v) => a + (v - mx) ** 2, 0), sxy = x.reduce((a, v, i) => a + (v - mx) * (reward[i] - my), 0);
  if (!(sxx > 0)) throw new Error("fitEntropyReward: every entropy is the same; nothing to fit");
  const slope = sxy / sxx, b = my - slope * mx;
  const ssRes = x.reduce((a, v, i) => a + (reward[i] - (slope * v + b)) ** 2, 0), ssTot = reward.reduce((a, v) => a + (v - my) ** 2, 0);
  return { a: -slope, b, r2: ssTot > 0 ? 1 - ssRes / ssTot : NaN };
}
