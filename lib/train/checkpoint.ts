// Checkpoints: checkpoints/<stage>/ holds
//   model.json     TensorFlow.js model-artifact JSON: weightsManifest (names, shapes, dtypes) + our model config
//   weights.bin    the weights, float32 little-endian, in manifest order (tf.io.encodeWeights)
//   tokenizer.json the tokenizer (lib/lm/tokenizer.ts)
//   config.json    the config the stage ran with (what ensurePretrained/ensureSft compare before reusing it)
//   extra.json     optional stage data (summary figures, ...)
//
// In a browser: `const a = await tf.io.http("checkpoints/sft/model.json").load();` gives weightSpecs + weightData,
// and `tf.io.decodeWeights(a.weightData, a.weightSpecs)` the named tensors; a.modelTopology.config is the
// ModelConfig to build the same GPT (this is not a Keras layers model, so tf.loadLayersModel does not apply).
//
// Writes are atomic at the directory level. Everything is written into a sibling temp folder and fsynced; then the
// old folder is renamed aside (<dir>.prev), the temp folder renamed into place, and the old one deleted. A crash
// while writing leaves the old checkpoint untouched (plus a temp folder the next save removes); a crash between
// the two renames leaves <dir>.prev, which every reader here restores before looking at <dir>.
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../core/config";
import { GPT, HeadKind, ModelConfig } from "../lm/model";
import { Tokenizer, TokenizerJSON } from "../lm/tokenizer";

export const MODEL_FILE = "model.json";
export const WEIGHTS_FILE = "weights.bin";
export const TOKENIZER_FILE = "tokenizer.json";
export const CONFIG_FILE = "config.json";
export const EXTRA_FILE = "extra.json";
const FORMAT = "rlhf-course-gpt";

interface ModelJson {
  format: string;
  generatedBy: string;
  convertedBy: null;
  modelTopology: { class: "GPT"; config: ModelConfig; head: HeadKind; seed: number; tied_lm_head: true };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

export interface CheckpointParts<C = unknown, E = unknown> {
  model: GPT;
  tokenizer: Tokenizer;
  config: C;
  extra?: E;
}

function writeFileSynced(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, "w");
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Some file systems refuse to fsync a directory; the renames are still atomic there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

const prevDir = (dir: string) => `${dir}.prev`;

/**
 * Brings a checkpoint folder to a consistent state after a crash: if only <dir>.prev exists the swap was cut short
 * and the previous checkpoint is restored; if both exist the new one is complete and .prev is stale.
 */
function recover(dir: string): void {
  const prev = prevDir(dir);
  if (!fs.existsSync(prev)) return;
  if (fs.existsSync(dir)) fs.rmSync(prev, { recursive: true, force: true });
  else fs.renameSync(prev, dir);
}

/** Extra files a checkpoint may carry beside the standard ones (lib/train/resume.ts: optimizer moments, resume state). */
export type CheckpointFiles = Record<string, string | Uint8Array>;

/**
 * The variables as tf.io.encodeWeights lays them out (float32 little-endian, in order) but synchronously, so a
 * training loop that is not async (the reward model's, PPO's) can save a resumable checkpoint between two steps.
 */
export function encodeWeightsSync(named: Iterable<[string, tf.Tensor]>): { data: Uint8Array; specs: tf.io.WeightsManifestEntry[] } {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Float32Array[] = [];
  for (const [name, t] of named) {
    if (t.dtype !== "float32") throw new Error(`encodeWeightsSync: "${name}" is ${t.dtype}; checkpoints hold float32 only`);
    specs.push({ name, shape: t.shape.slice(), dtype: "float32" });
    parts.push(t.dataSync() as Float32Array);
  }
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return { data: new Uint8Array(out.buffer), specs };
}

/**
 * Writes `files` as the folder `dir`, atomically (see the header): a temp sibling, fsynced, then swapped in.
 * hooks.beforeCommit runs after everything is written, before the swap (tests simulate a crash there).
 */
export function writeCheckpointDir(dir: string, files: CheckpointFiles, hooks: { beforeCommit?: () => void } = {}): void {
  const abs = path.resolve(dir);
  const parent = path.dirname(abs);
  fs.mkdirSync(parent, { recursive: true });
  recover(abs);
  // Temp folders left by a crashed save of this checkpoint.
  for (const name of fs.readdirSync(parent)) {
    if (name.startsWith(`${path.basename(abs)}.tmp-`)) fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
  const tmp = `${abs}.tmp-${process.pid}-${Date.now()}`;
  fs.mkdirSync(tmp);
  try {
    // model.json last: a reader that finds it finds everything it lists.
    const names = Object.keys(files).sort((a, b) => Number(a === MODEL_FILE) - Number(b === MODEL_FILE));
    for (const name of names) writeFileSynced(path.join(tmp, name), files[name]);
    fsyncDir(tmp);
    hooks.beforeCommit?.();
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  // The swap: two renames, each atomic. See recover() for a crash between them.
  const hadOld = fs.existsSync(abs);
  if (hadOld) fs.renameSync(abs, prevDir(abs));
  fs.renameSync(tmp, abs);
  fsyncDir(parent);
  if (hadOld) fs.rmSync(prevDir(abs), { recursive: true, force: true });
}

/** Weights, tokenizer and config (plus any extra files) to `dir` (created with its parents), atomically; synchronous. */
export function saveCheckpointSync<C, E>(dir: string, parts: CheckpointParts<C, E>, hooks: { beforeCommit?: () => void } = {}, files: CheckpointFiles = {}): void {
  const { model, tokenizer, config, extra } = parts;
  if (model.config.vocab_size !== tokenizer.vocabSize) {
    throw new Error(`saveCheckpoint: the model has vocab_size ${model.config.vocab_size} but the tokenizer ${tokenizer.vocabSize} tokens`);
  }
  const { data, specs } = encodeWeightsSync(model.namedVariables());
  const modelJson: ModelJson = {
    format: FORMAT,
    generatedBy: `rlhf-ppo-course lib/train/checkpoint.ts (tfjs ${tf.version.tfjs})`,
    convertedBy: null,
    modelTopology: { class: "GPT", config: model.config, head: model.head, seed: model.seed, tied_lm_head: true },
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
  };
  const all: CheckpointFiles = {
    ...files,
    [WEIGHTS_FILE]: data,
    [TOKENIZER_FILE]: JSON.stringify(tokenizer.toJSON()),
    [CONFIG_FILE]: JSON.stringify(config, null, 2) + "\n",
    [MODEL_FILE]: JSON.stringify(modelJson, null, 1) + "\n",
  };
  if (extra !== undefined) all[EXTRA_FILE] = JSON.stringify(extra, null, 2) + "\n";
  writeCheckpointDir(dir, all, hooks);
}

/** Weights, tokenizer and config to `dir` (created with its parents), atomically. */
export async function saveCheckpoint<C, E>(
  dir: string,
  parts: CheckpointParts<C, E>,
  hooks: { beforeCommit?: () => void } = {}, // tests use it to simulate a crash after writing, before the swap
  files: CheckpointFiles = {},
): Promise<void> {
  saveCheckpointSync(dir, parts, hooks, files);
}

/** A JSON file of a checkpoint, or an error that names the file and what is wrong with it. */
export function readCheckpointJson<T>(file: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new InputError(`checkpoint file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new InputError(`checkpoint file ${file} is not valid JSON (${(e as Error).message}); the checkpoint is corrupt: delete its folder and retrain the stage`);
  }
}

/** True when `dir` holds a complete checkpoint (after restoring an interrupted swap). */
export function checkpointExists(dir: string): boolean {
  const abs = path.resolve(dir);
  recover(abs);
  return [MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE].every((f) => fs.existsSync(path.join(abs, f)));
}

/** The saved config.json alone (cheap: no weights), or undefined when there is no checkpoint. */
export function readCheckpointConfig<C = unknown>(dir: string): C | undefined {
  if (!checkpointExists(dir)) return undefined;
  return readCheckpointJson<C>(path.join(path.resolve(dir), CONFIG_FILE));
}

export interface LoadOptions {
  /** Build the model with this head instead of the saved one: a new head is freshly initialised, a dropped one ignored. */
  head?: HeadKind;
  /** Seed for the new model's dropout stream and any fresh head (default: the saved seed). */
  seed?: number;
  trainable?: boolean;
}

/** Reads a checkpoint written by saveCheckpoint. Checks every weight's name and shape and names what does not match. */
export function loadCheckpoint<C = unknown, E = unknown>(dir: string, opts: LoadOptions = {}): { model: GPT; tokenizer: Tokenizer; config: C; extra: E | undefined } {
  const abs = path.resolve(dir);
  if (!checkpointExists(abs)) {
    const missing = [MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE].filter((f) => !fs.existsSync(path.join(abs, f)));
    throw new InputError(`loadCheckpoint: no complete checkpoint in ${dir} (missing ${missing.join(", ")})`);
  }
  // Everything is read and checked before a model is built: a corrupt checkpoint is refused whole, never loaded half.
  const file = (f: string) => path.join(dir, f);
  const mj = readCheckpointJson<ModelJson>(path.join(abs, MODEL_FILE));
  if (mj?.format !== FORMAT || mj.modelTopology?.class !== "GPT") {
    throw new InputError(`loadCheckpoint: ${file(MODEL_FILE)} is not a course GPT checkpoint (format ${mj?.format})`);
  }
  if (!Array.isArray(mj.weightsManifest) || !mj.weightsManifest.every((g) => Array.isArray(g?.weights))) {
    throw new InputError(`loadCheckpoint: ${file(MODEL_FILE)} has no valid weightsManifest (expected a list of {paths, weights})`);
  }
  const specs = mj.weightsManifest.flatMap((g) => g.weights);
  for (const w of specs) {
    if (typeof w?.name !== "string" || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0) || w.dtype !== "float32") {
      throw new InputError(`loadCheckpoint: ${file(MODEL_FILE)}: weight entry ${JSON.stringify(w).slice(0, 100)} is malformed (expected {name, shape: [integers], dtype: "float32"})`);
    }
  }
  const buf = fs.readFileSync(path.join(abs, WEIGHTS_FILE));
  const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (buf.byteLength !== expected) {
    throw new InputError(`loadCheckpoint: ${file(WEIGHTS_FILE)} has ${buf.byteLength} bytes, the manifest describes ${expected} (truncated or from another save)`);
  }
  const floats = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
  let off = 0;
  for (const w of specs) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    for (let i = off; i < off + n; i++) {
      if (!Number.isFinite(floats[i])) throw new InputError(`loadCheckpoint: ${file(WEIGHTS_FILE)}: weight "${w.name}" holds ${floats[i]} at index ${i - off}; a checkpoint must hold finite weights`);
    }
    off += n;
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = Tokenizer.fromJSON(readCheckpointJson<TokenizerJSON>(path.join(abs, TOKENIZER_FILE)));
  } catch (e) {
    throw new InputError(`loadCheckpoint: ${file(TOKENIZER_FILE)}: ${(e as Error).message}`);
  }
  const cfg = mj.modelTopology.config;
  if (cfg?.vocab_size !== tokenizer.vocabSize) {
    throw new InputError(`loadCheckpoint: ${file(MODEL_FILE)}: model vocab_size ${cfg?.vocab_size} but ${file(TOKENIZER_FILE)} has ${tokenizer.vocabSize} tokens`);
  }
  const config = readCheckpointJson<C>(path.join(abs, CONFIG_FILE));
  const extraFile = path.join(abs, EXTRA_FILE);
  const extra = fs.existsSync(extraFile) ? readCheckpointJson<E>(extraFile) : undefined;
  const savedHead = mj.modelTopology.head;
  const head = opts.head ?? savedHead;
  let model: GPT;
  try {
    model = new GPT(cfg, { seed: opts.seed ?? mj.modelTopology.seed, head, trainable: opts.trainable });
  } catch (e) {
    throw new InputError(`loadCheckpoint: ${file(MODEL_FILE)}: modelTopology.config is not a valid model (${(e as Error).message})`);
  }
  const weights = tf.io.decodeWeights(floats.buffer as ArrayBuffer, specs);
  try {
    const map = new Map(Object.entries(weights));
    if (head !== savedHead) for (const k of [...map.keys()]) if (k.startsWith(`${savedHead}_head.`)) map.delete(k);
    model.loadWeights(map, { allowMissingHead: head !== savedHead });
  } catch (e) {
    model.dispose();
    throw new InputError(`loadCheckpoint(${dir}): ${file(MODEL_FILE)} and ${WEIGHTS_FILE}: ${(e as Error).message}`);
  } finally {
    tf.dispose(Object.values(weights));
  }
  return { model, tokenizer, config, extra };
}
