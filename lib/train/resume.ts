// Resumable checkpoints, and what a stage says when it has to stop.
//
// Every `checkpoint_every` steps (PPO: iterations) a training loop calls StageResume.save, which writes
// <paths.checkpoints>/resume/<stage>/ atomically (lib/train/checkpoint.ts): the model as an ordinary, loadable
// checkpoint
// plus everything needed to continue exactly where it stopped:
//   optimizer.bin   AdamW's first and second moments (float32, m then v); resume.json has its step count t
//   <name>.bin      the weights of any other model the loop trains (PPO's separate critic)
//   resume.json     the step, the config hash, every RNG stream's position (data order, dropout, sampling), the
//                   metrics so far (as metrics.csv text), and the stage's own state (KL controller, eval figures...)
// `npm run pipeline -- --stage <s> --resume` (setResume(true)) makes the stage restore it before its first step;
// the data order is either an RNG stream (restored) or replayed by the loop from the step count. The continued
// run's metrics equal an uninterrupted run's (test/resume.test.ts). The folder is removed once the stage finishes.
//
// StageResume.failure turns an error inside a loop (a non-finite loss or gradient: lib/train/optim.ts trainStep refuses
// to step on one) into a message naming the stage, the step and the last good checkpoint.
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { encodeWeightsSync, loadCheckpoint, readCheckpointJson, saveCheckpointSync } from "./checkpoint";
import { type Config, InputError, type Stage, repoPath, repoRoot, stageConfigHash, STAGE_SECTIONS, wsdDecayStart } from "../core/config";
import { MetricsLog } from "../core/metrics";
import type { GPT } from "../lm/model";
import type { AdamW } from "./optim";
import type { Rng, RngState } from "../core/rng";
import type { Tokenizer } from "../lm/tokenizer";

export const RESUME_FILE = "resume.json";
export const OPTIMIZER_FILE = "optimizer.bin";
const FORMAT = "rlhf-course-resume";

let resumeOn = false;
/** Whether stages continue from their resumable checkpoint (tools/pipeline.ts --resume). */
export function setResume(on: boolean): void {
  resumeOn = on;
}
export function resumeEnabled(): boolean {
  return resumeOn;
}

/** Where a stage's resumable checkpoint lives. */
export function resumeDir(cfg: Config, stage: Stage): string {
  return path.join(repoPath(cfg.paths.checkpoints), "resume", stage);
}

/** What a loop hands over at a save point (and gets back filled in at a restore). */
export interface ResumeParts {
  /** The trained model: saved as the folder's checkpoint, so the last good state is loadable like any stage's. */
  model: GPT;
  /** Other trained models (PPO's separate critic), by name. */
  others?: Record<string, GPT | null | undefined>;
  tokenizer: Tokenizer;
  opt: AdamW;
  /** Every stream the loop still draws from (the models' dropout streams are added here). */
  rngs: Record<string, Rng>;
  metrics: MetricsLog;
}

interface ResumeJson {
  format: string;
  stage: Stage;
  step: number;
  hash: string;
  /** pretrain with schedule wsd: the hash without pretrain.steps and curve_points (see extendsWsdRun) */
  stable_hash?: string;
  optimizer: { t: number; size: number };
  rngs: Record<string, RngState>;
  others: Record<string, tf.io.WeightsManifestEntry[]>;
  metrics_csv: string;
  state: Record<string, unknown>;
}

/** A stage that stopped: names the stage, the step and the last good checkpoint. */
export class StageError extends Error {
  constructor(message: string, readonly stage: Stage, readonly step: number, readonly checkpoint: string | undefined) {
    super(message);
    this.name = "StageError";
  }
}

const shown = (p: string) => {
  const rel = path.relative(repoRoot(), p);
  return rel.startsWith("..") ? p : rel;
};

// The models' and the optimizer's internals are private to their modules (kept small for speed work there); a
// resumable checkpoint is the one place that needs them, so it reaches in by name here rather than widening their API.
const dropoutRng = (m: GPT): Rng => (m as unknown as { dropoutRng: Rng }).dropoutRng;
const moments = (o: AdamW): { m: tf.Variable; v: tf.Variable; total: number } => o as unknown as { m: tf.Variable; v: tf.Variable; total: number };

function allRngs(parts: ResumeParts): Record<string, Rng> {
  const out: Record<string, Rng> = { ...parts.rngs, "dropout:model": dropoutRng(parts.model) };
  for (const [k, m] of Object.entries(parts.others ?? {})) if (m) out[`dropout:${k}`] = dropoutRng(m);
  return out;
}

/**
 * A warmup-stable-decay pretraining run's hash without its length (pretrain.steps) and curve points: two runs that
 * share it are the same run up to the earlier one's decay (Hagele et al. 2024), so one can continue the other.
 */
export function wsdStableHash(cfg: Config, stage: Stage): string | undefined {
  const p = cfg.pretrain;
  if (stage !== "pretrain" || p.base !== "trained" || p.schedule !== "wsd") return undefined;
  return stageConfigHash({ ...cfg, pretrain: { ...p, steps: 0, curve_points: [] } }, STAGE_SECTIONS.pretrain);
}

export class StageResume {
  readonly dir: string;
  readonly every: number;
  readonly hash: string;
  /** pretrain with schedule wsd: the hash without the run's length (wsdStableHash); undefined otherwise */
  readonly stableHash: string | undefined;
  /** The step of the last resumable checkpoint this run saved or restored. */
  lastSaved: number | undefined;

  constructor(readonly cfg: Config, readonly stage: Stage, readonly total: number, private readonly log: (line: string) => void = () => {}) {
    this.dir = resumeDir(cfg, stage);
    this.every = cfg.checkpoint_every;
    this.hash = stageConfigHash(cfg, STAGE_SECTIONS[stage]);
    this.stableHash = wsdStableHash(cfg, stage);
  }

  /** May a checkpoint saved with another config continue here? Only a wsd run made longer, saved in its constant phase. */
  private extendsWsdRun(j: ResumeJson): boolean {
    const stable = this.stableHash;
    if (!stable || j.stable_hash !== stable || j.step > wsdDecayStart(this.cfg.pretrain)) return false;
    this.log(`${this.stage}: the resumable checkpoint (step ${j.step}) is of this warmup-stable-decay run with another length or other curve ` +
      `points; step ${j.step} is in the constant-lr phase both share, so this run of ${this.cfg.pretrain.steps} steps continues it`);
    return true;
  }

  /** The saved step, when a resumable checkpoint exists (without loading it). */
  savedStep(): number | undefined {
    const f = path.join(this.dir, RESUME_FILE);
    if (!fs.existsSync(f)) return undefined;
    try {
      return readCheckpointJson<ResumeJson>(f).step;
    } catch {
      return undefined;
    }
  }

  /**
   * With --resume and a resumable checkpoint: restores weights, optimizer, RNG streams and metrics into parts and
   * returns the step to continue from and the stage's state; otherwise undefined (and says why when one exists).
   * Everything is read and checked before anything is assigned.
   */
  restore(parts: ResumeParts): { step: number; state: Record<string, unknown> } | undefined {
    const file = path.join(this.dir, RESUME_FILE);
    const exists = fs.existsSync(file);
    if (!resumeOn) {
      if (exists) this.log(`${this.stage}: a resumable checkpoint (step ${this.savedStep() ?? "?"}) is in ${shown(this.dir)}; starting over (pass --resume to continue from it)`);
      return undefined;
    }
    if (!exists) {
      this.log(`${this.stage}: --resume, but there is no resumable checkpoint in ${shown(this.dir)}; starting from step 0`);
      return undefined;
    }
    const j = readCheckpointJson<ResumeJson>(file);
    const where = shown(file);
    if (j?.format !== FORMAT || j.stage !== this.stage || !Number.isInteger(j.step)) {
      throw new InputError(`${where}: not a resumable checkpoint of stage ${this.stage} (format ${j?.format}, stage ${j?.stage}, step ${j?.step})`);
    }
    if (j.hash !== this.hash && !this.extendsWsdRun(j)) {
      throw new InputError(`${where}: saved with a different config (hash ${j.hash}, this config ${this.hash}); ` +
        `resume with the config it was saved with, or delete ${shown(this.dir)} to start over`);
    }
    if (j.step > this.total) throw new InputError(`${where}: step ${j.step} is beyond the stage's ${this.total} steps`);
    const { model } = loadCheckpoint(this.dir);
    try {
      if (model.head !== parts.model.head) throw new InputError(`${shown(this.dir)}: the saved model has head "${model.head}", the stage trains "${parts.model.head}"`);
      const opt = moments(parts.opt);
      const optFile = path.join(this.dir, OPTIMIZER_FILE);
      const buf = fs.existsSync(optFile) ? fs.readFileSync(optFile) : undefined;
      if (!buf || j.optimizer?.size !== opt.total || buf.byteLength !== opt.total * 8) {
        throw new InputError(`${shown(optFile)}: ${buf ? `${buf.byteLength} bytes` : "missing"}; expected ${opt.total * 8} bytes of AdamW moments for ${opt.total} parameters`);
      }
      const mv = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
      const others = new Map<string, Map<string, tf.Tensor>>();
      for (const [name, m] of Object.entries(parts.others ?? {})) {
        if (!m) continue;
        const specs = j.others?.[name];
        const f = path.join(this.dir, `${name}.bin`);
        if (!specs || !fs.existsSync(f)) throw new InputError(`${shown(f)}: missing (the weights of "${name}")`);
        const b = fs.readFileSync(f);
        const need = specs.reduce((s, w) => s + w.shape.reduce((a, c) => a * c, 1) * 4, 0);
        if (b.byteLength !== need) throw new InputError(`${shown(f)}: ${b.byteLength} bytes, resume.json describes ${need}`);
        others.set(name, new Map(Object.entries(tf.io.decodeWeights(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer, specs))));
      }
      const rngs = allRngs(parts);
      for (const k of Object.keys(rngs)) if (!j.rngs?.[k]) throw new InputError(`${where}: no state for the random stream "${k}"`);
      const metrics = MetricsLog.fromCsvString(j.metrics_csv, this.stage, `${where} (metrics_csv)`);
      if (parts.metrics.length > 0) throw new Error(`StageResume.restore: the ${this.stage} metrics log must be empty before a restore`);
      // All checked: assign.
      try {
        parts.model.loadWeights(model.namedVariables());
        for (const [name, w] of others) parts.others![name]!.loadWeights(w);
      } finally {
        for (const w of others.values()) tf.dispose([...w.values()]);
      }
      const n = opt.total;
      tf.tidy(() => {
        opt.m.assign(tf.tensor1d(mv.subarray(0, n)));
        opt.v.assign(tf.tensor1d(mv.subarray(n, 2 * n)));
      });
      parts.opt.t = j.optimizer.t;
      for (const [k, r] of Object.entries(rngs)) r.setState(j.rngs[k]);
      for (const row of metrics.rows()) {
        const { step, ...values } = row;
        parts.metrics.log(step, values);
      }
    } finally {
      model.dispose();
    }
    this.lastSaved = j.step;
    this.log(`${this.stage}: resumed from ${shown(this.dir)} at step ${j.step}/${this.total}`);
    return { step: j.step, state: j.state ?? {} };
  }

  /** Saves a resumable checkpoint after `step` steps when step is a multiple of checkpoint_every (0 = never). */
  save(step: number, parts: ResumeParts, state: Record<string, unknown> = {}): void {
    if (this.every <= 0 || step % this.every !== 0 || step >= this.total) return;
    this.saveNow(step, parts, state);
  }

  saveNow(step: number, parts: ResumeParts, state: Record<string, unknown> = {}): void {
    const opt = moments(parts.opt);
    const mv = tf.tidy(() => tf.concat([opt.m, opt.v]));
    const files: Record<string, Uint8Array | string> = { [OPTIMIZER_FILE]: new Uint8Array((mv.dataSync() as Float32Array).slice().buffer) };
    mv.dispose();
    const others: Record<string, tf.io.WeightsManifestEntry[]> = {};
    for (const [name, m] of Object.entries(parts.others ?? {})) {
      if (!m) continue;
      const { data, specs } = encodeWeightsSync(m.namedVariables());
      files[`${name}.bin`] = data;
      others[name] = specs;
    }
    const rngs: Record<string, RngState> = {};
    for (const [k, r] of Object.entries(allRngs(parts))) rngs[k] = r.getState();
    const j: ResumeJson = {
      format: FORMAT, stage: this.stage, step, hash: this.hash, ...(this.stableHash ? { stable_hash: this.stableHash } : {}),
      optimizer: { t: parts.opt.t, size: opt.total },
      rngs, others, metrics_csv: parts.metrics.toCsvString(), state,
    };
    files[RESUME_FILE] = JSON.stringify(j) + "\n";
    saveCheckpointSync(this.dir, { model: parts.model, tokenizer: parts.tokenizer, config: { stage: this.stage, hash: this.hash, step } }, {}, files);
    this.lastSaved = step;
  }

  /** The stage finished and saved its checkpoint: the resumable one is no longer needed. */
  clear(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** An error inside the loop at `step` (0-based) as a StageError naming the stage, the step and the last good checkpoint. */
  failure(step: number, e: unknown): StageError {
    if (e instanceof StageError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    const last = this.lastSaved !== undefined
      ? `the last good checkpoint is ${shown(this.dir)} (after step ${this.lastSaved}; loadable with loadCheckpoint, continued by --resume)`
      : `no checkpoint of this run was saved yet (checkpoint_every ${this.every}); checkpoints/${this.stage} was not touched`;
    return new StageError(`${this.stage} stopped at step ${step + 1} of ${this.total}: ${msg}\n  ${last}`, this.stage, step + 1, this.lastSaved !== undefined ? this.dir : undefined);
  }
}
