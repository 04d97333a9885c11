// Checkpoints: checkpoints/<stage>/ holds
//   model.json     TensorFlow.js model-artifact JSON: weightsManifest (names, shapes, dtypes) + our model config
//   weights.bin    the weights, float32 little-endian, in manifest order (tf.io.encodeWeights)
//   tokenizer.json the tokenizer (lib/tokenizer.ts)
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
import { GPT, HeadKind, ModelConfig } from "./model";
import { Tokenizer, TokenizerJSON } from "./tokenizer";

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

/** Weights, tokenizer and config to `dir` (created with its parents), atomically. */
export async function saveCheckpoint<C, E>(
  dir: string,
  parts: CheckpointParts<C, E>,
  hooks: { beforeCommit?: () => void } = {}, // tests use it to simulate a crash after writing, before the swap
): Promise<void> {
  const { model, tokenizer, config, extra } = parts;
  if (model.config.vocab_size !== tokenizer.vocabSize) {
    throw new Error(`saveCheckpoint: the model has vocab_size ${model.config.vocab_size} but the tokenizer ${tokenizer.vocabSize} tokens`);
  }
  const abs = path.resolve(dir);
  const parent = path.dirname(abs);
  fs.mkdirSync(parent, { recursive: true });
  recover(abs);
  // Temp folders left by a crashed save of this checkpoint.
  for (const name of fs.readdirSync(parent)) {
    if (name.startsWith(`${path.basename(abs)}.tmp-`)) fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }

  const named: tf.NamedTensorMap = {};
  for (const [name, v] of model.namedVariables()) named[name] = v;
  const { data, specs } = await tf.io.encodeWeights(named);
  const modelJson: ModelJson = {
    format: FORMAT,
    generatedBy: `rlhf-ppo-course lib/checkpoint.ts (tfjs ${tf.version.tfjs})`,
    convertedBy: null,
    modelTopology: { class: "GPT", config: model.config, head: model.head, seed: model.seed, tied_lm_head: true },
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
  };

  const tmp = `${abs}.tmp-${process.pid}-${Date.now()}`;
  fs.mkdirSync(tmp);
  try {
    writeFileSynced(path.join(tmp, WEIGHTS_FILE), new Uint8Array(data));
    writeFileSynced(path.join(tmp, TOKENIZER_FILE), JSON.stringify(tokenizer.toJSON()));
    writeFileSynced(path.join(tmp, CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
    if (extra !== undefined) writeFileSynced(path.join(tmp, EXTRA_FILE), JSON.stringify(extra, null, 2) + "\n");
    writeFileSynced(path.join(tmp, MODEL_FILE), JSON.stringify(modelJson, null, 1) + "\n");
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

/** True when `dir` holds a complete checkpoint (after restoring an interrupted swap). */
export function checkpointExists(dir: string): boolean {
  const abs = path.resolve(dir);
  recover(abs);
  return [MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE].every((f) => fs.existsSync(path.join(abs, f)));
}

/** The saved config.json alone (cheap: no weights), or undefined when there is no checkpoint. */
export function readCheckpointConfig<C = unknown>(dir: string): C | undefined {
  if (!checkpointExists(dir)) return undefined;
  return JSON.parse(fs.readFileSync(path.join(path.resolve(dir), CONFIG_FILE), "utf8")) as C;
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
    throw new Error(`loadCheckpoint: no complete checkpoint in ${dir} (missing ${missing.join(", ")})`);
  }
  const mj = JSON.parse(fs.readFileSync(path.join(abs, MODEL_FILE), "utf8")) as ModelJson;
  if (mj.format !== FORMAT || mj.modelTopology?.class !== "GPT") {
    throw new Error(`loadCheckpoint: ${dir}/${MODEL_FILE} is not a course GPT checkpoint (format ${mj.format})`);
  }
  const specs = mj.weightsManifest.flatMap((g) => g.weights);
  const buf = fs.readFileSync(path.join(abs, WEIGHTS_FILE));
  const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (buf.byteLength !== expected) {
    throw new Error(`loadCheckpoint: ${dir}/${WEIGHTS_FILE} has ${buf.byteLength} bytes, the manifest describes ${expected}`);
  }
  const tokenizer = Tokenizer.fromJSON(JSON.parse(fs.readFileSync(path.join(abs, TOKENIZER_FILE), "utf8")) as TokenizerJSON);
  const cfg = mj.modelTopology.config;
  if (cfg.vocab_size !== tokenizer.vocabSize) {
    throw new Error(`loadCheckpoint: ${dir}: model vocab_size ${cfg.vocab_size} but the tokenizer has ${tokenizer.vocabSize} tokens`);
  }
  const savedHead = mj.modelTopology.head;
  const head = opts.head ?? savedHead;
  const model = new GPT(cfg, { seed: opts.seed ?? mj.modelTopology.seed, head, trainable: opts.trainable });
  const arrayBuf = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const weights = tf.io.decodeWeights(arrayBuf, specs);
  try {
    const map = new Map(Object.entries(weights));
    if (head !== savedHead) for (const k of [...map.keys()]) if (k.startsWith(`${savedHead}_head.`)) map.delete(k);
    model.loadWeights(map, { allowMissingHead: head !== savedHead });
  } catch (e) {
    model.dispose();
    throw new Error(`loadCheckpoint(${dir}): ${(e as Error).message}`);
  } finally {
    tf.dispose(Object.values(weights));
  }
  const config = JSON.parse(fs.readFileSync(path.join(abs, CONFIG_FILE), "utf8")) as C;
  const extraFile = path.join(abs, EXTRA_FILE);
  const extra = fs.existsSync(extraFile) ? (JSON.parse(fs.readFileSync(extraFile, "utf8")) as E) : undefined;
  return { model, tokenizer, config, extra };
}
