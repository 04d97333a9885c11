// Stage 2: supervised fine-tuning (SFT) as a stage. Starts from the pretrained model it is given (or the one the
// pipeline loads), fine-tunes it on demonstrations with the prompt-masked loss of lib/train/sft.ts, measures the
// held-out loss before and after, how the model writes (fluency, bits per character) and saves checkpoints/sft with
// runs/sft (metrics.csv, summary.json).
import * as tf from "@tensorflow/tfjs";
import { Config, InputError, configSource } from "../core/config";
import { REVIEWS_FILE, loadReviews } from "../lm/data";
import { AdamW, lrAt, trainStep } from "../train/optim";
import { Rng } from "../core/rng";
import { MetricsLog } from "../core/metrics";
import { progress, consoleLog } from "../core/progress";
import { StageResume } from "../train/resume";
import { StageCallbacks, StageResult, saveStage } from "./stage";
import { bitsPerChar, completionStats, fluency, heldoutBpcTexts, sftFluency } from "../lm/fluency";
import { sftBatch, sftLoss, sftEvalLoss, lengthGroupedBatches, prepareSftData, tooFewExamples } from "../train/sft";

export interface SftSummary {
  val_loss_before: number;
  val_loss_after: number;
  seconds: number;
  steps: number;
  train_examples: number;
  val_examples: number;
  dropped_too_long: number;
  /** On held-out prompts, temperature 1, max_new_tokens = rm.max_new_tokens: share of completions that end with EOS. */
  eos_rate: number;
  mean_completion_tokens: number;
  eos_max_new_tokens: number;
  /** Share of the words of completions of data/new_prompts.txt (8 each, temperature 1) found in the training text. */
  fluency: number;
  /** Bits per character on the held-out review sentences (lib/lm/fluency.ts bitsPerChar): comparable across tokenizers. */
  heldout_bpc: number;
  /** How many held-out sentences heldout_bpc scored (compare two runs' bpc only when these agree). */
  heldout_bpc_sentences: number;
  [key: string]: unknown;
}

/**
 * Fine-tunes a copy of the pretrained model (base is left as it was, so a notebook can compare before and after).
 * Writes checkpoints/sft and runs/sft.
 */
export async function trainSft(cfg: Config, base: StageResult<unknown>, cb: StageCallbacks = {}): Promise<StageResult<SftSummary>> {
  const log = cb.log ?? consoleLog;
  const s = cfg.sft;
  const t0 = Date.now();
  const tokenizer = base.tokenizer;
  const data = prepareSftData(cfg, tokenizer);
  log(`sft: ${data.train.length} train / ${data.val.length} val demonstrations (${data.dropped} longer than the context dropped)`);
  const src = configSource(cfg) ?? "the config";
  if (data.train.length < s.batch_size) throw new InputError(`${src}: ${tooFewExamples(data.train.length, s.batch_size)}`);
  if (data.val.length === 0) throw new InputError(`${src}: no held-out demonstration fits model.context = ${cfg.model.context} (${REVIEWS_FILE}, split val); expected a larger model.context`);
  const model = base.model.clone(); // after the checks, so a refused run allocates nothing
  const rng = new Rng(cfg.seed).fork("sft");
  const order = rng.fork("batches");
  const vars = model.trainableVariables();
  const opt = new AdamW(vars, { weightDecay: s.weight_decay });
  const metrics = new MetricsLog("sft");
  const valBefore = sftEvalLoss(model, data.val, tokenizer.pad);
  log(`sft: held-out loss before ${valBefore.toFixed(3)}`);
  let valLoss = valBefore;
  let queue: number[][] = [];
  let tokens = 0;
  const tTrain = Date.now();
  const nextBatch = (): number[] => {
    if (queue.length === 0) queue = lengthGroupedBatches(data.train, s.batch_size, order); // a new epoch
    const b = queue.shift();
    if (!b) throw new InputError(tooFewExamples(data.train.length, s.batch_size));
    return b;
  };
  const resume = new StageResume(cfg, "sft", s.steps, log);
  const parts = { model, tokenizer, opt, rngs: {}, metrics };
  const from = resume.restore(parts);
  const start = from?.step ?? 0;
  if (from) ({ valLoss, tokens } = from.state as { valLoss: number; tokens: number });
  for (let i = 0; i < start; i++) nextBatch(); // the data order: replay the batches already trained on
  let step = start;
  const bar = progress("sft: steps", s.steps - start);
  try {
    for (; step < s.steps; step++) {
      bar.tick();
      const batch = nextBatch().map((i) => data.train[i]);
      const { x, y, mask } = sftBatch(batch, tokenizer.pad);
      const lr = lrAt(step, s);
      let loss: number, gradNorm: number;
      try {
        ({ loss, gradNorm } = trainStep(vars, () => sftLoss(model, x, y, mask, true), opt, { lr, gradClip: s.grad_clip }));
      } finally {
        tf.dispose([x, y, mask]); // also when the step throws
      }
      tokens += batch.reduce((n, e) => n + e.ids.length - e.promptLen, 0);
      const row: Record<string, number> = { loss, lr, grad_norm: gradNorm, tokens };
      metrics.log(step, row);
      if ((step + 1) % s.eval_every === 0 || step === s.steps - 1) {
        valLoss = sftEvalLoss(model, data.val, tokenizer.pad);
        metrics.log(step, { val_loss: valLoss });
        row.val_loss = valLoss;
        const ms = (Date.now() - tTrain) / (step + 1 - start);
        log(`sft step ${step}/${s.steps} | loss ${loss.toFixed(3)} | val_loss ${valLoss.toFixed(3)} | lr ${lr.toExponential(2)} | ` +
          `grad_norm ${gradNorm.toFixed(2)} | ${ms.toFixed(0)} ms/step`);
        cb.onEval?.(step, { val_loss: valLoss });
      }
      resume.save(step + 1, parts, { valLoss, tokens });
      cb.onStep?.(step, row);
      if (step % 10 === 0) await new Promise((r) => setImmediate(r));
    }
  } catch (e) {
    model.dispose(); // nothing of a failed stage stays allocated
    throw resume.failure(step, e);
  } finally {
    opt.dispose();
  }
  bar.done();
  const heldOut = data.val.slice(0, 64);
  const maxNew = Math.min(cfg.rm.max_new_tokens, cfg.model.context - Math.max(...heldOut.map((e) => e.promptLen)));
  const stats = completionStats(model, tokenizer, heldOut.map((e) => e.demo.prompt), maxNew, cfg.seed);
  const fluent = sftFluency(model, tokenizer, maxNew, cfg.seed);
  const bpc = bitsPerChar(model, tokenizer, heldoutBpcTexts());
  const summary: SftSummary = {
    val_loss_before: valBefore,
    val_loss_after: valLoss,
    seconds: (Date.now() - t0) / 1000,
    steps: s.steps,
    ms_per_step: (Date.now() - tTrain) / s.steps,
    train_examples: data.train.length,
    val_examples: data.val.length,
    dropped_too_long: data.dropped,
    eos_rate: stats.eos_rate,
    mean_completion_tokens: stats.mean_tokens,
    eos_max_new_tokens: maxNew,
    fluency: fluent.share,
    heldout_bpc: bpc.bpc,
    heldout_bpc_sentences: bpc.sentences,
  };
  const dir = await saveStage(cfg, "sft", { model, tokenizer, summary, metrics });
  resume.clear();
  log(`sft done in ${summary.seconds.toFixed(0)} s: held-out loss ${valBefore.toFixed(3)} -> ${valLoss.toFixed(3)}; ` +
    `EOS within ${maxNew} tokens on ${(stats.eos_rate * 100).toFixed(0)}% of held-out prompts; saved ${dir}`);
  return { model, tokenizer, summary, metrics, trained: true, checkpointDir: dir };
}
