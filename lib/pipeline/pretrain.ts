// Stage 1: pretraining. Train the tokenizer, then the GPT on next-token prediction over the corpus (State of the
// Union + Moby Dick) mixed with review sentences (cfg.pretrain.review_fraction of every batch), so the base model
// already speaks the language of the later stages: short reviews that start after BOS and end with EOS.
//
//   loss = -(1 / (B T)) sum_{b,t} log p_theta(x_{b,t+1} | x_{b,<=t})          (nats per token)
//
// Baseline: a unigram model p(x) (token frequencies of the training mix) scores -mean log p(x) on the same
// validation targets; a model that learned anything about context must land clearly below it.
//
//   trainPretrain(cfg, callbacks)   trains from scratch, saves checkpoints/pretrain and runs/pretrain
//
// The compute curve (config/base.yaml, schedule: wsd): at each of pretrain.curve_points the run hands a cooled-down
// copy to callbacks.onCurvePoint (lib/pipeline/curve.ts fine-tunes and measures it) and goes on at its constant lr.
// The copy is what a run of step / (1 - decay_fraction) steps would have shipped: the same constant-lr phase, then
// a linear decay over the last decay_fraction of it (Hagele et al. 2024), so one run gives every point of the curve.
import * as tf from "@tensorflow/tfjs";
import { Config } from "../core/config";
import { GPT } from "../lm/model";
import { crossEntropy } from "../lm/model-kernels";
import { AdamW, lrAt, lrCooldown, trainStep } from "../train/optim";
import { Rng } from "../core/rng";
import { MetricsLog } from "../core/metrics";
import { progress, consoleLog } from "../core/progress";
import { StageResume } from "../train/resume";
import { StageCallbacks, StageResult, saveStage } from "./stage";
import { preparePretrainData, batchToTensors, unigramLoss, evalLoss, modelConfigFor, makePretrainSamplerFor } from "../lm/pretrain-data";
import type { Tokenizer } from "../lm/tokenizer";
import type { PretrainBatch } from "../lm/data";

/** A point of the compute curve: a cooled-down copy of the run at step (the callee must not keep the model). */
export interface CurvePoint {
  step: number;
  /** Steps of the run this copy stands for: step + cooldown_steps. */
  steps: number;
  cooldown_steps: number;
  tokens: number;
  /** Training seconds this copy cost: the run's steps so far and the cooldown (curve measurements left out). */
  seconds: number;
  val_loss: number;
  model: GPT;
  tokenizer: Tokenizer;
}

export interface PretrainCallbacks extends StageCallbacks {
  onCurvePoint?: (point: CurvePoint) => Promise<void>;
}

/**
 * A copy of model and optimizer trained for n more steps with lr decaying linearly from lr to lr * minRatio: the
 * cooldown of a warmup-stable-decay run stopped here. The original model and optimizer are untouched.
 */
export function cooledCopy(model: GPT, opt: AdamW, batches: () => PretrainBatch, n: number, o: { lr: number; min_lr_ratio: number; weight_decay: number; grad_clip: number }): GPT {
  const copy = model.clone();
  const vars = copy.trainableVariables();
  const copyOpt = new AdamW(vars, { weightDecay: o.weight_decay });
  try {
    copyOpt.copyStateFrom(opt);
    for (let i = 0; i < n; i++) {
      const { x, y } = batchToTensors(batches());
      try {
        trainStep(vars, () => crossEntropy(copy.forward(x, { training: true }).logits, y), copyOpt, { lr: lrCooldown(i, n, o.lr, o.min_lr_ratio), gradClip: o.grad_clip });
      } finally {
        tf.dispose([x, y]);
      }
    }
  } catch (e) {
    copy.dispose();
    throw e;
  } finally {
    copyOpt.dispose();
  }
  return copy;
}

export interface PretrainSummary {
  val_loss: number;
  unigram_val_loss: number;
  tokens: number;
  seconds: number;
  steps: number;
  params: number;
  ms_per_step: number;
  tokenizer: string;
  vocab_size: number;
  chars_per_token_reviews: number;
  chars_per_token_corpus: number;
  [key: string]: unknown;
}

/** Trains the tokenizer and the base model from scratch; writes checkpoints/pretrain and runs/pretrain. */
export async function trainPretrain(cfg: Config, cb: PretrainCallbacks = {}): Promise<StageResult<PretrainSummary>> {
  const log = cb.log ?? consoleLog;
  const p = cfg.pretrain;
  const t0 = Date.now();
  const data = preparePretrainData(cfg, log);
  const { tokenizer } = data;
  const rng = new Rng(cfg.seed).fork("pretrain");
  const sampler = makePretrainSamplerFor(cfg, data, rng.fork("train-batches"));
  const valSampler = makePretrainSamplerFor(cfg, data, rng.fork("val-batches"), "val");
  const valBatches = Array.from({ length: p.eval_batches }, () => valSampler());
  const unigram = unigramLoss(data, p.review_fraction, valBatches);

  const model = new GPT(modelConfigFor(cfg, tokenizer), { seed: cfg.seed });
  log(model.describe());
  const vars = model.trainableVariables();
  const opt = new AdamW(vars, { weightDecay: p.weight_decay });
  const metrics = new MetricsLog("pretrain");
  const tokensPerStep = p.batch_size * cfg.model.context;
  let valLoss = NaN;
  const tTrain = Date.now();
  let lastLog = tTrain;
  log(`unigram baseline on validation: ${unigram.toFixed(3)} nats/token; training ${p.steps} steps x ${tokensPerStep} tokens`);
  const resume = new StageResume(cfg, "pretrain", p.steps, log);
  const parts = { model, tokenizer, opt, rngs: {}, metrics };
  const from = resume.restore(parts);
  const start = from?.step ?? 0;
  if (from) valLoss = from.state.valLoss as number;
  // training seconds before this process (a resumed run), and time spent on curve points (not training)
  const priorMs = from ? Number(from.state.trainMs ?? 0) : 0;
  let curveMs = 0;
  const trainMsNow = () => priorMs + (Date.now() - tTrain) - curveMs;
  const curvePoints = new Set(cb.onCurvePoint ? p.curve_points : []);
  for (let i = 0; i < start; i++) sampler(); // the data order: replay the batches already trained on
  let step = start;
  const bar = progress("pretrain: steps", p.steps - start);
  try {
    for (; step < p.steps; step++) {
      bar.tick();
      const lr = lrAt(step, p);
      const { x, y } = batchToTensors(sampler());
      let loss: number, gradNorm: number;
      try {
        ({ loss, gradNorm } = trainStep(vars, () => crossEntropy(model.forward(x, { training: true }).logits, y), opt, { lr, gradClip: p.grad_clip }));
      } finally {
        tf.dispose([x, y]); // also when the step throws
      }
      const row: Record<string, number> = { loss, lr, grad_norm: gradNorm, tokens: (step + 1) * tokensPerStep };
      metrics.log(step, row);
      const isEval = step % p.eval_every === 0 || step === p.steps - 1;
      if (isEval) {
        valLoss = evalLoss(model, valBatches);
        const ev = { val_loss: valLoss, unigram_val_loss: unigram };
        metrics.log(step, ev);
        Object.assign(row, ev);
        const now = Date.now();
        const msPerStep = (trainMsNow() - priorMs) / (step + 1 - start);
        log(`pretrain step ${step}/${p.steps} | loss ${loss.toFixed(3)} | val_loss ${valLoss.toFixed(3)} (unigram ${unigram.toFixed(3)}) | ` +
          `lr ${lr.toExponential(2)} | grad_norm ${gradNorm.toFixed(2)} | ${msPerStep.toFixed(0)} ms/step | eta ${((p.steps - step - 1) * msPerStep / 1000).toFixed(0)} s`);
        lastLog = now;
        cb.onEval?.(step, ev);
      }
      if (curvePoints.has(step + 1)) {
        const tc = Date.now();
        const n = Math.round(((step + 1) * p.decay_fraction) / (1 - p.decay_fraction));
        const cooled = cooledCopy(model, opt, makePretrainSamplerFor(cfg, data, rng.fork(`cooldown-${step + 1}`)), n, { ...p, lr: lrAt(step, p) });
        const cooldownMs = Date.now() - tc;
        try {
          const point: CurvePoint = {
            step: step + 1, steps: step + 1 + n, cooldown_steps: n, tokens: (step + 1 + n) * tokensPerStep,
            seconds: trainMsNow() / 1000, // the run so far and this cooldown
            val_loss: evalLoss(cooled, valBatches), model: cooled, tokenizer,
          };
          log(`pretrain: curve point at step ${step + 1} (cooldown ${n} steps, ${(cooldownMs / 1000).toFixed(0)} s): val_loss ${point.val_loss.toFixed(3)}`);
          await cb.onCurvePoint!(point);
        } finally {
          cooled.dispose();
          curveMs += Date.now() - tc; // the run's own clock leaves the cooldown and the measurement out
        }
      }
      resume.save(step + 1, parts, { valLoss, trainMs: trainMsNow() }); // after a curve point, so a crash in it redoes it
      cb.onStep?.(step, row);
      // Let a notebook's kernel breathe (interrupts, chart messages) without slowing the loop measurably.
      if (Date.now() - lastLog > 2000 || step % 25 === 0) await new Promise((r) => setImmediate(r));
    }
  } catch (e) {
    model.dispose(); // nothing of a failed stage stays allocated
    throw resume.failure(step, e);
  } finally {
    opt.dispose();
  }
  bar.done();
  if (cb.onCurvePoint && p.curve_points.length) {
    // the finished run is the curve's last point: its decay is done, so it is measured as it is
    await cb.onCurvePoint({ step: p.steps, steps: p.steps, cooldown_steps: 0, tokens: p.steps * tokensPerStep, seconds: trainMsNow() / 1000,
      val_loss: valLoss, model, tokenizer });
  }
  const seconds = (Date.now() - t0) / 1000;
  const summary: PretrainSummary = {
    val_loss: valLoss,
    unigram_val_loss: unigram,
    tokens: p.steps * tokensPerStep,
    seconds,
    train_seconds: trainMsNow() / 1000, // the training steps alone, over every resumed process, curve points left out
    steps: p.steps,
    params: model.paramCount(),
    ms_per_step: trainMsNow() / p.steps,
    tokenizer: tokenizer.kind,
    vocab_size: tokenizer.vocabSize,
    chars_per_token_reviews: data.charsPerTokenReviews,
    chars_per_token_corpus: data.charsPerTokenCorpus,
  };
  const dir = await saveStage(cfg, "pretrain", { model, tokenizer, summary, metrics });
  resume.clear();
  log(`pretrain done in ${seconds.toFixed(0)} s: val_loss ${valLoss.toFixed(3)} vs unigram ${unigram.toFixed(3)}; saved ${dir}`);
  return { model, tokenizer, summary, metrics, trained: true, checkpointDir: dir };
}
