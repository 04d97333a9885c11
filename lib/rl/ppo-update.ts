// The PPO update of RLHF: from one rollout to a rollout buffer, then minibatch epochs of the clipped objective.
//
//   1. experience   teacher-forced passes over the sampled tokens, no gradient, dropout off:
//                   old log-probs and values (policy / critic), reference log-probs (frozen SFT), token entropies
//   2. buffer       per-token KL -> shaped reward (score at the last real token) -> GAE -> (whitened) advantages;
//                   or, critic-free (ppo.advantage rloo | grpo), one advantage per response from the scores of the
//                   other responses (lib/rl/advantages.ts), on every one of its real tokens; reinforce_pp: the
//                   shaped reward's return-to-go, whitened over the batch's tokens
//   3. update       `epochs` passes over the buffer, each cut into `minibatches` by a seeded shuffle; per minibatch
//                     loss = L_clip + vf_coef * L_V - ent_coef * H,  global-norm clipping, one AdamW step
//                   L_clip (and GRPO's KL term) averaged over tokens as ppo.loss_type says (lib/rl/ppo.ts aggregateTokenLoss)
//                   optionally stopping early when a minibatch's approx-KL exceeds ppo.early_stop_kl.
//
// Every knob is a key of config ppo (config/course.yaml says where each comes from). The math is in lib/rl/ppo.ts,
// lib/rl/kl.ts and lib/rl/gae.ts; this file only composes it, so a learner can read the update top to bottom.
// Log-probs for the ratio, the KL and the reference are all taken at the sampling temperature (scoreResponses
// divides the logits by it), as TRL does: otherwise KL and ratio compare two different distributions.
import * as tf from "@tensorflow/tfjs";
import { grpoAdvantages, reinforcePlusPlusTokenAdvantages, rlooAdvantages } from "./advantages";
import type { AdvantageKind, PpoBugs, PpoConfig } from "../core/config";
import { gae } from "./gae";
import { klPerToken, sequenceKl, shapedRewards } from "./kl";
import type { GPT } from "../lm/model";
import { AdamW, trainStep } from "../train/optim";
import { aggregateTokenLoss, entropyFromLogits, explainedVariance, maskedEntropy, maskedMean, maskedVar, ppoPolicyLoss, valueLoss, whiten } from "./ppo";
import type { Rng } from "../core/rng";
import { scoreResponses, type Rollout } from "../lm/rollout";

/** The tokens every pass reads: left-padded queries, right-padded responses and their masks. */
export type Tokens = Pick<Rollout, "queries" | "queryMask" | "responses" | "mask">;

/**
 * The three networks of RLHF-PPO.
 * - policy: the model being trained; head "value" when the critic is shared (ppo.critic: shared), so the value
 *   head reads the policy's own trunk (the from-scratch repos' choice; cheap, one forward pass for both).
 * - critic: null when shared; otherwise a separate GPT with a value head (ppo.critic: separate), initialised from
 *   the reward model as TRL does: it already knows what a good response looks like.
 * - ref: the frozen SFT policy, the anchor of the KL penalty. It is a clone made once and never written to
 *   (overwriting it with the policy from time to time would silently remove the penalty).
 * Critic-free methods (ppo.advantage rloo, grpo, reinforce_pp) have no value function at all: critic null and a
 * policy without a value head (makeActorCritic(sft, "none")).
 */
export interface ActorCritic {
  policy: GPT;
  critic: GPT | null;
  ref: GPT;
}

/** Whether an advantage estimator needs a value function: only GAE does; the others baseline with other samples. */
export function usesCritic(advantage: AdvantageKind): boolean {
  return advantage === "gae";
}

/** The actor-critic has a value function: a separate critic, or a value head on the policy (shared). */
export function hasValueFunction(ac: ActorCritic): boolean {
  return ac.critic !== null || ac.policy.head === "value";
}

/** The variables the PPO optimiser updates: the policy (with its value head) and a separate critic if any. */
export function trainableVariables(ac: ActorCritic): tf.Variable[] {
  return [...ac.policy.trainableVariables(), ...(ac.critic ? ac.critic.trainableVariables() : [])];
}

/**
 * Builds the actor-critic from the SFT model (and the reward model, for a separate critic). The SFT model itself
 * is not modified; the caller keeps ownership of it and of the reward model.
 * The policy's value head starts at zero (V = 0 everywhere): with the shared critic the first advantages are then the
 * plain rewards-to-go, and the head's first gradients cannot kick the shared trunk with noise from a random head.
 * A separate critic (critic "separate") starts from the reward model, its scalar head included (criticInit
 * "reward_model", TRL), so its first values are the reward model's scores, not 0; criticInit "sft" starts it from the
 * SFT model with the head at zero instead. The policy's own value head is then unused.
 * critic "none" (critic-free advantages): no value head and no critic are built at all, which saves the critic's
 * forward and backward passes (half the update's cost with a separate critic) and its optimiser state.
 */
export function makeActorCritic(sft: GPT, critic: PpoConfig["critic"] | "none", rewardModel?: GPT | null, bugs?: Partial<PpoBugs>, criticInit: PpoConfig["critic_init"] = "reward_model"): ActorCritic {
  if (critic === "none") return { policy: sft.clone({ head: "none", trainable: true }), critic: null, ref: sft.clone({ head: "none", trainable: false }) };
  const policy = sft.clone({ head: "value", trainable: true });
  // bugs.value_head_random keeps the head's random init (std 1/sqrt(d+1)): V ~ +-1 noise before any data
  if (!bugs?.value_head_random) for (const [name, v] of policy.namedVariables()) if (name.startsWith("value_head.")) tf.tidy(() => v.assign(tf.zerosLike(v)));
  const ref = sft.clone({ head: "none", trainable: false });
  let separate: GPT | null = null;
  if (critic === "separate" && criticInit === "sft") {
    // ppo.critic_init sft: the same architecture from the SFT model, head at zero like the shared one's: a separate
    // critic that knows nothing of the reward yet (notebook 08, section 7, separates architecture from initialisation)
    separate = sft.clone({ head: "value", trainable: true });
    for (const [name, v] of separate.namedVariables()) if (name.startsWith("value_head.")) tf.tidy(() => v.assign(tf.zerosLike(v)));
  } else if (critic === "separate") {
    if (!rewardModel) throw new Error('makeActorCritic: ppo.critic is "separate" but no reward model was given to initialise it from');
    // Trunk and head from the reward model: its scalar head becomes the value head (TRL initialises the value
    // model from the reward model).
    separate = rewardModel.clone({ head: "value", trainable: true });
    const rmVars = rewardModel.namedVariables();
    for (const [name, v] of separate.namedVariables()) {
      const src = rmVars.get(name.replace(/^value_head\./, `${rewardModel.head}_head.`));
      if (name.startsWith("value_head.") && src) v.assign(src);
    }
  }
  return { policy, critic: separate, ref };
}

export function disposeActorCritic(ac: ActorCritic): void {
  ac.policy.dispose();
  ac.ref.dispose();
  ac.critic?.dispose();
}

/**
 * Logits ([B,T,V], already / temperature), log-probs of the sampled tokens and values, for the policy and critic.
 * Without a value function (critic-free) the values are zeros: nothing reads them.
 */
function policyAndValues(ac: ActorCritic, t: Tokens, temperature: number, training: boolean): { logits: tf.Tensor3D; logprobs: tf.Tensor2D; values: tf.Tensor2D } {
  const out = scoreResponses(ac.policy, t, { temperature, training });
  const values = ac.critic
    ? ac.critic.scalar(scoreResponses(ac.critic, t, { temperature, training }).hidden)
    : ac.policy.head === "value" ? ac.policy.scalar(out.hidden) : tf.zerosLike(out.logprobs);
  return { logits: out.logits, logprobs: out.logprobs, values };
}

/** What the networks said about one rollout, before any update (all [B,T], right padding, 0 at padding). */
export interface Experience {
  tokens: Tokens; // the rollout's tokens, response columns trimmed to the longest response
  lengths: number[]; // real response tokens per row
  logprobs: tf.Tensor2D; // old log-probs, teacher-forced (what the ratio's denominator is)
  refLogprobs: tf.Tensor2D;
  values: tf.Tensor2D; // old values V(s_t), the state before token t
  entropy: tf.Tensor2D; // exact entropy of the policy's next-token distribution at each position (at temperature)
}

/**
 * Response columns after the longest response are padding in every row: dropping them changes nothing (attention
 * is causal, padding never reaches a real position) and saves compute once responses get short.
 */
export function trimTokens(r: Tokens, lengths: number[]): Tokens {
  const T = r.responses.shape[1];
  const keep = Math.max(1, Math.min(T, Math.max(...lengths)));
  if (keep === T) return { queries: r.queries.clone(), queryMask: r.queryMask.clone(), responses: r.responses.clone(), mask: r.mask.clone() };
  const B = r.responses.shape[0];
  return {
    queries: r.queries.clone(),
    queryMask: r.queryMask.clone(),
    responses: tf.slice(r.responses, [0, 0], [B, keep]),
    mask: tf.slice(r.mask, [0, 0], [B, keep]),
  };
}

export function disposeTokens(t: Tokens): void {
  tf.dispose([t.queries, t.queryMask, t.responses, t.mask]);
}

/**
 * Step 1: old log-probs, values, reference log-probs and entropies of a rollout, with dropout off (the rollout was
 * sampled without dropout; ppo.dropout = false keeps the update consistent with it, TRL and DeepSpeed-Chat).
 * The old log-probs are recomputed by a teacher-forced pass rather than taken from the sampler, as TRL does: the
 * update's first ratio is then exactly 1 (the sampler's KV-cache arithmetic differs in the last float bits).
 */
export function collectExperience(ac: ActorCritic, rollout: Rollout, temperature: number, bugs?: Partial<PpoBugs>): Experience {
  const tokens = trimTokens(rollout, rollout.lengths);
  const out = tf.tidy(() => {
    // bugs: old log-probs at another temperature than the sampler's (and the reference's); dropout on in this pass
    const pv = policyAndValues(ac, tokens, bugs?.logprob_temperature ?? temperature, bugs?.dropout_on ?? false);
    const ref = scoreResponses(ac.ref, tokens, { temperature, training: false });
    const zero = (x: tf.Tensor2D) => tf.mul(x, tokens.mask) as tf.Tensor2D;
    return {
      logprobs: zero(pv.logprobs),
      values: zero(pv.values),
      refLogprobs: zero(ref.logprobs),
      entropy: zero(entropyFromLogits(pv.logits)),
    };
  });
  return { tokens, lengths: rollout.lengths.slice(), ...out };
}

/** How the buffer turns scores into advantages (config ppo and ppo.kl). */
export interface BufferOptions {
  klCoef: number; // beta, from the KL controller
  estimator: PpoConfig["kl"]["estimator"];
  gamma: number;
  lam: number;
  whitenAdvantages: boolean;
  /** config ppo.bugs: whiten_adds_mean and unmasked_advantages act here */
  bugs?: Partial<PpoBugs>;
  /** config ppo.advantage (default gae). The critic-free ones ignore gamma, lam, whitenAdvantages and the bugs. */
  advantage?: AdvantageKind;
  /** config ppo.group_size (default 1): rows come in consecutive groups of this many samples of one prompt. */
  groupSize?: number;
  /** config ppo.advantage_eps (default 1e-4): GRPO's and REINFORCE++'s eps. */
  advantageEps?: number;
  /** config ppo.scale_rewards (default group): what GRPO divides the group-centred score by. */
  scaleRewards?: PpoConfig["scale_rewards"];
  /** config ppo.kl.loss_estimator (default k3): GRPO's per-token KL term in the loss. */
  lossEstimator?: PpoConfig["kl"]["loss_estimator"];
}

/** Step 2's result: everything the minibatch epochs read. All [B,T] except scores. */
export interface RolloutBuffer extends Experience {
  scores: tf.Tensor1D; // post-processed score per row (what is added at the last real token)
  kl: tf.Tensor2D; // per-token KL estimate vs the reference, 0 at padding
  rewards: tf.Tensor2D; // shaped: -beta * kl_t, + score at the last real token
  advantages: tf.Tensor2D; // GAE, whitened over real tokens when asked (mean not added back); critic-free: the response's advantage on each real token
  returns: tf.Tensor2D; // GAE advantages (before whitening) + old values: the value head's target; critic-free: 0
  /** false for critic-free advantages: no value loss, value metrics NaN */
  valued: boolean;
  /** GRPO: the KL enters the loss as coef * (estimator(logp, ref) averaged as ppo.loss_type) instead of the reward; null otherwise */
  klLoss: { coef: number; estimator: PpoConfig["kl"]["loss_estimator"] } | null;
}

/**
 * Step 2: KL-shaped rewards, GAE, whitening. Takes ownership of `exp` (the buffer holds its tensors) and of
 * nothing else: `scores` is copied.
 */
export function buildBuffer(exp: Experience, scores: tf.Tensor1D, o: BufferOptions): RolloutBuffer {
  const mask = exp.tokens.mask;
  const kl = tf.tidy(() => tf.mul(klPerToken(exp.logprobs, exp.refLogprobs, o.estimator), mask) as tf.Tensor2D);
  if ((o.advantage ?? "gae") !== "gae") {
    try {
      const cf = criticFreeAdvantages(kl, scores, mask, o);
      return { ...exp, scores: scores.clone(), kl, ...cf };
    } catch (e) {
      kl.dispose();
      throw e;
    }
  }
  const rewards = shapedRewards(kl, scores, mask, o.klCoef);
  const g = gae(rewards, exp.values, mask, o.gamma, o.lam);
  let advantages = g.advantages;
  if (o.whitenAdvantages) {
    // bugs.unmasked_advantages: statistics over padding too, which then keeps (0 - mean) / std; whiten_adds_mean re-adds the mean
    const over = o.bugs?.unmasked_advantages ? tf.onesLike(mask) : mask;
    advantages = whiten(g.advantages, over, !o.bugs?.whiten_adds_mean);
    if (over !== mask) over.dispose();
    g.advantages.dispose();
  }
  return { ...exp, scores: scores.clone(), kl, rewards, advantages, returns: g.returns, valued: true, klLoss: null };
}

/**
 * The critic-free buffer (TRL's RLOOTrainer and GRPOTrainer, OpenRLHF's reinforce estimator):
 *   rloo          R = score - beta * sum_t kl_t (kl.estimator), A = R minus the mean of the group's others
 *   grpo          R = score, A = (R - group mean) / its scale (ppo.scale_rewards); the KL is a per-token term of the
 *                 loss instead (kl.loss_estimator)
 *   reinforce_pp  per token: G_t = score - beta * sum_{s >= t} kl_s, A_t = G_t whitened over all real tokens
 * rloo's and grpo's A sits on every real token of its response; 0 at padding. No further whitening: each method has
 * its own normalisation (GRPO's and REINFORCE++'s by a std; RLOO none, as Ahmadian et al. 2024).
 */
function criticFreeAdvantages(kl: tf.Tensor2D, scores: tf.Tensor1D, mask: tf.Tensor2D, o: BufferOptions): Pick<RolloutBuffer, "rewards" | "advantages" | "returns" | "valued" | "klLoss"> {
  const method = o.advantage!;
  const k = o.groupSize ?? 1;
  const B = scores.shape[0];
  if (B % k !== 0) throw new Error(`buildBuffer: ${B} rows cannot be cut into groups of ppo.group_size = ${k} samples of one prompt`);
  const eps = o.advantageEps ?? 1e-4;
  const klInLoss = method === "grpo";
  const t = tf.tidy(() => {
    const perResponse = (): tf.Tensor2D => {
      const seqReward = klInLoss ? scores : (tf.sub(scores, tf.mul(o.klCoef, sequenceKl(kl, mask))) as tf.Tensor1D);
      const grouped = tf.reshape(seqReward, [B / k, k]) as tf.Tensor2D;
      const a = method === "rloo" ? rlooAdvantages(grouped) : grpoAdvantages(grouped, eps, o.scaleRewards ?? "group");
      return tf.mul(tf.reshape(a, [B, 1]), mask) as tf.Tensor2D;
    };
    return {
      // per-token view of the same reward, for the notebooks' plots: score at the last token, -beta kl_t where the reward holds it
      rewards: shapedRewards(kl, scores, mask, klInLoss ? 0 : o.klCoef),
      advantages: method === "reinforce_pp" ? reinforcePlusPlusTokenAdvantages(scores, kl, mask, o.klCoef, eps) : perResponse(),
      returns: tf.zerosLike(mask) as tf.Tensor2D,
    };
  });
  return { ...t, valued: false, klLoss: klInLoss && o.klCoef > 0 ? { coef: o.klCoef, estimator: o.lossEstimator ?? "k3" } : null };
}

export function disposeBuffer(b: RolloutBuffer): void {
  disposeTokens(b.tokens);
  tf.dispose([b.logprobs, b.refLogprobs, b.values, b.entropy, b.scores, b.kl, b.rewards, b.advantages, b.returns]);
}

/** Means over the batch of per-sequence sums (nats per sequence), and friends: the "objective/" metrics. */
export function bufferStats(b: RolloutBuffer, klCoef: number): Record<string, number> {
  return tf.tidy(() => {
    const mask = b.tokens.mask;
    const seqKl = sequenceKl(b.kl, mask);
    const klMean = tf.mean(seqKl).dataSync()[0];
    const score = tf.mean(b.scores).dataSync()[0];
    const entropy = tf.mean(tf.sum(tf.mul(b.entropy, mask), 1)).dataSync()[0];
    const ev = b.valued ? explainedVariance(b.values, b.returns, mask).dataSync()[0] : NaN; // no critic: nothing to explain
    const nonScore = -klCoef * klMean; // mean over rows of sum_t (-beta * kl_t)
    return {
      "objective/kl": klMean,
      "objective/entropy": entropy,
      "objective/non_score_reward": nonScore,
      "objective/rlhf_reward": score + nonScore,
      "objective/scores": score,
      "val/explained_variance": ev,
      "val/advantage_std": Math.sqrt(maskedVar(b.advantages, mask).dataSync()[0]),
      "val/return_mean": b.valued ? maskedMean(b.returns, mask).dataSync()[0] : NaN,
    };
  });
}

/** The update's knobs (config ppo). */
export type UpdateConfig = Pick<PpoConfig, "epochs" | "minibatches" | "clip_eps" | "value_clip" | "vf_coef" | "ent_coef" | "grad_clip" | "early_stop_kl" | "dropout" | "temperature" | "loss_type" | "max_new_tokens">;

/** Averages over the minibatch steps taken (TRL's *_avg), plus how many steps and epochs ran. */
export interface UpdateStats {
  "policy/approxkl_avg": number;
  "policy/clipfrac_avg": number;
  "policy/entropy_avg": number; // mean per-token entropy during the update
  "loss/policy_avg": number;
  "loss/value_avg": number;
  "loss/total_avg": number;
  "val/clipfrac_avg": number;
  "val/ratio": number; // mean of the ratio pi/pi_old over real tokens
  "val/ratio_var": number; // its variance over real tokens
  "policy/grad_norm_avg": number; // before clipping
  "policy/update_steps": number;
  "policy/early_stopped": number; // 1 when approx-KL stopped the epochs early
}

/** Rows of every [B,...] tensor of the buffer at `idx`, response columns cut to the minibatch's longest response. */
function minibatch(b: RolloutBuffer, idx: number[]) {
  return tf.tidy(() => {
    const i = tf.tensor1d(idx, "int32");
    const T = Math.max(1, ...idx.map((k) => b.lengths[k]));
    const cols = (x: tf.Tensor2D) => {
      const rows = tf.gather(x, i) as tf.Tensor2D;
      return T === x.shape[1] ? rows : (tf.slice(rows, [0, 0], [idx.length, T]) as tf.Tensor2D);
    };
    return {
      tokens: {
        queries: tf.gather(b.tokens.queries, i) as tf.Tensor2D,
        queryMask: tf.gather(b.tokens.queryMask, i) as tf.Tensor2D,
        responses: cols(b.tokens.responses),
        mask: cols(b.tokens.mask),
      },
      logprobs: cols(b.logprobs),
      refLogprobs: cols(b.refLogprobs),
      values: cols(b.values),
      advantages: cols(b.advantages),
      returns: cols(b.returns),
    };
  });
}

/** The minibatches of one epoch: a seeded permutation of the rows, cut into `n` nearly equal parts. */
export function minibatchIndices(batch: number, n: number, rng: Rng): number[][] {
  const perm = rng.permutation(batch);
  const parts: number[][] = [];
  for (let k = 0; k < n; k++) parts.push(perm.slice(Math.floor((k * batch) / n), Math.floor(((k + 1) * batch) / n)));
  return parts.filter((p) => p.length > 0);
}

/**
 * Step 3: `epochs` x `minibatches` steps of
 *     loss = L_clip(theta) + vf_coef * L_V(theta) - ent_coef * H(theta)
 * with global-norm clipping (ppo.grad_clip) and one AdamW step each. With ppo.early_stop_kl set, the epochs stop
 * as soon as a minibatch's approx-KL (between the policy now and at sampling) exceeds it (TRL legacy's early
 * stopping; CleanRL's target_kl checks once per epoch). Dropout is on only if ppo.dropout is true.
 * One epoch of one minibatch would make clipping inert (ratio = 1 on the only step).
 */
export function ppoUpdate(ac: ActorCritic, buf: RolloutBuffer, opt: AdamW, c: UpdateConfig, lr: number, rng: Rng): UpdateStats {
  const vars = trainableVariables(ac);
  const B = buf.tokens.responses.shape[0];
  const sums: Record<string, number> = {};
  const add = (k: string, v: number) => (sums[k] = (sums[k] ?? 0) + v);
  let steps = 0;
  let stopped = false;
  for (let epoch = 0; epoch < c.epochs && !stopped; epoch++) {
    for (const idx of minibatchIndices(B, c.minibatches, rng)) {
      const mb = minibatch(buf, idx);
      let diag: tf.Tensor[] = [];
      const lossFn = (): tf.Scalar => {
        const pv = policyAndValues(ac, mb.tokens, c.temperature, c.dropout);
        const mask = mb.tokens.mask;
        const pg = ppoPolicyLoss(pv.logprobs, mb.logprobs, mb.advantages, mask, c.clip_eps, { lossType: c.loss_type, maxLen: c.max_new_tokens });
        // critic-free: no value loss at all; its metrics are NaN (not measured), not 0 (which would read as a perfect fit)
        const vf = buf.valued ? valueLoss(pv.values, mb.values, mb.returns, mask, c.value_clip) : { loss: tf.scalar(NaN), clipfrac: tf.scalar(NaN) };
        const ent = maskedEntropy(pv.logits, mask);
        let loss: tf.Tensor = buf.valued ? tf.add(pg.loss, tf.mul(c.vf_coef, vf.loss)) : tf.clone(pg.loss); // a copy: pg.loss is kept for the metrics below, the loss is disposed by trainStep
        // GRPO: beta * the per-token KL to the reference, averaged over tokens like the clipped term (Shao et al. 2024, eq. 3)
        if (buf.klLoss) loss = tf.add(loss, tf.mul(buf.klLoss.coef, aggregateTokenLoss(klPerToken(pv.logprobs, mb.refLogprobs, buf.klLoss.estimator), mask, c.loss_type, c.max_new_tokens)));
        if (c.ent_coef > 0) loss = tf.sub(loss, tf.mul(c.ent_coef, ent));
        const ratio = tf.exp(tf.sub(pv.logprobs, mb.logprobs));
        // variableGrads disposes everything made here except the loss: keep what we read afterwards.
        diag = [pg.approxKl, pg.clipfrac, ent, pg.loss, vf.loss, vf.clipfrac, maskedMean(ratio, mask), maskedVar(ratio, mask, false)].map((t) => tf.keep(t));
        return loss as tf.Scalar;
      };
      let step: { loss: number; gradNorm: number };
      try {
        step = trainStep(vars, lossFn, opt, { lr, gradClip: c.grad_clip });
      } catch (e) {
        tf.dispose(diag);
        throw e;
      } finally {
        tf.dispose([mb.tokens.queries, mb.tokens.queryMask, mb.tokens.responses, mb.tokens.mask, mb.logprobs, mb.refLogprobs, mb.values, mb.advantages, mb.returns]);
      }
      const [approxKl, clipfrac, ent, pgLoss, vfLoss, vfClip, ratioMean, ratioVar] = diag.map((t) => t.dataSync()[0]);
      tf.dispose(diag);
      steps++;
      add("policy/approxkl_avg", approxKl);
      add("policy/clipfrac_avg", clipfrac);
      add("policy/entropy_avg", ent);
      add("loss/policy_avg", pgLoss);
      add("loss/value_avg", vfLoss);
      add("loss/total_avg", step.loss);
      add("val/clipfrac_avg", vfClip);
      add("val/ratio", ratioMean);
      add("val/ratio_var", ratioVar);
      add("policy/grad_norm_avg", step.gradNorm);
      if (c.early_stop_kl !== null && approxKl > c.early_stop_kl) {
        stopped = true;
        break;
      }
    }
  }
  const avg = (k: string) => (steps > 0 ? sums[k] / steps : NaN);
  return {
    "policy/approxkl_avg": avg("policy/approxkl_avg"),
    "policy/clipfrac_avg": avg("policy/clipfrac_avg"),
    "policy/entropy_avg": avg("policy/entropy_avg"),
    "loss/policy_avg": avg("loss/policy_avg"),
    "loss/value_avg": avg("loss/value_avg"),
    "loss/total_avg": avg("loss/total_avg"),
    "val/clipfrac_avg": avg("val/clipfrac_avg"),
    "val/ratio": avg("val/ratio"),
    "val/ratio_var": avg("val/ratio_var"),
    "policy/grad_norm_avg": avg("policy/grad_norm_avg"),
    "policy/update_steps": steps,
    "policy/early_stopped": stopped ? 1 : 0,
  };
}

/**
 * Diagnostics of the current networks on a buffer, without updating anything: the ratio of every real token
 * (pi_now / pi_old), the approx-KL, and the value loss and explained variance against the buffer's returns.
 * Notebook 07 calls it before and after an update to dissect it.
 */
export function inspectBuffer(ac: ActorCritic, buf: RolloutBuffer, c: Pick<UpdateConfig, "temperature" | "clip_eps" | "value_clip">): {
  ratios: number[];
  approxKl: number;
  clipfrac: number;
  valueLoss: number;
  explainedVariance: number;
} {
  return tf.tidy(() => {
    const t = buf.tokens;
    const pv = policyAndValues(ac, t, c.temperature, false);
    const pg = ppoPolicyLoss(pv.logprobs, buf.logprobs, buf.advantages, t.mask, c.clip_eps);
    const vf = buf.valued ? valueLoss(pv.values, buf.values, buf.returns, t.mask, c.value_clip) : { loss: tf.scalar(NaN) };
    const ev = buf.valued ? explainedVariance(pv.values, buf.returns, t.mask) : tf.scalar(NaN);
    const r = tf.exp(tf.sub(pv.logprobs, buf.logprobs)).dataSync();
    const m = t.mask.dataSync();
    const ratios: number[] = [];
    for (let i = 0; i < m.length; i++) if (m[i] > 0) ratios.push(r[i]);
    return {
      ratios,
      approxKl: pg.approxKl.dataSync()[0],
      clipfrac: pg.clipfrac.dataSync()[0],
      valueLoss: vf.loss.dataSync()[0],
      explainedVariance: ev.dataSync()[0],
    };
  });
}
