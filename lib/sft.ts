// Stage 2: supervised fine-tuning (SFT). Demonstrations are review sentences split into a prompt (the first 2-4
// words) and a response (the rest); the model learns to continue a prompt the way a human review does, and to stop
// (EOS). The prompt is context, not something to imitate, so it is masked out of the loss:
//
//   sequence  s = [BOS, prompt tokens..., response tokens..., EOS]       inputs s[0..n-2], targets s[1..n-1]
//   m_t = 1 if target s[t+1] belongs to the response (EOS included), else 0 (prompt and padding)
//   loss = - sum_{b,t} m_{b,t} log p_theta(s_{b,t+1} | s_{b,<=t}) / sum_{b,t} m_{b,t}
//
// Batches are right-padded with PAD (causal attention means real tokens never see the padding after them, and the
// mask removes padded targets), so SFT needs no attention mask at all.
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { Config, InputError, configSource } from "./config";
import { Demonstration, REVIEWS_FILE, loadReviews, makeDemonstrations } from "./data";
import { GPT, crossEntropy } from "./model";
import { AdamW, lrAt, trainStep } from "./optim";
import { Rng } from "./rng";
import { Tokenizer } from "./tokenizer";
import { saveCheckpoint } from "./checkpoint";
import { MetricsLog, runDir, writeSummary } from "./metrics";
import { progress } from "./progress";
import { StageResume } from "./resume";
import {
  StageCallbacks, StageResult, checkpointDir, checkpointMismatch, ensurePretrained, loadStage, stageRecord,
} from "./pretrain";
import { generate } from "./sample";
import { bitsPerChar, fluency, newPrompts } from "./fluency";

export interface SftExample {
  demo: Demonstration;
  ids: number[]; // BOS + prompt + response + EOS
  promptLen: number; // BOS + prompt tokens
}

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
  /** Bits per character on the held-out review sentences (lib/fluency.ts bitsPerChar): comparable across tokenizers. */
  heldout_bpc: number;
  /** How many held-out sentences heldout_bpc scored (compare two runs' bpc only when these agree). */
  heldout_bpc_sentences: number;
  [key: string]: unknown;
}

/** Encodes demonstrations; those longer than context + 1 tokens are dropped (and counted). */
export function encodeDemonstrations(demos: Demonstration[], tok: Tokenizer, context: number): { examples: SftExample[]; dropped: number } {
  const examples: SftExample[] = [];
  let dropped = 0;
  for (const demo of demos) {
    const prompt = [tok.bos, ...tok.encode(demo.prompt)];
    const ids = [...prompt, ...tok.encode(demo.response), tok.eos];
    if (ids.length > context + 1) { dropped++; continue; }
    examples.push({ demo, ids, promptLen: prompt.length });
  }
  return { examples, dropped };
}

/** Inputs, targets and the loss mask of a batch (right-padded to its longest example). */
export function sftBatch(examples: SftExample[], pad: number): { x: tf.Tensor2D; y: tf.Tensor2D; mask: tf.Tensor2D } {
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.ids.length)) - 1;
  const xs = new Int32Array(B * T).fill(pad), ys = new Int32Array(B * T).fill(pad), ms = new Float32Array(B * T);
  examples.forEach((e, r) => {
    for (let t = 0; t < e.ids.length - 1; t++) {
      xs[r * T + t] = e.ids[t];
      ys[r * T + t] = e.ids[t + 1];
      // target s[t+1] is a response token when t + 1 >= promptLen
      if (t + 1 >= e.promptLen) ms[r * T + t] = 1;
    }
  });
  return { x: tf.tensor2d(xs, [B, T], "int32"), y: tf.tensor2d(ys, [B, T], "int32"), mask: tf.tensor2d(ms, [B, T]) };
}

/** The prompt-masked loss (equation at the top of this file). */
export function sftLoss(model: GPT, x: tf.Tensor2D, y: tf.Tensor2D, mask: tf.Tensor2D, training: boolean): tf.Scalar {
  return tf.tidy(() => crossEntropy(model.forward(x, { training }).logits, y, mask));
}

/** Response-token-weighted mean loss over all examples (dropout off). */
export function sftEvalLoss(model: GPT, examples: SftExample[], pad: number, batchSize = 64): number {
  let sum = 0, n = 0;
  examples = [...examples].sort((a, b) => a.ids.length - b.ids.length); // less padding; the mean is order-free
  for (let i = 0; i < examples.length; i += batchSize) {
    const { x, y, mask } = sftBatch(examples.slice(i, i + batchSize), pad);
    const m = mask.sum().dataSync()[0];
    sum += sftLoss(model, x, y, mask, false).dataSync()[0] * m;
    n += m;
    tf.dispose([x, y, mask]);
  }
  return sum / n;
}

/**
 * One epoch of batches (indices into examples), grouped by length: shuffle, cut into chunks of 8 batches, sort each
 * chunk by length, cut it into batches, shuffle the batch order. A batch is padded to its longest example, so random
 * batches of review sentences (5 to 60 tokens) waste about half their compute on padding; grouped ones very little.
 * (Hugging Face's group_by_length does the same.) The last incomplete batch of an epoch is dropped.
 */
export function lengthGroupedBatches(examples: SftExample[], batchSize: number, rng: Rng): number[][] {
  const perm = rng.permutation(examples.length);
  const chunk = batchSize * 8;
  const batches: number[][] = [];
  for (let c = 0; c + batchSize <= perm.length; c += chunk) {
    const part = perm.slice(c, c + chunk).sort((a, b) => examples[a].ids.length - examples[b].ids.length);
    for (let b = 0; b + batchSize <= part.length; b += batchSize) batches.push(part.slice(b, b + batchSize));
  }
  return rng.shuffle(batches);
}

export interface SftData {
  train: SftExample[];
  val: SftExample[];
  dropped: number;
}

/** Train/val demonstrations from the review splits, prompt lengths drawn with the config's seed. */
export function prepareSftData(cfg: Config, tok: Tokenizer): SftData {
  const rng = new Rng(cfg.seed).fork("sft");
  const s = cfg.sft;
  const tr = encodeDemonstrations(makeDemonstrations(loadReviews("train"), rng.fork("split-train"), s.prompt_words_min, s.prompt_words_max), tok, cfg.model.context);
  const va = encodeDemonstrations(makeDemonstrations(loadReviews("val"), rng.fork("split-val"), s.prompt_words_min, s.prompt_words_max), tok, cfg.model.context);
  return { train: tr.examples, val: va.examples, dropped: tr.dropped + va.dropped };
}

/** Why a batch cannot be cut (a batch is never padded with repeats: the last incomplete one of an epoch is dropped). */
function tooFewExamples(n: number, batchSize: number, where = "sft.batch_size"): string {
  return `${where} is ${batchSize} but only ${n} training demonstrations fit the context (from ${REVIEWS_FILE}); ` +
    `expected sft.batch_size <= ${n}: lower it, or raise model.context`;
}

/** EOS rate and mean length of completions on held-out prompts (what RM sampling and PPO will see). */
export function completionStats(model: GPT, tok: Tokenizer, prompts: string[], maxNewTokens: number, seed: number): { eos_rate: number; mean_tokens: number } {
  const gens = generate(model, tok, prompts, { maxNewTokens, temperature: 1, seed });
  return {
    eos_rate: gens.filter((g) => g.ended).length / gens.length,
    mean_tokens: gens.reduce((s, g) => s + g.tokens.length, 0) / gens.length,
  };
}

/** Fluency (lib/fluency.ts) of 8 completions of each new prompt at temperature 1: does the policy write real words? */
export function sftFluency(model: GPT, tok: Tokenizer, maxNewTokens: number, seed: number): { share: number; words: number } {
  const prompts = newPrompts().flatMap((p) => Array.from({ length: 8 }, () => p));
  return fluency(generate(model, tok, prompts, { maxNewTokens, temperature: 1, seed }).map((g) => g.completion));
}

/**
 * Fine-tunes a copy of the pretrained model (base is left as it was, so a notebook can compare before and after).
 * Writes checkpoints/sft and runs/sft.
 */
export async function trainSft(cfg: Config, cb: StageCallbacks = {}, base?: StageResult<unknown>): Promise<StageResult<SftSummary>> {
  const log = cb.log ?? ((line: string) => console.log(line));
  const s = cfg.sft;
  const t0 = Date.now();
  base ??= await ensurePretrained(cfg, cb);
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
  const bpc = bitsPerChar(model, tokenizer, loadReviews("val").map((r) => r.text));
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
  const dir = checkpointDir(cfg, "sft");
  await saveCheckpoint(dir, { model, tokenizer, config: stageRecord(cfg, "sft"), extra: { summary } });
  const rd = runDir(cfg, "sft");
  metrics.toCsv(path.join(rd, "metrics.csv"));
  writeSummary(rd, summary); // after the checkpoint it describes
  resume.clear();
  log(`sft done in ${summary.seconds.toFixed(0)} s: held-out loss ${valBefore.toFixed(3)} -> ${valLoss.toFixed(3)}; ` +
    `EOS within ${maxNew} tokens on ${(stats.eos_rate * 100).toFixed(0)}% of held-out prompts; saved ${dir}`);
  return { model, tokenizer, summary, metrics, trained: true, checkpointDir: dir };
}

/** The SFT policy: loaded from checkpoints/sft when it was trained with this config, else trained now (pretraining too if needed). */
export async function ensureSft(cfg: Config, cb: StageCallbacks = {}): Promise<StageResult<SftSummary>> {
  const log = cb.log ?? ((line: string) => console.log(line));
  const why = checkpointMismatch(cfg, "sft");
  if (!why) {
    const r = loadStage<SftSummary>(cfg, "sft");
    log(`sft: loaded ${r.checkpointDir} (held-out loss ${r.summary?.val_loss_before?.toFixed(3)} -> ${r.summary?.val_loss_after?.toFixed(3)})`);
    return r;
  }
  log(`sft: training (${why})`);
  const base = await ensurePretrained(cfg, cb);
  try {
    return await trainSft(cfg, cb, base);
  } finally {
    base.model.dispose();
  }
}
