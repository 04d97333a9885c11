// `npm run dpo -- --name <name> [--set <dpo.key=value> ...] [--config <file>]`: Direct Preference Optimization on the
// reward model's training pairs, from the course's SFT model, evaluated as PPO is (lib/dpo.ts). Prints progress on
// stderr and, on stdout, one JSON line with the overrides and the run's summary (held-out gold, proxy, KL, length, ...).
// Exit codes: 0 done, 1 the run failed, 2 bad arguments or config.
import { parseArgs } from "node:util";
import { initBackend, formatBackendReport } from "../lib/backend";
import { ConfigError, loadConfig } from "../lib/config";
import { runDpo } from "../lib/dpo";

const HELP = `usage: npm run dpo -- --name <name> [--set <key=value> ...] [--config <file>]
  --name    the run's name: outputs go to <runs>/dpo/<name>/dpo and <checkpoints>/dpo/<name>/dpo
  --set     a dpo.* key and its value as YAML, e.g. dpo.beta=0.3 or dpo.max_steps=null (config/course.yaml, section dpo)
  --config  the base config (default: $RLHF_CONFIG, else config/course.yaml); its SFT model and reward-model pairs are reused
  --help    this text
Prints one JSON line {name, overrides, ...summary} on stdout. Exit codes: 0 done, 1 the run failed, 2 bad arguments.`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({ options: { name: { type: "string" }, set: { type: "string", multiple: true }, config: { type: "string" }, help: { type: "boolean" } }, strict: true });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const v = args.values;
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (!v.name) {
    console.error(`--name is required\n\n${HELP}`);
    return 2;
  }
  let cfg;
  try {
    cfg = loadConfig(v.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      return 2;
    }
    throw e;
  }
  console.error(formatBackendReport(await initBackend()));
  const t0 = Date.now();
  const run = await runDpo(cfg, v.name, v.set ?? [], { log: (l) => console.error(l) }).catch((e) => {
    if (e instanceof ConfigError || /^dpo /.test((e as Error).message)) {
      console.error((e as Error).message);
      return undefined;
    }
    throw e;
  });
  if (!run) return 2;
  console.log(JSON.stringify({ name: v.name, overrides: v.set ?? [], ...run.summary, wall_seconds: (Date.now() - t0) / 1000 }));
  run.model.dispose();
  return 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
