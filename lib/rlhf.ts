// The RLHF loop: PPO against a learned reward model, with a frozen SFT reference, and the evaluation that tells
// whether it worked (the gold scorer the reward model was trained to imitate, KL from the reference, diversity).
//
// One iteration (PpoTrainer.step):
//   prompts (train split) --sample--> rollout (tokens, masks, EOS)             policy, dropout off, KV cache
//     --> proxy score s = RM(prompt + response) at the last real token         the reward model (frozen)
//         gold score g = VADER(prompt + response)                             logged only: the policy never sees it
//     --> post-processed score: normalise with the SFT score stats, missing-EOS penalty, squash, clip (ppo.reward)
//     --> per-token KL vs the reference --> shaped reward --> GAE --> whitened advantages
//         (critic-free, ppo.advantage rloo | grpo | reinforce_pp: a sequence reward per response --> one advantage per
//          response from the other responses' rewards, on all its tokens; ppo.group_size samples per prompt)
//     --> epochs x minibatches of the clipped update (lib/ppo_update.ts)
//     --> one metrics row with TRL's names, the KL controller updated with the batch's KL
// Every ppo.eval_every iterations, and once for the SFT model before training, the held-out evaluation.
//
// runPpo(cfg) composes it with the stages before (SFT and reward-model checkpoints, trained when missing) and leaves
//   runs/ppo/metrics.csv, runs/ppo/summary.json, checkpoints/ppo/ (policy with its value head, tokenizer, config).
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { saveCheckpoint } from "./checkpoint";
import type { Config, PpoConfig } from "./config";
import { AdaptiveKLController, type KLController, klControllerFromConfig } from "./kl";
import { goldScores } from "./labeller";
import { MetricsLog, runDir, writeSummary } from "./metrics";
import type { GPT } from "./model";
import { AdamW, lrAt } from "./optim";
import {
  type ActorCritic,
  bufferStats,
  buildBuffer,
  collectExperience,
  disposeBuffer,
  hasValueFunction,
  makeActorCritic,
  ppoUpdate,
  trainableVariables,
  usesCritic,
} from "./ppo_update";
import { reviewPrompts } from "./preferences";
import { checkpointDir, checkpointMismatch, loadStage, type StageResult, stageRecord } from "./pretrain";
import { ensureRewardModel, postprocessScores, type RewardModelStage, scoreStats, type ScoreStats } from "./reward";
import { ensureSft } from "./sft";
import { progress } from "./progress";
import { StageResume } from "./resume";
import { Rng } from "./rng";
import { sameTokenizer, textRewardFns } from "./reward_text";
import { disposeRollout, rewardScores, sampleRollout, type ScoredBatch, scoreResponses } from "./rollout";
import type { Tokenizer } from "./tokenizer";

// ---------------------------------------------------------------------------------------------------------------
// Rewards

/** Where the scores come from: the proxy the policy optimises, and the gold it never sees. */
export interface RewardFns {
  /** Raw proxy score per row (the reward model's scalar at the last real token), [B]. */
  proxy(batch: ScoredBatch): tf.Tensor1D;
  /** Gold score per row, from the texts. */
  gold(prompts: string[], completions: string[]): number[];
}

/**
 * The course's rewards: the reward model's score of prompt + response (lib/rollout.ts rewardScores), and VADER's
 * compound score of the same text (what the simulated labeller judged when it made the preference pairs).
 */
export function rewardModelFns(rm: GPT): RewardFns {
  return {
    proxy: (batch) => rewardScores(rm, batch),
    gold: goldScores,
  };
}

/**
 * distinct-n (Li et al. 2016): distinct word n-grams / all word n-grams, over a set of texts (n-grams do not cross
 * texts). 1 = no n-gram repeats anywhere; a collapsed policy ("good good good ...") drives it toward 0. 0 when the
 * texts hold no n-gram at all.
 */
export function distinctN(texts: string[], n = 2): number {
  const seen = new Set<string>();
  let total = 0;
  for (const t of texts) {
    const w = t.trim().split(/\s+/).filter((x) => x.length > 0);
    for (let i = 0; i + n <= w.length; i++) {
      seen.add(w.slice(i, i + n).join(" "));
      total++;
    }
  }
  return total === 0 ? 0 : seen.size / total;
}

const mean = (xs: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : NaN;
};

// ---------------------------------------------------------------------------------------------------------------
// The trainer: one PPO iteration per step()

/**
 * The columns of one iteration's metrics row, in the order metrics.csv shows them. TRL's names (the metrics its
 * PPOTrainer logs) where TRL has the metric; objective/scores is the post-processed score PPO optimises,
 * objective/scores_raw the reward model's own score (the proxy), objective/gold the gold score of the same rollouts.
 */
export const PPO_METRICS = [
  "objective/kl", "objective/entropy", "objective/non_score_reward", "objective/rlhf_reward", "objective/scores",
  "objective/scores_raw", "objective/gold",
  "policy/approxkl_avg", "policy/clipfrac_avg", "policy/entropy_avg", "loss/policy_avg", "loss/value_avg", "loss/total_avg",
  "val/clipfrac_avg", "val/ratio", "val/ratio_var", "val/num_eos_tokens", "val/explained_variance", "val/advantage_std",
  "val/return_mean", "val/distinct2", "response_length", "lr", "kl_coef",
  "policy/grad_norm_avg", "policy/update_steps", "policy/early_stopped",
  "time/rollout", "time/score", "time/update", "time/iteration",
] as const;

/** The held-out evaluation's columns (logged every ppo.eval_every iterations; step 0 = the SFT model). */
export const EVAL_METRICS = ["eval/gold", "eval/proxy", "eval/kl", "eval/distinct2", "eval/response_length", "eval/eos_rate"] as const;

export interface TrainerSetup {
  ppo: PpoConfig;
  ac: ActorCritic;
  tok: Tokenizer;
  reward: RewardFns;
  /** Mean and std of the raw proxy score on SFT samples; needed when ppo.reward.normalize is true. */
  scoreStats?: ScoreStats;
  /**
   * Training prompts, used in order (cycling): iteration i takes the next B / k of them (B = ppo.rollout_batch,
   * k = ppo.group_size), each repeated k times in consecutive rows (k = 1: rows i*B .. i*B+B-1).
   */
  prompts: string[];
  seed: number;
}

/** Holds the optimiser, the KL controller and the seeded streams; the caller owns the models (setup.ac). */
export class PpoTrainer {
  readonly log = new MetricsLog("ppo");
  readonly klController: KLController;
  readonly opt: AdamW;
  /** Iterations done so far. */
  iteration = 0;
  private readonly sampleRng: Rng;
  private readonly minibatchRng: Rng;

  constructor(readonly setup: TrainerSetup) {
    const p = setup.ppo;
    if (p.reward.normalize && !setup.scoreStats) throw new Error("PpoTrainer: ppo.reward.normalize is true but no score stats were given");
    if (setup.prompts.length === 0) throw new Error("PpoTrainer: no training prompts");
    checkAdvantageSetup(p, setup.ac);
    this.klController = klControllerFromConfig(p.kl);
    this.opt = new AdamW(trainableVariables(setup.ac), { weightDecay: p.weight_decay });
    const rng = new Rng(setup.seed).fork("ppo");
    this.sampleRng = rng.fork("sample");
    this.minibatchRng = rng.fork("minibatches");
  }

  /** The prompts of iteration i: rollout_batch / group_size distinct ones, each group_size times in a row. */
  promptsAt(i: number): string[] {
    const { prompts, ppo } = this.setup;
    const k = ppo.group_size, n = ppo.rollout_batch / k;
    return Array.from({ length: ppo.rollout_batch }, (_, r) => prompts[(i * n + Math.floor(r / k)) % prompts.length]);
  }

  /** One iteration: rollout, scores, buffer, update. Logs and returns the metrics row (step = iterations done, 1-based). */
  step(): Record<string, number> {
    const { ppo, ac, tok, reward } = this.setup;
    const { bugs } = ppo;
    const it = this.iteration;
    // bugs.ref_sync_every: the reference overwritten by the policy, which silently removes the KL penalty
    if (bugs.ref_sync_every > 0 && it > 0 && it % bugs.ref_sync_every === 0) ac.ref.copyTrunkFrom(ac.policy);
    const t0 = performance.now();
    const prompts = this.promptsAt(it);
    const rollout = sampleRollout(ac.policy, tok, prompts, {
      maxNewTokens: ppo.max_new_tokens,
      temperature: ppo.temperature,
      topK: ppo.top_k,
      topP: ppo.top_p,
      rng: this.sampleRng,
    });
    // bugs.pad_is_eos: a "not PAD" mask when PAD == EOS drops every real EOS from the response mask
    if (bugs.pad_is_eos) {
      const m = rollout.mask;
      rollout.mask = tf.tidy(() => tf.mul(m, tf.cast(tf.notEqual(rollout.responses, tok.eos), "float32")) as tf.Tensor2D);
      m.dispose();
    }
    const t1 = performance.now();

    let row: Record<string, number>;
    let exp: ReturnType<typeof collectExperience> | undefined;
    const temps: tf.Tensor[] = []; // freed here whatever happens, so a failing reward or buffer leaks nothing
    let rawScores: number[], gold: number[], buf: ReturnType<typeof buildBuffer>;
    const beta = this.klController.value;
    try {
      exp = collectExperience(ac, rollout, ppo.temperature, bugs);
      const raw = reward.proxy(exp.tokens);
      temps.push(raw);
      rawScores = Array.from(raw.dataSync());
      gold = reward.gold(prompts, rollout.completions);
      const eos = tf.tensor1d(rollout.eos.map((e) => (e ? 1 : 0)));
      temps.push(eos);
      const scores = postprocessScores(raw, eos, ppo.reward, this.setup.scoreStats);
      temps.push(scores);
      buf = buildBuffer(exp, scores, {
        klCoef: beta,
        estimator: ppo.kl.estimator,
        gamma: ppo.gamma,
        lam: ppo.lam,
        whitenAdvantages: ppo.whiten_advantages,
        bugs,
        advantage: ppo.advantage,
        groupSize: ppo.group_size,
        advantageEps: ppo.advantage_eps,
        lossEstimator: ppo.kl.loss_estimator,
      });
    } catch (e) {
      if (exp) tf.dispose([exp.tokens.queries, exp.tokens.queryMask, exp.tokens.responses, exp.tokens.mask, exp.logprobs, exp.refLogprobs, exp.values, exp.entropy]);
      disposeRollout(rollout);
      throw e;
    } finally {
      tf.dispose(temps);
    }
    try {
      const objective = bufferStats(buf, beta);
      const t2 = performance.now();
      const lr = lrAt(it, { lr: ppo.lr, steps: ppo.iterations, warmup_steps: ppo.warmup_steps, min_lr_ratio: ppo.min_lr_ratio });
      // bugs.single_pass: 1 epoch x 1 minibatch; bugs.dropout_on: dropout in the update as well
      const uc = bugs.single_pass ? { ...ppo, epochs: 1, minibatches: 1 } : ppo;
      const upd = ppoUpdate(ac, buf, this.opt, bugs.dropout_on ? { ...uc, dropout: true } : uc, lr, this.minibatchRng);
      const t3 = performance.now();
      this.klController.update(objective["objective/kl"], prompts.length);
      const unordered: Record<string, number> = {
        ...objective,
        "objective/scores_raw": mean(rawScores), // the reward model's own score: the proxy reward
        "objective/gold": mean(gold), // the gold score of the same rollouts (never seen by the policy)
        ...upd,
        "val/num_eos_tokens": rollout.eos.filter(Boolean).length,
        response_length: mean(rollout.lengths),
        "val/distinct2": distinctN(rollout.completions, 2),
        lr,
        kl_coef: beta,
        "time/rollout": (t1 - t0) / 1000,
        "time/score": (t2 - t1) / 1000,
        "time/update": (t3 - t2) / 1000,
        "time/iteration": (t3 - t0) / 1000,
      };
      row = Object.fromEntries(PPO_METRICS.map((k) => [k, unordered[k]]));
    } finally {
      disposeBuffer(buf);
      disposeRollout(rollout);
    }
    this.iteration++;
    this.log.log(this.iteration, row);
    return row;
  }

  dispose(): void {
    this.opt.dispose();
  }
}

/**
 * The advantage estimator and the networks must agree: GAE needs a value function, the critic-free estimators must
 * not have one (it would cost a forward and backward pass for nothing). Also checks ppo.group_size, for a ppo
 * section built in code rather than validated from a file.
 */
export function checkAdvantageSetup(p: PpoConfig, ac: ActorCritic): void {
  const k = p.group_size;
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`PpoTrainer: ppo.group_size must be an integer >= 1, got ${k}`);
  if (p.rollout_batch % k !== 0) throw new Error(`PpoTrainer: ppo.group_size = ${k} does not divide ppo.rollout_batch = ${p.rollout_batch}`);
  if ((p.advantage === "rloo" || p.advantage === "grpo") && k < 2) {
    throw new Error(`PpoTrainer: ppo.advantage = ${p.advantage} needs ppo.group_size >= 2 (the baseline is the prompt's other samples), got ${k}`);
  }
  if (usesCritic(p.advantage) && !hasValueFunction(ac)) {
    throw new Error(`PpoTrainer: ppo.advantage = gae needs a value function; build the actor-critic with makeActorCritic(sft, ppo.critic, ...)`);
  }
  if (!usesCritic(p.advantage) && hasValueFunction(ac)) {
    throw new Error(`PpoTrainer: ppo.advantage = ${p.advantage} uses no critic, but the actor-critic has a value function; ` +
      `build it with makeActorCritic(sft, "none")`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation on held-out prompts

export interface EvalOptions {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  /** The sampling seed: the same for the SFT model and the policy, so both answer the same draws. */
  seed: number;
  /** Prompts per sampling batch. */
  batch: number;
}

export interface EvalResult {
  gold: number; // mean gold score
  proxy: number; // mean raw reward-model score
  kl: number; // mean per-sequence KL(policy || reference) in nats (exact per token, summed over the sampled tokens)
  distinct2: number;
  length: number; // mean response tokens
  eosRate: number;
  prompts: string[];
  completions: string[];
  golds: number[];
  proxies: number[];
  kls: number[];
}

/**
 * Samples a completion per prompt from `model` and measures it. The KL is the exact KL between the two next-token
 * distributions at each sampled position, KL_t = sum_v pi(v|s_t) (log pi(v|s_t) - log ref(v|s_t)), summed over
 * the response: an unbiased estimate of the sequence KL with less variance than the k1 sample estimate, and never
 * negative. For the SFT model itself (model === ref) it is exactly 0.
 */
export function evaluatePolicy(model: GPT, ref: GPT, tok: Tokenizer, prompts: string[], reward: RewardFns, o: EvalOptions): EvalResult {
  const rng = new Rng(o.seed);
  const res: EvalResult = { gold: 0, proxy: 0, kl: 0, distinct2: 0, length: 0, eosRate: 0, prompts: prompts.slice(), completions: [], golds: [], proxies: [], kls: [] };
  const lengths: number[] = [];
  let eos = 0;
  const bar = progress("ppo: held-out evaluation (prompts)", prompts.length);
  for (let s = 0; s < prompts.length; s += o.batch) {
    bar.tick(Math.min(o.batch, prompts.length - s));
    const chunk = prompts.slice(s, s + o.batch);
    const r = sampleRollout(model, tok, chunk, { maxNewTokens: o.maxNewTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, rng });
    try {
      const kls = tf.tidy(() => {
        const p = scoreResponses(model, r, { temperature: o.temperature }).logits;
        const q = model === ref ? p : scoreResponses(ref, r, { temperature: o.temperature }).logits;
        const lp = tf.logSoftmax(p), lq = tf.logSoftmax(q);
        const klTok = tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, lq)), -1); // [B,T]
        return tf.sum(tf.mul(klTok, r.mask), 1).dataSync();
      });
      const proxyT = reward.proxy(r);
      res.proxies.push(...proxyT.dataSync());
      proxyT.dispose();
      res.golds.push(...reward.gold(chunk, r.completions));
      res.kls.push(...Array.from(kls, (k) => Math.max(0, k))); // float round-off can give -1e-7
      res.completions.push(...r.completions);
      lengths.push(...r.lengths);
      eos += r.eos.filter(Boolean).length;
    } finally {
      disposeRollout(r);
    }
  }
  bar.done();
  res.gold = mean(res.golds);
  res.proxy = mean(res.proxies);
  res.kl = mean(res.kls);
  res.distinct2 = distinctN(res.completions, 2);
  res.length = mean(lengths);
  res.eosRate = eos / prompts.length;
  return res;
}

/** The eval metrics as a metrics-row fragment. */
export function evalRow(e: EvalResult): Record<(typeof EVAL_METRICS)[number], number> {
  return { "eval/gold": e.gold, "eval/proxy": e.proxy, "eval/kl": e.kl, "eval/distinct2": e.distinct2, "eval/response_length": e.length, "eval/eos_rate": e.eosRate };
}

// ---------------------------------------------------------------------------------------------------------------
// The stage: runPpo / ensurePpo

/** The figures of runs/ppo/summary.json. */
/** The held-out figures of the SFT model and of a trained policy, as every stage's summary records them. */
export interface EvalSummary {
  gold_sft: number;
  gold_policy: number;
  proxy_sft: number;
  proxy_policy: number;
  kl: number;
  distinct2_sft: number;
  distinct2_policy: number;
  length_sft: number;
  length_policy: number;
  eos_rate_sft: number;
  eos_rate_policy: number;
}

export function evalSummary(sftEval: EvalResult, policyEval: EvalResult): EvalSummary {
  return {
    gold_sft: sftEval.gold, gold_policy: policyEval.gold, proxy_sft: sftEval.proxy, proxy_policy: policyEval.proxy, kl: policyEval.kl,
    distinct2_sft: sftEval.distinct2, distinct2_policy: policyEval.distinct2, length_sft: sftEval.length, length_policy: policyEval.length,
    eos_rate_sft: sftEval.eosRate, eos_rate_policy: policyEval.eosRate,
  };
}

export interface PpoSummary extends EvalSummary {
  iterations: number;
  eval_prompts: number;
  /** The reward normalisation's statistics (null when ppo.reward.normalize is off). */
  score_mean: number | null;
  score_std: number | null;
  seconds: number;
}

export interface PpoRun extends StageResult<PpoSummary> {
  /** Held-out evaluation of the SFT model and of the final policy (same prompts, same sampling seed). */
  sftEval: EvalResult | undefined;
  policyEval: EvalResult | undefined;
}

export interface RunPpoOptions {
  /** Called after every iteration with its metrics row (live charts). */
  onIteration?: (iteration: number, metrics: Record<string, number>) => void;
  /** Called after every held-out evaluation (iteration 0 = the SFT model before training). */
  onEval?: (iteration: number, e: EvalResult) => void;
  /** Progress lines (default console.log; pass () => {} for silence). */
  log?: (line: string) => void;
}

/** What the SFT and reward-model stages hand to PPO. */
export interface PpoInputs {
  sft: GPT;
  rm: GPT;
  tok: Tokenizer;
  /** The reward model's tokenizer when it is not the policy's (rm.base: own): the policy's text is re-encoded for it. */
  rmTokenizer?: Tokenizer;
  /**
   * mean / std of the reward model's score on SFT samples, for ppo.reward.normalize. Omit it (the pipeline does) and
   * trainPpo measures them itself on SFT samples drawn as PPO draws them (ppoScoreStats).
   */
  scoreStats?: ScoreStats;
}

/**
 * The normalisation statistics of ppo.reward.normalize, measured where they are used: the reward model's scores of
 * SFT completions sampled at ppo.temperature and ppo.max_new_tokens, on ppo.eval_prompts training prompts. (The RM
 * stage's own statistics come from its pairs, sampled at rm.temperature: cooler samples score differently.)
 */
export function ppoScoreStats(cfg: Config, sft: GPT, tok: Tokenizer, reward: RewardFns): ScoreStats & { prompts: number } {
  const prompts = reviewPrompts(cfg.ppo.eval_prompts, new Rng(cfg.seed).fork("ppo-norm-prompts"), cfg.sft.prompt_words_min, cfg.sft.prompt_words_max, "train");
  const e = evaluatePolicy(sft, sft, tok, prompts, reward, { ...evalOptions(cfg), seed: new Rng(cfg.seed).fork("ppo-norm").seed });
  return { ...scoreStats(e.proxies), prompts: prompts.length };
}

/** The held-out prompts of the evaluation: the first ppo.eval_prompts of the val split, in a seeded order. */
export function evalPrompts(cfg: Config): string[] {
  return reviewPrompts(cfg.ppo.eval_prompts, new Rng(cfg.seed).fork("ppo-eval-prompts"), cfg.sft.prompt_words_min, cfg.sft.prompt_words_max, "val");
}

/** Training prompts for every iteration (train split, seeded), drawn once up front. */
export function trainPrompts(cfg: Config): string[] {
  const n = cfg.ppo.iterations * cfg.ppo.rollout_batch;
  return reviewPrompts(n, new Rng(cfg.seed).fork("ppo-train-prompts"), cfg.sft.prompt_words_min, cfg.sft.prompt_words_max, "train");
}

/** The held-out evaluation's sampling: ppo's max_new_tokens, temperature, top-k, top-p and a seed of its own (PPO and DPO share it). */
export function evalOptions(cfg: Config): EvalOptions {
  const p = cfg.ppo;
  return { maxNewTokens: p.max_new_tokens, temperature: p.temperature, topK: p.top_k, topP: p.top_p, seed: new Rng(cfg.seed).fork("ppo-eval").seed, batch: Math.max(p.rollout_batch, 16) };
}

/**
 * PPO on top of given SFT and reward models (runPpo loads them; a notebook may pass its own). The inputs are not
 * modified or disposed. Writes runs/ppo/metrics.csv (after every iteration, so a crash keeps the curves) and
 * summary.json, and the policy (with its value head) to checkpoints/ppo. The returned model is the trained policy;
 * the caller disposes it.
 */
export async function trainPpo(cfg: Config, inputs: PpoInputs, opts: RunPpoOptions = {}): Promise<PpoRun> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const p = cfg.ppo;
  const t0 = performance.now();
  // A reward model with its own tokenizer is scored through text, and cannot seed the critic: the SFT model does.
  // Critic-free advantages build no critic and no value head (ppo.critic is then unused).
  const own = !!inputs.rmTokenizer && !sameTokenizer(inputs.rmTokenizer, inputs.tok);
  const ac = makeActorCritic(inputs.sft, usesCritic(p.advantage) ? p.critic : "none", own ? inputs.sft : inputs.rm, p.bugs);
  const reward = own ? textRewardFns({ model: inputs.rm, tok: inputs.rmTokenizer! }, inputs.tok) : rewardModelFns(inputs.rm);
  const stats = inputs.scoreStats ?? (p.reward.normalize ? ppoScoreStats(cfg, ac.ref, inputs.tok, reward) : undefined);
  if (stats && !inputs.scoreStats) log(`ppo: reward normalisation on SFT samples at temperature ${p.temperature}: mean ${stats.mean.toFixed(4)}, std ${stats.std.toFixed(4)}`);
  // ppo.seed varies PPO's own randomness; prompts, held-out samples and normalisation stay those of the top-level seed
  const trainer = new PpoTrainer({ ppo: p, ac, tok: inputs.tok, reward, scoreStats: stats, prompts: trainPrompts(cfg), seed: p.seed ?? cfg.seed });
  const runs = runDir(cfg, "ppo");
  const csv = path.join(runs, "metrics.csv");
  const heldout = evalPrompts(cfg);
  const eo = evalOptions(cfg);
  let ok = false;
  const resume = new StageResume(cfg, "ppo", p.iterations, log);
  const parts = { model: ac.policy, others: { critic: ac.critic }, tokenizer: inputs.tok, opt: trainer.opt, metrics: trainer.log,
    rngs: { sample: trainer["sampleRng"], minibatches: trainer["minibatchRng"] } };
  try {
    const sftEval = evaluatePolicy(ac.ref, ac.ref, inputs.tok, heldout, reward, eo); // deterministic: recomputed on resume
    const from = resume.restore(parts);
    if (from) {
      trainer.iteration = from.step;
      restoreKlCoef(trainer.klController, from.state.kl_coef as number);
    }
    // Step 0 holds the SFT evaluation; the nulls only fix the CSV's column order (training metrics first).
    if (!from) trainer.log.log(0, { ...Object.fromEntries(PPO_METRICS.map((k) => [k, null])), ...evalRow(sftEval) });
    opts.onEval?.(0, sftEval);
    log(`ppo: SFT policy on ${heldout.length} held-out prompts: gold ${sftEval.gold.toFixed(3)}, proxy ${sftEval.proxy.toFixed(3)}, ` +
      `distinct-2 ${sftEval.distinct2.toFixed(3)}, length ${sftEval.length.toFixed(1)} tokens`);
    let policyEval = sftEval;
    const bar = progress("ppo: iterations", p.iterations - trainer.iteration, { quietMs: 0 });
    for (let i = trainer.iteration; i < p.iterations; i++) {
      let row: Record<string, number>;
      try {
        row = trainer.step();
      } catch (e) {
        throw resume.failure(i, e);
      }
      const k = trainer.iteration;
      if (k % p.eval_every === 0 || k === p.iterations) {
        policyEval = evaluatePolicy(ac.policy, ac.ref, inputs.tok, heldout, reward, eo);
        trainer.log.log(k, evalRow(policyEval));
        opts.onEval?.(k, policyEval);
        log(`ppo ${k}/${p.iterations}: gold ${row["objective/gold"].toFixed(3)} proxy ${row["objective/scores_raw"].toFixed(3)} ` +
          `kl ${row["objective/kl"].toFixed(2)} clipfrac ${row["policy/clipfrac_avg"].toFixed(3)} len ${row.response_length.toFixed(1)} ` +
          `${row["time/iteration"].toFixed(2)} s/it | held-out gold ${policyEval.gold.toFixed(3)} kl ${policyEval.kl.toFixed(2)} ` +
          `distinct-2 ${policyEval.distinct2.toFixed(3)}`);
      }
      resume.save(k, parts, { kl_coef: trainer.klController.value });
      bar.tick();
      opts.onIteration?.(k, row);
      trainer.log.toCsv(csv);
      await new Promise((res) => setImmediate(res)); // lets a notebook kernel breathe (interrupts, chart messages)
    }
    bar.done();
    const summary: PpoSummary = {
      ...evalSummary(sftEval, policyEval),
      iterations: p.iterations,
      eval_prompts: heldout.length,
      score_mean: stats?.mean ?? null,
      score_std: stats?.std ?? null,
      seconds: (performance.now() - t0) / 1000,
    };
    trainer.log.toCsv(csv);
    const dir = checkpointDir(cfg, "ppo");
    await saveCheckpoint(dir, { model: ac.policy, tokenizer: inputs.tok, config: stageRecord(cfg, "ppo"), extra: { summary } });
    writeSummary(runs, summary as unknown as Record<string, unknown>); // after the checkpoint it describes
    resume.clear();
    log(`ppo done in ${summary.seconds.toFixed(0)} s: held-out gold ${summary.gold_sft.toFixed(3)} -> ${summary.gold_policy.toFixed(3)}, ` +
      `KL ${summary.kl.toFixed(2)} nats, distinct-2 ${summary.distinct2_sft.toFixed(3)} -> ${summary.distinct2_policy.toFixed(3)}; saved ${dir}`);
    ok = true;
    return { model: ac.policy, tokenizer: inputs.tok, summary, metrics: trainer.log, trained: true, checkpointDir: dir, sftEval, policyEval };
  } finally {
    trainer.dispose();
    ac.ref.dispose();
    ac.critic?.dispose();
    if (!ok) ac.policy.dispose();
  }
}

/** Puts back a saved KL coefficient: the adaptive controller's state; a fixed one must already hold it. */
function restoreKlCoef(c: KLController, coef: number): void {
  if (c instanceof AdaptiveKLController) (c as unknown as { coef: number }).coef = coef;
  else if (c.value !== coef) throw new Error(`resume: the saved KL coefficient ${coef} differs from the fixed ppo.kl.coef ${c.value}`);
}

/**
 * The pipeline's stage ppo (tools/pipeline.ts): the SFT policy and the reward model (loaded from their checkpoints
 * when they match this config, else trained), then PPO (always trained: use ensurePpo to reuse a checkpoint).
 */
export async function runPpo(cfg: Config, opts: RunPpoOptions = {}): Promise<PpoRun> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const sft = await ensureSft(cfg, { log });
  let rm: RewardModelStage | undefined;
  try {
    rm = await ensureRewardModel(cfg, { log });
    return await trainPpo(cfg, { sft: sft.model, rm: rm.model, tok: sft.tokenizer, rmTokenizer: rm.tokenizer }, opts);
  } finally {
    sft.model.dispose();
    rm?.model.dispose();
  }
}

/**
 * The PPO policy for this config: checkpoints/ppo when it was trained with the same seed and sections (tokenizer,
 * model, pretrain, sft, rm, ppo), else runPpo. A loaded run has no evaluations in memory (summary.json has them).
 */
export async function ensurePpo(cfg: Config, opts: RunPpoOptions = {}): Promise<PpoRun> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const why = checkpointMismatch(cfg, "ppo");
  if (!why) {
    const r = loadStage<PpoSummary>(cfg, "ppo");
    log(`ppo: loaded ${r.checkpointDir} (held-out gold ${r.summary?.gold_sft?.toFixed(3)} -> ${r.summary?.gold_policy?.toFixed(3)}, KL ${r.summary?.kl?.toFixed(2)})`);
    return { ...r, sftEval: undefined, policyEval: undefined };
  }
  log(`ppo: training (${why})`);
  return runPpo(cfg, opts);
}
