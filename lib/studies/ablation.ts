// Ablations: the course's PPO stage run again with a few config keys changed, on the SAME SFT and reward models, so
// a difference in the results comes from the keys alone. `npm run ablate -- --name <n> --set key=value ...` runs one
// and writes runs/ablations/<n>/ppo/summary.json (the pipeline's PPO summary); ablationSummaries reads them all.
import * as fs from "node:fs";
import * as path from "node:path";
import { type Config, repoPath, withOverrides } from "../core/config";
import { readSummary } from "../core/metrics";
import { ensureRewardModel } from "../pipeline/stages";
import { type PpoRun, type PpoSummary, type RunPpoOptions, trainPpo } from "../pipeline/ppo";
import { ensureSft } from "../pipeline/stages";
import { consoleLog } from "../core/progress";

/** Where an ablation's outputs go: runs/ablations/<name>/ and checkpoints/ablations/<name>/ under the config's paths. */
export function ablationConfig(cfg: Config, name: string, overrides: string[]): Config {
  if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(name)) throw new Error(`ablation name "${name}": use letters, digits, '-', '_' or '.'`);
  const v = withOverrides(cfg, overrides);
  for (const s of ["tokenizer", "model", "pretrain", "sft", "rm"] as const) {
    if (JSON.stringify(v[s]) !== JSON.stringify(cfg[s])) throw new Error(`ablation ${name}: only ppo.* keys may change (the SFT and reward models are shared); ${s} changed`);
  }
  return { ...v, paths: { checkpoints: path.join(cfg.paths.checkpoints, "ablations", name), runs: path.join(cfg.paths.runs, "ablations", name) } };
}

/** Trains PPO with the overrides on cfg's SFT and reward models (loaded, or trained first into cfg's paths). */
export async function runAblation(cfg: Config, name: string, overrides: string[], opts: RunPpoOptions = {}): Promise<PpoRun> {
  const variant = ablationConfig(cfg, name, overrides);
  const log = opts.log ?? consoleLog;
  const sft = await ensureSft(cfg, { log });
  const rm = await ensureRewardModel(cfg, { log, sft }).catch((e) => {
    sft.model.dispose();
    throw e;
  });
  try {
    fs.mkdirSync(repoPath(variant.paths.runs), { recursive: true });
    fs.writeFileSync(path.join(repoPath(variant.paths.runs), "overrides.json"), JSON.stringify({ name, overrides, ppo: variant.ppo }, null, 2) + "\n");
    return await trainPpo(variant, { sft: sft.model, rm: rm.model, tok: sft.tokenizer }, opts);
  } finally {
    sft.model.dispose();
    rm.model.dispose();
  }
}

export interface AblationResult {
  name: string;
  overrides: string[];
  /** The ppo section the run used (absent in runs saved before it was recorded). */
  ppo?: Config["ppo"];
  summary: PpoSummary;
}

/** The ppo.* keys whose values differ between two ppo sections, as "key=value" of b: what a run changed against a base. */
export function ppoDifferences(a: Config["ppo"], b: Config["ppo"]): string[] {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, key: string) => {
    if (x !== null && y !== null && typeof x === "object" && typeof y === "object") {
      for (const k of Object.keys(y as object)) walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${key}.${k}`);
    } else if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${key}=${JSON.stringify(y)}`);
  };
  walk(a, b, "ppo");
  return out;
}

/** Every finished ablation under cfg's runs/ablations/ (those with a summary), by name. */
export function ablationSummaries(cfg: Config): AblationResult[] {
  const root = path.join(repoPath(cfg.paths.runs), "ablations");
  if (!fs.existsSync(root)) return [];
  const out: AblationResult[] = [];
  for (const name of fs.readdirSync(root).sort()) {
    const dir = path.join(root, name);
    const meta = path.join(dir, "overrides.json");
    const summary = readSummary(path.join(dir, "ppo")) as unknown as PpoSummary | undefined;
    if (!summary || !fs.existsSync(meta)) continue;
    const m = JSON.parse(fs.readFileSync(meta, "utf8")) as { overrides: string[]; ppo?: Config["ppo"] };
    out.push({ name, overrides: m.overrides, ppo: m.ppo, summary });
  }
  return out;
}
