// `npm run ablate -- --name <name> --set <key=value> [--set ...] [--config <file>]`: the course's PPO stage again with
// some ppo.* keys changed, on the same SFT and reward models (lib/studies/ablation.ts). Prints PPO's progress on stderr
// and,
// on stdout, one JSON line with the overrides and the run's summary (held-out gold, proxy, KL, length, ...).
// Exit codes: 0 done, 1 the run failed, 2 bad arguments or config.
import { runAblation } from "../lib";
import { runVariantCli } from "./variant-cli";

const HELP = `usage: npm run ablate -- --name <name> --set <key=value> [--set <key=value> ...] [--config <file>]
  --name    the ablation's name: outputs go to <runs>/ablations/<name>/ppo and <checkpoints>/ablations/<name>/ppo
  --set     a ppo.* key and its value as YAML, e.g. ppo.kl.coef=0.05 or ppo.reward.missing_eos_penalty=null
  --config  the base config (default: $RLHF_CONFIG, else config/course.yaml); its SFT and reward models are reused
  --help    this text
Prints one JSON line {name, overrides, ...summary} on stdout. Exit codes: 0 done, 1 the run failed, 2 bad arguments.`;

runVariantCli({ help: HELP, refused: /^ablation/, run: (cfg, name, overrides, log) => runAblation(cfg, name, overrides, { log }) });
