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
import * as path from "node:path";
import * as fs from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { Config, STAGE_SECTIONS, Stage, configSource, repoPath, stageConfigHash } from "./config";
import { loadCorpus, loadReviews, makePretrainSampler, splitCorpus, PretrainBatch } from "./data";
import { GPT, ModelConfig, crossEntropy } from "./model";
import { AdamW, lrAt, trainStep } from "./optim";
import { Rng } from "./rng";
import { Tokenizer, trainTokenizer } from "./tokenizer";
import { checkpointExists, loadCheckpoint, readCheckpointConfig, saveCheckpoint } from "./checkpoint";
import { MetricsLog, runDir, writeSummary } from "./metrics";
import { progress } from "./progress";
import { StageResume } from "./resume";

/** Called with each step's metrics row (and at eval steps with the eval figures too). */
export type StepCallback = (step: number, metrics: Record<string, number>) => void;

export interface StageCallbacks {
  onStep?: StepCallback;
  onEval?: StepCallback;
  /** Progress lines (default console.log); pass () => {} for silence. */
  log?: (line: string) => void;
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

export interface StageResult<S> {
  model: GPT;
  tokenizer: Tokenizer;
  summary: S;
  /** The per-step metrics (read back from runs/<stage>/metrics.csv when the checkpoint was loaded). */
  metrics: MetricsLog | undefined;
  /** true when this call trained the stage, false when it loaded the checkpoint. */
  trained: boolean;
  checkpointDir: string;
}

/** What a stage writes as config.json beside its weights, and compares before reusing a checkpoint. */
export interface StageConfigRecord {
  stage: Stage;
  hash: string;
  source: string | undefined;
  seed: number;
  sections: Record<string, unknown>;
}

export function stageRecord(cfg: Config, stage: Stage): StageConfigRecord {
  const sections: Record<string, unknown> = {};
  for (const s of STAGE_SECTIONS[stage]) sections[s] = cfg[s];
  return { stage, hash: stageConfigHash(cfg, STAGE_SECTIONS[stage]), source: configSource(cfg), seed: cfg.seed, sections };
}

export function checkpointDir(cfg: Config, stage: Stage): string {
  return path.join(repoPath(cfg.paths.checkpoints), stage);
}

/** Why a saved checkpoint cannot be reused for cfg ("" when it can): names the keys that changed. */
export function checkpointMismatch(cfg: Config, stage: Stage): string {
  const dir = checkpointDir(cfg, stage);
  if (!checkpointExists(dir)) return `no checkpoint in ${path.relative(process.cwd(), dir) || dir}`;
  const saved = readCheckpointConfig<StageConfigRecord>(dir);
  const want = stageRecord(cfg, stage);
  if (saved?.hash === want.hash) return "";
  const diffs: string[] = [];
  if (saved?.seed !== want.seed) diffs.push(`seed ${saved?.seed} -> ${want.seed}`);
  const walk = (a: unknown, b: unknown, key: string) => {
    if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
      for (const k of new Set([...Object.keys(a as object), ...Object.keys(b as object)])) {
        walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], key ? `${key}.${k}` : k);
      }
    } else if (JSON.stringify(a) !== JSON.stringify(b)) diffs.push(`${key} ${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
  };
  walk(saved?.sections ?? {}, want.sections, "");
  return `checkpoint config differs (${diffs.slice(0, 6).join(", ") || "hash differs"})`;
}

// ---------------------------------------------------------------------------------------------------------------
// Tokenizer

/**
 * The text the tokenizer learns from: ~1 MB of the training corpus in 40 evenly spaced chunks (both sources), plus
 * the training review sentences six times (~1 MB), so review words earn their own tokens. Measured at vocab 2,048:
 * 71% of held-out review words, and 19 of 24 common sentiment words (" great", " terrible", " delicious"...), are a
 * single token (reviews twice: 67% and 15/24). A word that is one token cannot come out misspelled, and the gold
 * scorer (VADER) only reacts to real words.
 */
export function tokenizerTrainingText(corpusTrain: string, reviewTexts: string[], corpusBytes = 1_000_000, reviewRepeats = 6): string {
  const chunks = 40, size = Math.floor(corpusBytes / chunks);
  const parts: string[] = [];
  const stride = Math.max(size, Math.floor(corpusTrain.length / chunks));
  for (let i = 0; i < chunks && i * stride < corpusTrain.length; i++) parts.push(corpusTrain.slice(i * stride, i * stride + size));
  const reviews = reviewTexts.join("\n");
  return parts.join("\n") + ("\n" + reviews).repeat(reviewRepeats);
}

// ---------------------------------------------------------------------------------------------------------------
// Data

export interface PretrainData {
  tokenizer: Tokenizer;
  corpusTrain: Int32Array;
  corpusVal: Int32Array;
  reviewsTrain: Int32Array[]; // BOS + sentence + EOS each
  reviewsVal: Int32Array[];
  charsPerTokenCorpus: number;
  charsPerTokenReviews: number;
}

/** BOS + tokens + EOS: how every review sentence is framed, in pretraining, SFT and RL alike. */
export function encodeSentence(tok: Tokenizer, text: string): Int32Array {
  return Int32Array.from([tok.bos, ...tok.encode(text), tok.eos]);
}

const tokenizerCache = new Map<string, Tokenizer>();

/**
 * The stage's tokenizer: trained on tokenizerTrainingText (deterministic), memoised per process so a notebook that
 * shows the tokenizer and then calls ensurePretrained trains it once.
 */
export function buildTokenizer(cfg: Config): Tokenizer {
  const key = JSON.stringify(cfg.tokenizer);
  let tok = tokenizerCache.get(key);
  if (!tok) {
    const { train } = splitCorpus(loadCorpus());
    tok = trainTokenizer(tokenizerTrainingText(train, loadReviews("train").map((r) => r.text)), cfg.tokenizer);
    tokenizerCache.set(key, tok);
  }
  return tok;
}

/**
 * The part of the training corpus a run can use: all of it when the run reads about as many tokens as it holds
 * (course.yaml: ~1 epoch), else evenly spaced slices totalling ~8 characters per token the run will read, so a
 * smoke run does not spend its seconds encoding 6 MB it never sees.
 */
export function corpusForRun(train: string, cfg: Config): string {
  const p = cfg.pretrain;
  const needChars = p.steps * p.batch_size * (cfg.model.context + 1) * (1 - p.review_fraction) * 8;
  if (needChars >= train.length / 2) return train;
  const chunks = 20, size = Math.ceil(Math.max(needChars, 200_000) / chunks), stride = Math.floor(train.length / chunks);
  return Array.from({ length: chunks }, (_, i) => train.slice(i * stride, i * stride + size)).join("\n");
}

export function preparePretrainData(cfg: Config, log: (s: string) => void = () => {}): PretrainData {
  const t0 = Date.now();
  const split = splitCorpus(loadCorpus());
  const rTrain = loadReviews("train"), rVal = loadReviews("val");
  const tokenizer = buildTokenizer(cfg);
  const t1 = Date.now();
  const train = corpusForRun(split.train, cfg), val = split.val;
  const corpusTrain = Int32Array.from(tokenizer.encode(train));
  const corpusVal = Int32Array.from(tokenizer.encode(val));
  const reviewsTrain = rTrain.map((r) => encodeSentence(tokenizer, r.text));
  const reviewsVal = rVal.map((r) => encodeSentence(tokenizer, r.text));
  const reviewChars = rTrain.reduce((s, r) => s + r.text.length, 0);
  const reviewToks = reviewsTrain.reduce((s, r) => s + r.length - 2, 0);
  log(`tokenizer ${cfg.tokenizer.kind} (${tokenizer.vocabSize} tokens) ready in ${t1 - t0} ms; ` +
    `corpus ${train.length.toLocaleString("en-US")} chars -> ${corpusTrain.length.toLocaleString("en-US")} tokens ` +
    `(${(train.length / corpusTrain.length).toFixed(2)} chars/token), encoded in ${Date.now() - t1} ms`);
  return {
    tokenizer, corpusTrain, corpusVal, reviewsTrain, reviewsVal,
    charsPerTokenCorpus: train.length / corpusTrain.length,
    charsPerTokenReviews: reviewChars / reviewToks,
  };
}

/** Splits [B, T+1] rows into inputs (columns 0..T-1) and targets (columns 1..T), in JS (no StridedSlice). */
export function batchToTensors(b: PretrainBatch): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const T = b.length - 1;
  const xs = new Int32Array(b.batchSize * T), ys = new Int32Array(b.batchSize * T);
  for (let r = 0; r < b.batchSize; r++) {
    xs.set(b.tokens.subarray(r * b.length, r * b.length + T), r * T);
    ys.set(b.tokens.subarray(r * b.length + 1, (r + 1) * b.length), r * T);
  }
  return { x: tf.tensor2d(xs, [b.batchSize, T], "int32"), y: tf.tensor2d(ys, [b.batchSize, T], "int32") };
}

/**
 * The unigram baseline's cross-entropy on the validation batches: p(x) = the training mix's token frequencies,
 * (1 - f) * corpus + f * reviews, add-one smoothed so no validation token has probability 0.
 */
export function unigramLoss(data: PretrainData, reviewFraction: number, valBatches: PretrainBatch[]): number {
  const V = data.tokenizer.vocabSize;
  const corpus = new Float64Array(V).fill(1), reviews = new Float64Array(V).fill(1);
  for (const t of data.corpusTrain) corpus[t]++;
  let nr = V;
  for (const s of data.reviewsTrain) for (const t of s) { reviews[t]++; nr++; }
  const nc = data.corpusTrain.length + V;
  const logp = new Float64Array(V);
  for (let i = 0; i < V; i++) logp[i] = Math.log((1 - reviewFraction) * (corpus[i] / nc) + reviewFraction * (reviews[i] / nr));
  let sum = 0, n = 0;
  for (const b of valBatches) {
    for (let r = 0; r < b.batchSize; r++) for (let t = 1; t < b.length; t++) { sum -= logp[b.tokens[r * b.length + t]]; n++; }
  }
  return sum / n;
}

/** Mean next-token loss of the model over fixed batches, dropout off. */
export function evalLoss(model: GPT, batches: PretrainBatch[]): number {
  let sum = 0;
  for (const b of batches) {
    const { x, y } = batchToTensors(b);
    sum += tf.tidy(() => crossEntropy(model.forward(x).logits, y).dataSync()[0]);
    tf.dispose([x, y]);
  }
  return sum / batches.length;
}

export function modelConfigFor(cfg: Config, tokenizer: Tokenizer): ModelConfig {
  return { ...cfg.model, vocab_size: tokenizer.vocabSize };
}

// ---------------------------------------------------------------------------------------------------------------
// Training

/** Trains the tokenizer and the base model from scratch; writes checkpoints/pretrain and runs/pretrain. */
export async function trainPretrain(cfg: Config, cb: StageCallbacks = {}): Promise<StageResult<PretrainSummary>> {
  const log = cb.log ?? ((s: string) => console.log(s));
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
  const dir = checkpointDir(cfg, "pretrain");
  await saveCheckpoint(dir, { model, tokenizer, config: stageRecord(cfg, "pretrain"), extra: { summary } });
  const rd = runDir(cfg, "pretrain");
  metrics.toCsv(path.join(rd, "metrics.csv"));
  writeSummary(rd, summary); // after the checkpoint it describes
  resume.clear();
  log(`pretrain done in ${seconds.toFixed(0)} s: val_loss ${valLoss.toFixed(3)} vs unigram ${unigram.toFixed(3)}; saved ${dir}`);
  return { model, tokenizer, summary, metrics, trained: true, checkpointDir: dir };
}

/** Loads a stage's checkpoint with its summary and metrics (when runs/<stage>/metrics.csv exists). */
export function loadStage<S>(cfg: Config, stage: Stage): StageResult<S> {
  const dir = checkpointDir(cfg, stage);
  const { model, tokenizer, extra } = loadCheckpoint<StageConfigRecord, { summary: S }>(dir);
  const csv = path.join(repoPath(cfg.paths.runs), stage, "metrics.csv");
  const metrics = fs.existsSync(csv) ? MetricsLog.readCsv(csv, stage) : undefined;
  return { model, tokenizer, summary: extra?.summary as S, metrics, trained: false, checkpointDir: dir };
}

/** The pretrained model: loaded from checkpoints/pretrain when it was trained with this config, else trained now. */
export async function ensurePretrained(cfg: Config, cb: StageCallbacks = {}): Promise<StageResult<PretrainSummary>> {
  const log = cb.log ?? ((s: string) => console.log(s));
  const why = checkpointMismatch(cfg, "pretrain");
  if (!why) {
    const r = loadStage<PretrainSummary>(cfg, "pretrain");
    log(`pretrain: loaded ${r.checkpointDir} (val_loss ${r.summary?.val_loss?.toFixed(3)}, unigram ${r.summary?.unigram_val_loss?.toFixed(3)})`);
    return r;
  }
  log(`pretrain: training (${why})`);
  return trainPretrain(cfg, cb);
}
