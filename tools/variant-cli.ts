// The shared body of the CLIs that run one named variant of a stage on the course's models (`npm run ablate`,
// `npm run dpo`): parse --name/--set/--config, load the config, run, print one JSON line {name, overrides, ...summary}.
// Exit codes: 0 done, 1 the run failed, 2 bad arguments or config (a refused override is a bad argument).
import { parseArgs } from "node:util";
import { initBackend, formatBackendReport, type Config, ConfigError, loadConfig } from "../lib";

export interface VariantCli {
  help: string;
  /** runs the variant; its errors whose message matches `refused` are bad arguments (exit 2) */
  run(cfg: Config, name: string, overrides: string[], log: (l: string) => void): Promise<{ summary: object; model: { dispose(): void } }>;
  refused: RegExp;
}

export async function variantMain(cli: VariantCli): Promise<number> {
  let args;
  try {
    args = parseArgs({ options: { name: { type: "string" }, set: { type: "string", multiple: true }, config: { type: "string" }, help: { type: "boolean" } }, strict: true });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${cli.help}`);
    return 2;
  }
  const v = args.values;
  if (v.help) {
    console.log(cli.help);
    return 0;
  }
  if (!v.name) {
    console.error(`--name is required\n\n${cli.help}`);
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
  const run = await cli.run(cfg, v.name, v.set ?? [], (l) => console.error(l)).catch((e) => {
    if (e instanceof ConfigError || cli.refused.test((e as Error).message)) {
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

/** Runs a variant CLI as the process's main and exits with its code. */
export function runVariantCli(cli: VariantCli): void {
  variantMain(cli).then((code) => process.exit(code), (e) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  });
}
