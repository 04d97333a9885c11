// Direct Preference Optimization (Rafailov et al. 2023, "Direct Preference Optimization: Your Language Model is
// Secretly a Reward Model"): the preference pairs train the policy directly, no reward model, no sampling.
//
//   implicit reward   r(x, y) = beta * (log pi(y|x) - log ref(y|x))         sequence log-probs, response tokens only
//   loss              -log sigmoid( r(x, y_chosen) - r(x, y_rejected) )     the Bradley-Terry loss on that reward
//
// The optimum of PPO's KL-regularised objective is pi* ∝ ref * exp(reward / beta); DPO fits that pi* to the pairs
// directly. beta plays the KL coefficient's role: small beta lets the policy move far from the reference.
//
// trainDpo runs it offline on the reward model's own training pairs (runs/rm/pairs.csv: token ids of the SFT policy's
// samples, labelled by the simulated labeller), from the SFT model with a frozen SFT copy as the reference, and
// evaluates with PPO's evaluatePolicy on PPO's held-out prompts and sampling, so DPO lands on PPO's gold-vs-KL chart.
// runDpo does that on the course's own SFT and reward-model checkpoints, writing runs/dpo/<name>/dpo/.
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { saveCheckpoint } from "../train/checkpoint";
import { type Config, type DpoConfig, configSource, repoPath } from "../core/config";
import { MetricsLog, runDir, writeSummary } from "../core/metrics";
import type { GPT } from "../lm/model";
import { AdamW, lrAt, trainStep } from "../train/optim";
import type { PreferenceData, PreferencePair } from "../reward/preferences";
import { progress, consoleLog } from "../core/progress";
import { type EvalResult, type EvalSummary, evalRow, evalSummary, evaluatePolicy } from "../rl/evaluate";
import { type RewardFns } from "../reward/reward-fns";
import { evalOptions, evalPrompts } from "../rl/prompts";
import { Rng } from "../core/rng";
import { completionBatch, completionLogprobs, disposeBatch, fittingBatches, sequenceLogprobs } from "../lm/sequence-logprobs";
import type { Tokenizer } from "../lm/tokenizer";

// ---------------------------------------------------------------------------------------------------------------
// The loss

export interface DpoLoss {
  loss: tf.Scalar; // mean over pairs of -log sigmoid(chosenReward - rejectedReward)
  chosenReward: tf.Tensor1D; // beta * (log pi - log ref) of each chosen response
  rejectedReward: tf.Tensor1D;
  accuracy: tf.Scalar; // fraction of pairs with chosenReward > rejectedReward, a tie counting half (as the RM's)
  margin: tf.Scalar; // mean of chosenReward - rejectedReward
}

/**
 * The DPO loss over sequence log-probs [pairs] (sums over response tokens) of the policy and the reference, computed
 * as softplus(-(margin)) so a large negative margin costs its size instead of log(0) = -Infinity. Equal policy and
 * reference give exactly log 2. Gradients flow to the policy's log-probs; the reference's are data.
 */
export function dpoLoss(policyChosen: tf.Tensor1D, policyRejected: tf.Tensor1D, refChosen: tf.Tensor1D, refRejected: tf.Tensor1D, beta: number): DpoLoss {
  const n = policyChosen.shape[0];
  for (const [name, t] of [["policyRejected", policyRejected], ["refChosen", refChosen], ["refRejected", refRejected]] as const) {
    if (t.rank !== 1 || t.shape[0] !== n) throw new Error(`dpoLoss: ${name} has shape [${t.shape}], policyChosen [${policyChosen.shape}]; expected one log-prob per pair`);
  }
  if (n === 0) throw new Error("dpoLoss: no pairs");
  if (!(beta > 0 && Number.isFinite(beta))) throw new Error(`dpoLoss: beta (dpo.beta) must be > 0, got ${beta}`);
  return tf.tidy(() => {
    const chosenReward = tf.mul(beta, tf.sub(policyChosen, refChosen)) as tf.Tensor1D;
    const rejectedReward = tf.mul(beta, tf.sub(policyRejected, refRejected)) as tf.Tensor1D;
    const diff = tf.sub(chosenReward, rejectedReward);
    const loss = tf.mean(tf.softplus(tf.neg(diff))) as tf.Scalar;
    const wins = tf.add(tf.cast(tf.greater(diff, 0), "float32"), tf.mul(0.5, tf.cast(tf.equal(diff, 0), "float32")));
    return { loss, chosenReward, rejectedReward, accuracy: tf.mean(wins) as tf.Scalar, margin: tf.mean(diff) as tf.Scalar };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Training

/**
 * The training pairs DPO uses: the train split, without gold ties when dpo.drop_ties (labeller p = 0.5, both
 * completions equally good: the stored label is a coin flip, so it carries no preference and only adds noise;
 * ~30% of the course's pairs). Each pair keeps its label as stored (chosen / rejected), as the reward model used it.
 */
export function dpoPairs(data: PreferenceData, dropTies: boolean): PreferencePair[] {
  return data.pairs.filter((q) => q.split === "train" && !(dropTies && q.p === 0.5));
}

/** The plan of a run: pair indices per step; each epoch a seeded shuffle cut into batch_size, at most max_steps. */
export function dpoBatches(nPairs: number, c: Pick<DpoConfig, "epochs" | "batch_size" | "max_steps">, rng: Rng): number[][] {
  if (nPairs === 0) throw new Error("dpoBatches: no training pairs");
  const steps: number[][] = [];
  for (let e = 0; e < c.epochs; e++) {
    const perm = rng.permutation(nPairs);
    for (let s = 0; s < nPairs; s += c.batch_size) {
      if (c.max_steps !== null && steps.length >= c.max_steps) return steps;
      steps.push(perm.slice(s, s + c.batch_size));
    }
  }
  return steps;
}

/** The columns of a training row of runs/.../dpo/metrics.csv (the held-out rows use PPO's EVAL_METRICS). */
export const DPO_METRICS = ["loss", "accuracy", "margin", "chosen_reward", "rejected_reward", "lr", "grad_norm"] as const;

export interface DpoInputs {
  sft: GPT; // not modified: the policy and the reference are clones
  tok: Tokenizer;
  data: PreferenceData; // token ids of this tokenizer
  reward: RewardFns; // for the held-out evaluation only (proxy and gold), as PPO's
}

export interface DpoSummary extends EvalSummary {
  beta: number;
  steps: number;
  pairs_train: number; // pairs DPO trained on (ties dropped when dpo.drop_ties)
  loss_final: number; // mean training loss over the last 10% of steps
  accuracy_final: number;
  eval_prompts: number;
  seconds: number;
}

export interface DpoRun {
  model: GPT; // the trained policy; the caller disposes it
  summary: DpoSummary;
  metrics: MetricsLog;
  sftEval: EvalResult;
  policyEval: EvalResult;
  checkpointDir: string;
}

export interface DpoOptions {
  log?: (line: string) => void;
  /** Called after every held-out evaluation (step 0 = the SFT model). */
  onEval?: (step: number, e: EvalResult) => void;
  /** Called after every step with its training row. */
  onStep?: (step: number, row: Record<string, number>) => void;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * DPO with cfg.dpo on inputs.data's training pairs, from inputs.sft (a trainable clone; the reference is a frozen
 * clone, so the reference log-probs are computed once, up front, for every completion the plan uses). Held-out
 * evaluation every dpo.eval_every steps and after the last, with PPO's evaluatePolicy, prompts and sampling.
 * Writes <runs>/dpo/metrics.csv (after every evaluation), summary.json, and the policy to <checkpoints>/dpo.
 */
export async function trainDpo(cfg: Config, inputs: DpoInputs, opts: DpoOptions = {}): Promise<DpoRun> {
  const log = opts.log ?? consoleLog;
  const c = cfg.dpo;
  const t0 = performance.now();
  const { tok, data } = inputs;
  const pairs = dpoPairs(data, c.drop_ties);
  if (pairs.length === 0) throw new Error(`trainDpo: no training pairs${c.drop_ties ? " once gold ties are dropped (dpo.drop_ties)" : ""}`);
  const rng = new Rng(cfg.seed).fork("dpo");
  const plan = dpoBatches(pairs.length, c, rng.fork("batches"));
  const steps = plan.length;
  const policy = inputs.sft.clone({ head: "none", trainable: true });
  const ref = inputs.sft.clone({ head: "none", trainable: false });
  const opt = new AdamW(policy.trainableVariables(), { weightDecay: c.weight_decay });
  const metrics = new MetricsLog("dpo");
  const runs = runDir(cfg, "dpo");
  const csv = path.join(runs, "metrics.csv");
  const heldout = evalPrompts(cfg);
  const eo = evalOptions(cfg);
  let ok = false;
  try {
    // The reference is frozen: its log-prob of each completion the plan uses, once.
    const used = [...new Set(plan.flat().flatMap((i) => [pairs[i].chosen, pairs[i].rejected]))].sort((a, b) => a - b);
    const refLp = new Map<number, number>();
    const lp = completionLogprobs(ref, used.map((i) => data.completions[i]), tok.pad);
    used.forEach((ci, j) => refLp.set(ci, lp[j]));
    log(`dpo: ${pairs.length} training pairs${c.drop_ties ? " (gold ties dropped)" : ""}, ${steps} steps of ${c.batch_size}, beta ${c.beta}; ` +
      `reference log-probs of ${used.length} completions in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const sftEval = evaluatePolicy(ref, ref, tok, heldout, inputs.reward, eo);
    metrics.log(0, { ...Object.fromEntries(DPO_METRICS.map((k) => [k, null])), ...evalRow(sftEval) });
    opts.onEval?.(0, sftEval);
    log(`dpo: SFT policy on ${heldout.length} held-out prompts: gold ${sftEval.gold.toFixed(3)}, proxy ${sftEval.proxy.toFixed(3)}, length ${sftEval.length.toFixed(1)}`);
    let policyEval = sftEval;
    const vars = policy.trainableVariables();
    const bar = progress("dpo: steps", steps, { quietMs: 0 });
    for (let step = 0; step < steps; step++) {
      const batchPairs = plan[step].map((i) => pairs[i]);
      // each completion of the step scored once (in batches that fit the context), pairs as positions in their concat
      const groups = fittingBatches(data.completions, [...new Set(batchPairs.flatMap((q) => [q.chosen, q.rejected]))], policy.config.context);
      const at = new Map(groups.flat().map((ci, j) => [ci, j]));
      const batches = groups.map((g) => completionBatch(g.map((i) => data.completions[i]), tok.pad));
      const ci = tf.tensor1d(batchPairs.map((q) => at.get(q.chosen)!), "int32");
      const ri = tf.tensor1d(batchPairs.map((q) => at.get(q.rejected)!), "int32");
      const refC = tf.tensor1d(batchPairs.map((q) => refLp.get(q.chosen)!));
      const refR = tf.tensor1d(batchPairs.map((q) => refLp.get(q.rejected)!));
      const lr = lrAt(step, { lr: c.lr, steps, warmup_steps: c.warmup_steps, min_lr_ratio: c.min_lr_ratio });
      let diag: tf.Tensor[] = [];
      let res: { loss: number; gradNorm: number };
      try {
        res = trainStep(vars, () => {
          const s = tf.concat(batches.map((b) => sequenceLogprobs(policy, b, c.dropout)));
          const d = dpoLoss(tf.gather(s, ci) as tf.Tensor1D, tf.gather(s, ri) as tf.Tensor1D, refC, refR, c.beta);
          diag = [d.accuracy, d.margin, tf.mean(d.chosenReward), tf.mean(d.rejectedReward)].map((t) => tf.keep(t));
          return d.loss;
        }, opt, { lr, gradClip: c.grad_clip });
      } catch (e) {
        tf.dispose(diag);
        throw e;
      } finally {
        batches.forEach(disposeBatch);
        tf.dispose([ci, ri, refC, refR]);
      }
      const [accuracy, margin, chosen, rejected] = diag.map((t) => t.dataSync()[0]);
      tf.dispose(diag);
      const row = { loss: res.loss, accuracy, margin, chosen_reward: chosen, rejected_reward: rejected, lr, grad_norm: res.gradNorm };
      metrics.log(step + 1, row);
      opts.onStep?.(step + 1, row);
      bar.tick();
      if ((step + 1) % c.eval_every === 0 || step === steps - 1) {
        policyEval = evaluatePolicy(policy, ref, tok, heldout, inputs.reward, eo);
        metrics.log(step + 1, evalRow(policyEval));
        opts.onEval?.(step + 1, policyEval);
        metrics.toCsv(csv);
        log(`dpo ${step + 1}/${steps}: loss ${res.loss.toFixed(4)} accuracy ${accuracy.toFixed(3)} margin ${margin.toFixed(3)} | ` +
          `held-out gold ${policyEval.gold.toFixed(3)} kl ${policyEval.kl.toFixed(2)} length ${policyEval.length.toFixed(1)} distinct-2 ${policyEval.distinct2.toFixed(3)}`);
      }
      await new Promise((r) => setImmediate(r)); // lets a notebook kernel breathe
    }
    bar.done();
    const tail = metrics.rows().filter((r) => r.step > 0).slice(-Math.max(1, Math.ceil(steps / 10)));
    const summary: DpoSummary = {
      beta: c.beta,
      steps,
      pairs_train: pairs.length,
      loss_final: mean(tail.map((r) => r.loss as number)),
      accuracy_final: mean(tail.map((r) => r.accuracy as number)),
      ...evalSummary(sftEval, policyEval),
      eval_prompts: heldout.length,
      seconds: (performance.now() - t0) / 1000,
    };
    metrics.toCsv(csv);
    const dir = path.join(repoPath(cfg.paths.checkpoints), "dpo");
    await saveCheckpoint(dir, {
      model: policy, tokenizer: tok,
      config: { stage: "dpo", source: configSource(cfg), seed: cfg.seed, sections: { tokenizer: cfg.tokenizer, model: cfg.model, pretrain: cfg.pretrain, sft: cfg.sft, rm: cfg.rm, dpo: cfg.dpo } },
      extra: { summary },
    });
    writeSummary(runs, summary as unknown as Record<string, unknown>); // after the checkpoint it describes
    log(`dpo done in ${summary.seconds.toFixed(0)} s: held-out gold ${summary.gold_sft.toFixed(3)} -> ${summary.gold_policy.toFixed(3)}, ` +
      `KL ${summary.kl.toFixed(2)} nats, length ${summary.length_sft.toFixed(1)} -> ${summary.length_policy.toFixed(1)}; saved ${dir}`);
    ok = true;
    return { model: policy, summary, metrics, sftEval, policyEval, checkpointDir: dir };
  } finally {
    opt.dispose();
    ref.dispose();
    if (!ok) policy.dispose();
  }
}

