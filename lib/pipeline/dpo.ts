// DPO as a stage: the SFT model and the reward model's preference pairs from the pipeline, trainDpo, checkpoints and
// runs under a variant name.

import * as path from "node:path";
import { type Config, withOverrides } from "../core/config";

/** A DPO variant of cfg: dpo.* overrides only, outputs in <runs>/dpo/<name>/ and <checkpoints>/dpo/<name>/. */
export function dpoConfig(cfg: Config, name: string, overrides: string[]): Config {
  if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(name)) throw new Error(`dpo name "${name}": use letters, digits, '-', '_' or '.'`);
  const v = withOverrides(cfg, overrides);
  for (const s of Object.keys(cfg) as (keyof Config)[]) {
    if (s !== "dpo" && JSON.stringify(v[s]) !== JSON.stringify(cfg[s])) {
      throw new Error(`dpo ${name}: only dpo.* keys may change (the SFT model, the reward model, its pairs and PPO's evaluation are shared); ${s} changed`);
    }
  }
  return { ...v, paths: { checkpoints: path.join(cfg.paths.checkpoints, "dpo", name), runs: path.join(cfg.paths.runs, "dpo", name) } };
}
