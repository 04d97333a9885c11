// Stage 4, PPO: the RLHF loop of lib/rl/trainer.ts run against the reward model it is given, from the SFT policy it
// is given (policy = a copy, reference = the SFT model, frozen), with the held-out evaluation before and after.
// trainPpo(cfg, inputs) leaves runs/ppo/metrics.csv, runs/ppo/summary.json and checkpoints/ppo/ (policy with its
// value head, tokenizer, config); lib/pipeline/stages.ts runPpo loads or trains the stages before it first.
import * as path from "node:path";
import { saveCheckpoint } from "../train/checkpoint";
import type { Config } from "../core/config";
import { AdaptiveKLController, type KLController } from "../rl/kl";
import { runDir, writeSummary } from "../core/metrics";
import type { GPT } from "../lm/model";
import { makeActorCritic, usesCritic } from "../rl/ppo-update";
import { reviewPrompts } from "../reward/preferences";
import { checkpointDir, type StageResult, stageRecord } from "./stage";
import { scoreStats, type ScoreStats } from "../reward/postprocess";
import { progress, consoleLog } from "../core/progress";
import { StageResume } from "../train/resume";
import { Rng } from "../core/rng";
import { sameTokenizer, textRewardFns } from "../reward/text-reward";
import type { Tokenizer } from "../lm/tokenizer";
import { RewardFns, rewardModelFns } from "../reward/reward-fns";
import { mean, standardError } from "../core/stats";
import { EvalResult, evaluatePolicy, evalRow, EvalSummary, evalSummary } from "../rl/evaluate";
import { ppoMetricNames, PpoTrainer } from "../rl/trainer";
import { evalPrompts, trainPrompts, evalOptions } from "../rl/prompts";

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
  /**
   * Called after every held-out evaluation this call runs (iteration 0 = the SFT model before training). After a
   * restore (--resume) that is the SFT evaluation and those after the restored iteration only: the whole record is
   * metrics.csv's eval rows (ppoEvalRow), which the restore puts back.
   */
  onEval?: (iteration: number, e: EvalResult) => void;
  /** Progress lines (default console.log; pass () => {} for silence). */
  log?: (line: string) => void;
}

/**
 * A held-out evaluation as PPO logs it: evalRow plus the standard error of the mean gold over the prompts, so the
 * log alone rebuilds a run's frontier points (lib/studies/study.ts), a resumed run's included.
 */
export function ppoEvalRow(e: EvalResult): Record<string, number> {
  return { ...evalRow(e), "eval/gold_se": standardError(e.golds) };
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

/**
 * PPO on top of given SFT and reward models (runPpo loads them; a notebook may pass its own). The inputs are not
 * modified or disposed. Writes runs/ppo/metrics.csv (after every iteration, so a crash keeps the curves) and
 * summary.json, and the policy (with its value head) to checkpoints/ppo. The returned model is the trained policy;
 * the caller disposes it.
 */
export async function trainPpo(cfg: Config, inputs: PpoInputs, opts: RunPpoOptions = {}): Promise<PpoRun> {
  const log = opts.log ?? consoleLog;
  const p = cfg.ppo;
  const t0 = performance.now();
  // A reward model with its own tokenizer is scored through text, and cannot seed the critic: the SFT model does.
  // Critic-free advantages build no critic and no value head (ppo.critic is then unused).
  const own = !!inputs.rmTokenizer && !sameTokenizer(inputs.rmTokenizer, inputs.tok);
  const ac = makeActorCritic(inputs.sft, usesCritic(p.advantage) ? p.critic : "none", own ? inputs.sft : inputs.rm, p.bugs, p.critic_init);
  const reward = own ? textRewardFns({ model: inputs.rm, tok: inputs.rmTokenizer! }, inputs.tok) : rewardModelFns(inputs.rm);
  const stats = inputs.scoreStats ?? (p.reward.normalize ? ppoScoreStats(cfg, ac.ref, inputs.tok, reward) : undefined);
  if (stats && !inputs.scoreStats) log(`ppo: reward normalisation on SFT samples at temperature ${p.temperature}: mean ${stats.mean.toFixed(4)}, std ${stats.std.toFixed(4)}`);
  // ppo.seed varies PPO's own randomness; prompts, held-out samples and normalisation stay those of the top-level seed
  // A prompt that leaves no room for max_new_tokens in the context would stop the rollout: dropped, as SFT drops
  // demonstrations longer than the context (a run that never met one draws exactly the prompts it drew before)
  const drawn = trainPrompts(cfg);
  const room = inputs.sft.config.context - p.max_new_tokens;
  const prompts = drawn.filter((x) => inputs.tok.encode(x).length + 1 <= room); // + 1: BOS
  if (prompts.length < drawn.length) log(`ppo: ${drawn.length - prompts.length} of ${drawn.length} training prompts dropped: with BOS they leave no room for ${p.max_new_tokens} new tokens in the context of ${inputs.sft.config.context}`);
  const trainer = new PpoTrainer({ ppo: p, ac, tok: inputs.tok, reward, scoreStats: stats, prompts, seed: p.seed ?? cfg.seed });
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
    if (!from) trainer.log.log(0, { ...Object.fromEntries(ppoMetricNames(p.advantage).map((k) => [k, null])), ...ppoEvalRow(sftEval) });
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
        trainer.log.log(k, ppoEvalRow(policyEval));
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
