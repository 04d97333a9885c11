// `npm run pipeline -- --stage <pretrain|sft|rm|ppo|study|compare|rlvr|all> [--config <file>] [--resume]`: runs the
// course's stages headless, through the same lib functions the notebooks call. Each stage loads the checkpoints of
// the stages before it (or trains them: lib/pipeline/stages.ts alone knows that order) and writes
// runs/<stage>/metrics.csv and summary.json; this prints each summary (stdout) and the wall time. Progress and logs
// go to stderr. --resume continues interrupted stages (lib/train/resume.ts).
//
// The whole config is validated before the backend starts or anything trains. This file is the one list of every
// stage the CLI runs, the studies included; each is imported statically, so a renamed module breaks the type check.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs as utilParseArgs } from "node:util";
import {
  type Config, ConfigError, InputError, StageError, defaultConfigPath, describeConfig, ensurePretrained,
  ensureRewardModel, ensureSft, formatBackendReport, initBackend, loadConfig, withOverrides, progressLine, readSummary, repoRoot, runCompare,
  runDir, runPpo, runRlvr, runStudy, setProgress, setResume,
} from "../lib";

type StageName = "pretrain" | "sft" | "rm" | "ppo" | "study" | "compare" | "rlvr";
interface StageDef {
  name: StageName;
  /** what the stage runs, as printed */
  fn: string;
  run: (cfg: Config, cb: { log: (line: string) => void }) => Promise<unknown>;
  /** part of --stage all (the course's own stages); the studies run only when named */
  inAll: boolean;
  /** where its summary.json is written */
  runs?: (cfg: Config) => string;
}

/** In pipeline order. */
const STAGES: StageDef[] = [
  { name: "pretrain", inAll: true, fn: "ensurePretrained", run: ensurePretrained },
  { name: "sft", inAll: true, fn: "ensureSft", run: ensureSft },
  { name: "rm", inAll: true, fn: "ensureRewardModel", run: ensureRewardModel },
  { name: "ppo", inAll: true, fn: "runPpo", run: runPpo },
  { name: "study", inAll: false, fn: "runStudy", run: runStudy }, // the over-optimisation study (notebook 09); keeps finished runs
  { name: "compare", inAll: false, fn: "runCompare", run: runCompare }, // PPO, GRPO, RLOO, REINFORCE++, DPO (notebook 10)
  { name: "rlvr", inAll: false, fn: "runRlvr", run: runRlvr }, // RL with verifiable rewards on addition, its own model (notebook 11)
];

const USAGE = `usage: npm run pipeline -- [--stage <${STAGES.map((s) => s.name).join("|")}|all>] [--config <file>] [--set <key=value> ...] [--resume]
  --stage   the stage to run; earlier stages are loaded from their checkpoints or trained first. Default: all
            (pretrain, sft, rm, ppo).
            study: the over-optimisation study of notebook 09 (best-of-n, a PPO KL sweep, three reward models); it
            keeps each finished PPO run, so running it again trains only what is missing.
            compare: PPO, GRPO, RLOO, REINFORCE++ and DPO on the study's prompts (notebook 10); keeps finished runs
            rlvr: RL with verifiable rewards (notebook 11): its own small GPT, SFT on worked additions, then GRPO,
            RLOO and REINFORCE against an exact checker; keeps finished runs
  --config  a YAML config (default: $RLHF_CONFIG, else config/course.yaml); config/smoke.yaml runs in seconds
  --set     change one config key for this run, as YAML (repeatable), e.g. --set model.d_model=192
            --set paths.runs=runs/d192: what a variant of a config is, without a copy of the file
  --resume  continue each stage that trains from its resumable checkpoint (<checkpoints>/resume/<stage>/, saved
            every checkpoint_every steps) instead of step 0; without one it starts from step 0 and says so
  --help    this text
Progress goes to stderr, results (the summaries) to stdout.
exit codes: 0 done; 1 a stage failed (the message names the stage, the step and the last good checkpoint);
            2 bad arguments, an invalid config, or bad input (a data file, a damaged checkpoint, too little data
              for a batch): the message names the file and the line or key; the stage wrote nothing`;

class UsageError extends Error {}

function parseArgs(argv: string[]): { stage: string; config: string; resume: boolean; set: string[] } {
  let values: { stage?: string; config?: string; resume?: boolean; help?: boolean; set?: string[] };
  try {
    ({ values } = utilParseArgs({
      args: argv,
      options: {
        stage: { type: "string", default: "all" },
        config: { type: "string", default: "" },
        resume: { type: "boolean", default: false },
        set: { type: "string", multiple: true, default: [] },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const names = [...STAGES.map((s) => s.name), "all"];
  if (!names.includes(values.stage!)) throw new UsageError(`--stage "${values.stage}" is not a stage; choose one of ${names.join(", ")}`);
  return { stage: values.stage!, config: values.config!, resume: values.resume!, set: values.set! };
}

/**
 * A relative --config is looked up where the user typed the command (npm sets INIT_CWD to it, and runs scripts
 * from the repository root), then in the repository root.
 */
function resolveConfigPath(arg: string): string {
  if (arg === "") return path.resolve(repoRoot(), defaultConfigPath());
  if (path.isAbsolute(arg)) return arg;
  const candidates = [process.env.INIT_CWD, process.cwd(), repoRoot()].filter((d): d is string => !!d).map((d) => path.resolve(d, arg));
  return candidates.find((p) => fs.existsSync(p)) ?? candidates[0];
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const configFile = resolveConfigPath(args.config);
  if (!fs.existsSync(configFile)) throw new UsageError(`config file not found: ${configFile}`);

  // 1. The whole config, before anything else.
  const cfg = args.set.length ? withOverrides(loadConfig(configFile), args.set) : loadConfig(configFile);
  process.env.RLHF_CONFIG = configFile; // anything that loads the default config sees the same file

  // 2. The stages: the one asked for (it trains what it needs before it), or all in order.
  const wanted = args.stage === "all" ? STAGES.filter((s) => s.inAll) : STAGES.filter((s) => s.name === args.stage);

  setResume(args.resume);
  setProgress(true);
  const report = await initBackend();
  progressLine(formatBackendReport(report));
  progressLine(describeConfig(cfg));

  const t0 = performance.now();
  const done: { stage: string; time: string; summary: string }[] = [];
  for (const s of wanted) {
    progressLine(`\n=== ${s.name} (${s.fn})`);
    const t = performance.now();
    const result = await s.run(cfg, { log: progressLine });
    // Stage results hold their model (tensors); free it before the next stage loads its own.
    const model = (result as { model?: { dispose?: () => void } } | undefined)?.model;
    if (typeof model?.dispose === "function") model.dispose();
    const wall = seconds(performance.now() - t);
    const dir = runDir(cfg, s.name);
    const summary = readSummary(dir);
    const shown = path.relative(repoRoot(), path.join(dir, "summary.json"));
    progressLine(`--- ${s.name} done in ${wall}`);
    console.log(summary ? `${shown}:\n${JSON.stringify(summary, null, 2)}` : `(no ${shown} written)`);
    done.push({ stage: s.name, time: wall, summary: summary ? shown : "none" });
  }

  console.log(`\n=== pipeline done in ${seconds(performance.now() - t0)} (${path.relative(repoRoot(), configFile)})`);
  for (const d of done) console.log(`  ${d.stage.padEnd(9)} ${d.time.padStart(9)}  ${d.summary}`);
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`pipeline: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  if (e instanceof ConfigError) {
    console.error(`pipeline: invalid config, nothing was run.\n${e.message}`);
    process.exit(2);
  }
  if (e instanceof InputError) {
    console.error(`pipeline: bad input, the stage did not start (nothing of it was written).\n${e.message}`);
    process.exit(2);
  }
  if (e instanceof StageError) {
    console.error(`pipeline: ${e.message}`);
    process.exit(1);
  }
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
