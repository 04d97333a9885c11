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
//   ensurePretrained(cfg, callbacks) loads that checkpoint when its config hash matches cfg, else trains
import * as tf from "@tensorflow/tfjs";
import { Config } from "../core/config";
import { makePretrainSampler } from "../lm/data";
import { GPT } from "../lm/model";
import { crossEntropy } from "../lm/model-kernels";
import { AdamW, lrAt, trainStep } from "../train/optim";
import { Rng } from "../core/rng";
import { MetricsLog } from "../core/metrics";
import { progress, consoleLog } from "../core/progress";
import { StageResume } from "../train/resume";
import { StageCallbacks, StageResult, saveStage } from "./stage";
import { preparePretrainData, batchToTensors, unigramLoss, evalLoss, modelConfigFor } from "../lm/pretrain-data";

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
export async function trainPretrain(cfg: Config, cb: StageCallbacks = {}): Promise<StageResult<PretrainSummary>> {
  const log = cb.log ?? consoleLog;
  const p = cfg.pretrain;
  const t0 = Date.now();
  const data = preparePretrainData(cfg, log);
  const { tokenizer } = data;
  const rng = new Rng(cfg.seed).fork("pretrain");
  const sampler = makePretrainSampler({
    corpus: data.corpusTrain, reviews: data.reviewsTrain, reviewFraction: p.review_fraction,
    batchSize: p.batch_size, blockSize: cfg.model.context, rng: rng.fork("train-batches"),
  });
  const valSampler = makePretrainSampler({
    corpus: data.corpusVal, reviews: data.reviewsVal, reviewFraction: p.review_fraction,
    batchSize: p.batch_size, blockSize: cfg.model.context, rng: rng.fork("val-batches"),
  });
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
        const msPerStep = (now - tTrain) / (step + 1 - start);
        log(`pretrain step ${step}/${p.steps} | loss ${loss.toFixed(3)} | val_loss ${valLoss.toFixed(3)} (unigram ${unigram.toFixed(3)}) | ` +
          `lr ${lr.toExponential(2)} | grad_norm ${gradNorm.toFixed(2)} | ${msPerStep.toFixed(0)} ms/step | eta ${((p.steps - step - 1) * msPerStep / 1000).toFixed(0)} s`);
        lastLog = now;
        cb.onEval?.(step, ev);
      }
      resume.save(step + 1, parts, { valLoss });
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
  const seconds = (Date.now() - t0) / 1000;
  const summary: PretrainSummary = {
    val_loss: valLoss,
    unigram_val_loss: unigram,
    tokens: p.steps * tokensPerStep,
    seconds,
    steps: p.steps,
    params: model.paramCount(),
    ms_per_step: (Date.now() - tTrain) / p.steps,
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
