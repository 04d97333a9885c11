// `npm run soak -- [--iterations N]`: a memory soak of the PPO loop. Runs N (default 1,000) PPO iterations of the
// smoke config (config/smoke.yaml) through trainPpo, the pipeline's PPO stage, with everything it does each iteration
// there (held-out evaluation, metrics CSV, a resumable checkpoint every checkpoint_every), on the smoke SFT and reward
// models (loaded from checkpoints/smoke, or trained there first), into runs/soak/ and checkpoints/soak/.
// It fails unless tf.memory().numTensors is the same at iteration 10 and at the last one (a tensor that is not
// disposed in the loop adds at least one per iteration) and the process's RSS grows by at most 50 MB from iteration
// 100 to the last (native memory, e.g. a backend buffer held outside the tensor count). One RSS reading swings with
// the room V8 and malloc keep after a collection, more so on a busy machine: a report takes the lowest of its last
// 10 iterations.
// stdout: a line every 100 iterations (iteration, numTensors, RSS), then one JSON line with the figures and the
// verdict; stderr: the backend, progress and the stage's log.
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import {
  type Config, ensureRewardModel, ensureSft, formatBackendReport, initBackend, loadConfig, progressLine, setProgress,
  trainPpo, withOverrides,
} from "../lib";

/** The iteration whose tensor count is the baseline: the optimiser's moments and every lazily built tensor exist by then. */
export const TENSORS_AT = 10;
/** The iteration whose RSS is the baseline: the allocator and the JIT have warmed up by then. */
export const RSS_FROM = 100;
/** Most RSS growth allowed from RSS_FROM to the last iteration, in MB (1 MB = 2^20 bytes). */
export const RSS_LIMIT_MB = 50;
/** The RSS of a report is the lowest of this many iterations up to it: a leak raises them all, a passing swing one. */
export const RSS_WINDOW = 10;

const USAGE = `usage: npm run soak -- [--iterations N]
  --iterations  PPO iterations to run (default 1000; more than ${RSS_FROM}, as the RSS is compared from iteration ${RSS_FROM})
  --help        this text
Runs PPO on config/smoke.yaml (SFT and reward model from checkpoints/smoke, trained first when missing), writing
runs/soak/ and checkpoints/soak/. Passes when tf.memory().numTensors is the same at iteration ${TENSORS_AT} and at the last,
and the process RSS grows by at most ${RSS_LIMIT_MB} MB from iteration ${RSS_FROM} to the last. The RSS of iteration I is the
lowest read after each of iterations I-${RSS_WINDOW - 1}..I, each after a full garbage collection.
stdout: "iteration I: T tensors, RSS R MB" every 100 iterations and at the last, then one JSON line with the figures
and the verdict.
exit codes: 0 no leak; 1 a leak found (the message names the figures) or the run failed; 2 bad arguments`;

export interface SoakSample {
  iteration: number;
  numTensors: number;
  /** the lowest RSS of the RSS_WINDOW iterations up to this one, in MB */
  rssMB: number;
}

/** Whether iteration k reports (every 100th, and the last of n). */
export function isReport(k: number, n: number): boolean {
  return k % 100 === 0 || k === n;
}

/** Whether iteration k's RSS is read: it is one of the RSS_WINDOW iterations up to the next report. */
export function inRssWindow(k: number, n: number): boolean {
  return Math.min(Math.ceil(k / 100) * 100, n) - k < RSS_WINDOW;
}

export interface SoakVerdict {
  iterations: number;
  tensors_at_10: number;
  tensors_at_end: number;
  rss_mb_at_100: number;
  rss_mb_at_end: number;
  rss_growth_mb: number;
  rss_limit_mb: number;
  /** each RSS figure is the lowest of this many iterations up to it */
  rss_window: number;
  verdict: "pass" | "leak";
  /** What failed, with its figures; empty on a pass. */
  reasons: string[];
}

/** The verdict from the samples taken at iteration TENSORS_AT, RSS_FROM and the last one (which must be the latest). */
export function soakVerdict(samples: SoakSample[]): SoakVerdict {
  const at = (i: number) => {
    const s = samples.find((x) => x.iteration === i);
    if (!s) throw new Error(`soakVerdict: no sample at iteration ${i}`);
    return s;
  };
  const last = samples.reduce((a, b) => (b.iteration > a.iteration ? b : a));
  const t10 = at(TENSORS_AT), r100 = at(RSS_FROM);
  const growth = last.rssMB - r100.rssMB;
  const reasons: string[] = [];
  if (last.numTensors !== t10.numTensors) {
    reasons.push(`numTensors ${t10.numTensors} at iteration ${TENSORS_AT}, ${last.numTensors} at iteration ${last.iteration} ` +
      `(${last.numTensors - t10.numTensors > 0 ? "+" : ""}${last.numTensors - t10.numTensors})`);
  }
  if (!(growth <= RSS_LIMIT_MB)) {
    reasons.push(`RSS ${r100.rssMB.toFixed(1)} MB at iteration ${RSS_FROM}, ${last.rssMB.toFixed(1)} MB at iteration ${last.iteration} ` +
      `(+${growth.toFixed(1)} MB, more than ${RSS_LIMIT_MB} MB)`);
  }
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    iterations: last.iteration,
    tensors_at_10: t10.numTensors,
    tensors_at_end: last.numTensors,
    rss_mb_at_100: r1(r100.rssMB),
    rss_mb_at_end: r1(last.rssMB),
    rss_growth_mb: r1(growth),
    rss_limit_mb: RSS_LIMIT_MB,
    rss_window: RSS_WINDOW,
    verdict: reasons.length ? "leak" : "pass",
    reasons,
  };
}

/** The soak's PPO config: smoke with ppo.iterations = n, writing under runs/soak and checkpoints/soak. */
export function soakConfig(cfg: Config, iterations: number): Config {
  return { ...withOverrides(cfg, [`ppo.iterations=${iterations}`]), paths: { checkpoints: "checkpoints/soak", runs: "runs/soak" } };
}

class UsageError extends Error {}

function readArgs(argv: string[]): { iterations: number } {
  let values: { iterations?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        iterations: { type: "string", default: "1000" },
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
  const v = values.iterations!;
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n <= RSS_FROM) throw new UsageError(`--iterations must be an integer greater than ${RSS_FROM}, got ${v}`);
  return { iterations: n };
}

function rssMB(): number {
  // A full collection first (npm run soak passes --expose-gc), so that garbage not yet collected is not read as a leak.
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / 2 ** 20;
}

async function main(): Promise<number> {
  const { iterations } = readArgs(process.argv.slice(2));
  const smoke = loadConfig("config/smoke.yaml");
  const cfg = soakConfig(smoke, iterations);
  setProgress(true);
  progressLine(formatBackendReport(await initBackend()));
  const log = (line: string) => {
    // the stage logs every held-out evaluation (every iteration on smoke): keep one in 100
    const m = /^ppo (\d+)\//.exec(line);
    if (!m || Number(m[1]) % 100 === 0) progressLine(line);
  };
  const sft = await ensureSft(smoke, { log });
  const samples: SoakSample[] = [];
  let low = Infinity; // the lowest RSS read since the last report
  try {
    const rm = await ensureRewardModel(smoke, { log, sft });
    try {
      const run = await trainPpo(cfg, { sft: sft.model, rm: rm.model, tok: sft.tokenizer, rmTokenizer: rm.tokenizer }, {
        log,
        onIteration: (k) => {
          if (inRssWindow(k, iterations)) low = Math.min(low, rssMB());
          if (k === TENSORS_AT) samples.push({ iteration: k, numTensors: tf.memory().numTensors, rssMB: rssMB() });
          if (!isReport(k, iterations)) return;
          const s = { iteration: k, numTensors: tf.memory().numTensors, rssMB: low };
          samples.push(s);
          low = Infinity;
          console.log(`iteration ${k}: ${s.numTensors} tensors, RSS ${s.rssMB.toFixed(1)} MB`);
        },
      });
      run.model.dispose();
    } finally {
      rm.model.dispose();
    }
  } finally {
    sft.model.dispose();
  }
  const v = soakVerdict(samples);
  console.log(JSON.stringify(v));
  if (v.verdict === "pass") return 0;
  progressLine(`soak: leak found: ${v.reasons.join("; ")}`);
  return 1;
}

if (require.main === module) {
  main().then((code) => process.exit(code), (e: unknown) => {
    if (e instanceof UsageError) {
      console.error(`soak: ${e.message}\n${USAGE}`);
      process.exit(2);
    }
    console.error(`soak: failed: ${e instanceof Error ? (e.stack ?? e.message) : e}`);
    process.exit(1);
  });
}
