// `npm run dpo -- --name <name> [--set <dpo.key=value> ...] [--config <file>]`: Direct Preference Optimization on the
// reward model's training pairs, from the course's SFT model, evaluated as PPO is (lib/beyond/dpo.ts). Prints progress
// on
// stderr and, on stdout, one JSON line with the overrides and the run's summary (held-out gold, proxy, KL, length,
// ...).
// Exit codes: 0 done, 1 the run failed, 2 bad arguments or config.
import { runDpo } from "../lib";
import { runVariantCli } from "./variant-cli";

const HELP = `usage: npm run dpo -- --name <name> [--set <key=value> ...] [--config <file>]
  --name    the run's name: outputs go to <runs>/dpo/<name>/dpo and <checkpoints>/dpo/<name>/dpo
  --set     a dpo.* key and its value as YAML, e.g. dpo.beta=0.3 or dpo.max_steps=null (config/course.yaml, section dpo)
  --config  the base config (default: $RLHF_CONFIG, else config/course.yaml); its SFT model and reward-model pairs are reused
  --help    this text
Prints one JSON line {name, overrides, ...summary} on stdout. Exit codes: 0 done, 1 the run failed, 2 bad arguments.`;

runVariantCli({ help: HELP, refused: /^dpo /, run: (cfg, name, overrides, log) => runDpo(cfg, name, overrides, { log }) });
