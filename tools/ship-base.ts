// `npm run ship-base [-- --config config/base.yaml]`: copies the base model that config trained (npm run pipeline --
// --stage pretrain --config config/base.yaml) into data/base/, with base.json (its config hash, config, data hashes,
// summary), its compute curve and its loss curve, in one atomic swap (lib/pipeline/base.ts shipBase). Commit data/base/
// afterwards: configs with pretrain.base: shipped start SFT from it. Exit codes: 0 done, 2 bad input (no finished base).
import * as path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, InputError, initBackend, loadConfig, repoRoot, shipBase } from "../lib";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: "string", default: "config/base.yaml" }, help: { type: "boolean", default: false } } });
  if (values.help) {
    console.log("usage: npm run ship-base [-- --config <file>]   (default config/base.yaml)");
    return;
  }
  await initBackend();
  const file = path.resolve(process.env.INIT_CWD ?? repoRoot(), values.config!);
  const cfg = loadConfig(file);
  const rel = path.relative(repoRoot(), file);
  const meta = await shipBase(cfg, `npm run pipeline -- --stage pretrain --config ${rel}`);
  const s = meta.summary;
  console.log(`shipped to data/base/: ${s.params} parameters, ${s.steps} steps, ${(s.tokens / 1e6).toFixed(1)} M tokens, ` +
    `val_loss ${s.val_loss.toFixed(3)}, ${Number(s.train_seconds ?? s.seconds).toFixed(0)} s of training; config hash ${meta.config_hash}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(e instanceof ConfigError || e instanceof InputError ? 2 : 1);
});
