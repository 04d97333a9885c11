// The PPO trainer: one iteration of the RLHF loop per step(), given its policy, reference, critic and reward (it never
// loads or trains a stage; lib/pipeline/ppo.ts runs it as a stage).
//
// One iteration (PpoTrainer.step):
//   prompts (train split) --sample--> rollout (tokens, masks, EOS)             policy, dropout off, KV cache
//     --> proxy score s = RM(prompt + response) at the last real token         the reward model (frozen)
//         gold score g = VADER(prompt + response)                             logged only: the policy never sees it
//     --> post-processed score: normalise with the SFT score stats, missing-EOS penalty, squash, clip (ppo.reward)
//     --> per-token KL vs the reference --> shaped reward --> GAE --> whitened advantages
//         (critic-free, ppo.advantage rloo | grpo | reinforce_pp: a sequence reward per response --> one advantage per
//          response from the other responses' rewards, on all its tokens; ppo.group_size samples per prompt)
//     --> epochs x minibatches of the clipped update (lib/rl/ppo-update.ts)
//     --> one metrics row with TRL's names (critic-free runs add the groups' reward spread), the KL controller
//         updated with the batch's KL
// Every ppo.eval_every iterations, and once for the SFT model before training, the held-out evaluation.

import * as tf from "@tensorflow/tfjs";
import type { PpoConfig } from "../core/config";
import { type KLController, klControllerFromConfig } from "./kl";
import { MetricsLog } from "../core/metrics";
import { AdamW, lrAt } from "../train/optim";
import { type ActorCritic, bufferStats, buildBuffer, collectExperience, disposeBuffer, hasValueFunction, makeActorCritic, ppoUpdate, trainableVariables, usesCritic } from "./ppo-update";
import { postprocessScores, scoreStats, type ScoreStats } from "../reward/postprocess";
import { Rng } from "../core/rng";
import { disposeRollout, sampleRollout } from "../lm/rollout";
import type { Tokenizer } from "../lm/tokenizer";
import { RewardFns } from "../reward/reward-fns";
import { mean } from "../core/stats";
import { distinctN } from "./evaluate";
import { rewardGroupStats } from "./advantages";

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

/**
 * Two more columns for critic-free runs (ppo.advantage other than gae), TRL GRPOTrainer's names: reward_std, the mean
 * over the rollout's prompt groups of the std of their scores (what GRPO divides by: its KL term's effective weight
 * is beta times it), and frac_reward_zero_std, the share of groups whose scores are all equal (advantage 0 under
 * GRPO: nothing learnt from them). Both NaN at ppo.group_size 1. PPO's columns stay PPO_METRICS.
 */
export const CRITIC_FREE_METRICS = ["reward_std", "frac_reward_zero_std"] as const;

/** The columns of a run's metrics row: PPO_METRICS, and CRITIC_FREE_METRICS after them for critic-free runs. */
export function ppoMetricNames(advantage: PpoConfig["advantage"]): readonly string[] {
  return usesCritic(advantage) ? PPO_METRICS : [...PPO_METRICS, ...CRITIC_FREE_METRICS];
}

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
        scaleRewards: ppo.scale_rewards,
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
        // the post-processed scores the estimator baselines, before any KL (GRPO's R)
        ...(usesCritic(ppo.advantage) ? {} : rewardGroupStats(buf.scores.dataSync(), ppo.group_size)),
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
      row = Object.fromEntries(ppoMetricNames(ppo.advantage).map((k) => [k, unordered[k]]));
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

