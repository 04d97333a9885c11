// The shipped base model. Real RLHF starts from a model someone pretrained for far longer than the RLHF steps take;
// so does the course: config/base.yaml trains the base once (12 minutes on 2 idle cores), `npm run ship-base` copies it
// into data/base/ with what describes it, and every config with pretrain.base: shipped starts SFT from it.
//
//   data/base/            the checkpoint (model.json, weights.bin, tokenizer.json, config.json, extra.json)
//   data/base/base.json   config_hash, the config it was trained with, the data's SHA-256, its summary, the command
//   data/base/metrics.csv its loss curve (thinned); data/base/curve.csv its compute curve, when its config had curve points
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { type Config, InputError, SHIPPED_BASE_DIR, SHIPPED_BASE_META, STAGE_SECTIONS, configSource, readShippedBaseJson, repoPath, stageConfigHash } from "../core/config";
import { MetricsLog, runDir } from "../core/metrics";
import { loadCheckpoint, saveCheckpoint } from "../train/checkpoint";
import { CURVE_FILE } from "./curve";
import type { PretrainSummary } from "./pretrain";
import { type StageResult, checkpointDir, checkpointMismatch, loadStage } from "./stage";

export const BASE_META_FILE = SHIPPED_BASE_META;

export interface ShippedBaseMeta {
  config_hash: string;
  /** The config sections the base was trained with: tokenizer, model, pretrain (and the seed). */
  config: { seed: number; tokenizer: Config["tokenizer"]; model: Config["model"]; pretrain: Config["pretrain"] };
  /** SHA-256 of the data files it was trained on, as in data/MANIFEST.json. */
  data: Record<string, string>;
  summary: PretrainSummary;
  command: string;
}

/** The SHA-256 of each data file the base reads (corpus and reviews). */
export function dataHashes(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ["data/corpus.txt", "data/reviews.jsonl"]) out[f] = crypto.createHash("sha256").update(fs.readFileSync(repoPath(f))).digest("hex");
  return out;
}

/** data/base/base.json, checked: a damaged or missing file is an InputError naming it. */
export function readShippedBaseMeta(dir = SHIPPED_BASE_DIR): ShippedBaseMeta {
  const meta = readShippedBaseJson(dir) as unknown as ShippedBaseMeta;
  if (typeof meta.config?.model?.d_model !== "number" || typeof meta.summary?.steps !== "number") {
    throw new InputError(`${path.join(repoPath(dir), BASE_META_FILE)}: expected {config_hash, config: {tokenizer, model, pretrain}, data, summary, command} as npm run ship-base writes it`);
  }
  return meta;
}

/**
 * The shipped base model, after checking that cfg asks for the model it is (same tokenizer, same shape): a config
 * whose tokenizer.* or model.* differ is refused with the key, its value and the base's.
 */
export function loadShippedBase(cfg: Config, from = SHIPPED_BASE_DIR): StageResult<PretrainSummary> {
  const meta = readShippedBaseMeta(from);
  const src = configSource(cfg) ?? "the config";
  const want: [string, unknown, unknown][] = [
    ["tokenizer.kind", cfg.tokenizer.kind, meta.config.tokenizer.kind], ["tokenizer.vocab_size", cfg.tokenizer.vocab_size, meta.config.tokenizer.vocab_size],
    ["model.context", cfg.model.context, meta.config.model.context], ["model.d_model", cfg.model.d_model, meta.config.model.d_model],
    ["model.n_layers", cfg.model.n_layers, meta.config.model.n_layers], ["model.n_heads", cfg.model.n_heads, meta.config.model.n_heads],
  ];
  for (const [key, mine, theirs] of want) {
    if (mine !== theirs) {
      throw new InputError(`${src}: ${key} = ${mine}, but the shipped base model (${from}/${BASE_META_FILE}) has ${theirs}; ` +
        `expected ${theirs} with pretrain.base: shipped, or pretrain.base: trained to train a base of this shape`);
    }
  }
  const dir = repoPath(from);
  const { model, tokenizer } = loadCheckpoint(dir);
  const csv = path.join(dir, "metrics.csv");
  const metrics = fs.existsSync(csv) ? MetricsLog.readCsv(csv, "pretrain") : undefined;
  return { model, tokenizer, summary: meta.summary, metrics, trained: false, checkpointDir: dir };
}

/**
 * Copies the base that cfg (config/base.yaml) trained into data/base/, in one atomic swap (lib/train/checkpoint.ts):
 * the checkpoint, its compute curve, its loss curve thinned to every 10th step and the evaluations, and base.json.
 */
export async function shipBase(cfg: Config, command: string, to = SHIPPED_BASE_DIR): Promise<ShippedBaseMeta> {
  const src = configSource(cfg) ?? "the config";
  if (cfg.pretrain.base !== "trained") throw new InputError(`${src}: pretrain.base is ${cfg.pretrain.base}; ship-base copies a base this config trained (pretrain.base: trained)`);
  const why = checkpointMismatch(cfg, "pretrain");
  if (why) throw new InputError(`${checkpointDir(cfg, "pretrain")}: no finished base for ${src} (${why}); train it with npm run pipeline -- --stage pretrain --config ${src}`);
  const r = loadStage<PretrainSummary>(cfg, "pretrain");
  const hash = stageConfigHash(cfg, STAGE_SECTIONS.pretrain);
  const meta: ShippedBaseMeta = {
    config_hash: hash,
    config: { seed: cfg.seed, tokenizer: cfg.tokenizer, model: cfg.model, pretrain: cfg.pretrain },
    data: dataHashes(),
    summary: r.summary,
    command,
  };
  const files: Record<string, string> = { [BASE_META_FILE]: JSON.stringify(meta, null, 2) + "\n" };
  const runs = runDir(cfg, "pretrain");
  const curve = path.join(runs, CURVE_FILE);
  if (fs.existsSync(curve)) files[CURVE_FILE] = fs.readFileSync(curve, "utf8");
  const metrics = path.join(runs, "metrics.csv");
  if (fs.existsSync(metrics)) {
    const [head, ...rows] = fs.readFileSync(metrics, "utf8").trim().split("\n");
    const vi = head.split(",").indexOf("val_loss");
    const kept = rows.filter((l) => { const c = l.split(","); return Number(c[0]) % 10 === 0 || (vi >= 0 && c[vi] !== ""); });
    files["metrics.csv"] = [head, ...kept].join("\n") + "\n";
  }
  try {
    await saveCheckpoint(repoPath(to), { model: r.model, tokenizer: r.tokenizer, config: { stage: "pretrain", hash }, extra: { summary: r.summary } }, {}, files);
  } finally {
    r.model.dispose();
  }
  return meta;
}
