// `npm run bench [-- --repeats N --shapes course,large --no-torch --json-only --threads N]`
// Times the course GPT in the active TensorFlow.js backend and the same model in PyTorch CPU (tools/bench-torch.py),
// on the same shapes and thread count, in one run:
//   train    forward + backward + global-norm clip + AdamW on [train_batch, context] (lib/train/optim.ts trainStep)
//   score    teacher-forced log-probs of a rollout [score_batch, prompt + new_tokens], no gradient (scoreResponses)
//   sample   KV-cache sampling of exactly new_tokens tokens per row (no EOS stop) at each sampling batch
// Prints a table (median ms and tokens/s of both sides, tfjs/torch ratio) and ONE closing JSON line.
// The torch side runs in its own venv (.cache/bench-venv), created on first use; it is never part of `npm test`.
import * as cp from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import {
  initBackend, GPT, ModelConfig, AdamW, trainStep, crossEntropy, drawTokens, scoreResponses, Rng, fastPaths,
} from "../lib";

export interface BenchShape {
  vocab: number;
  context: number;
  d_model: number;
  layers: number;
  heads: number;
  train_batch: number; // rows of a train step (each `context` tokens)
  score_batch: number; // rows of a scored rollout
  prompt: number; // prompt tokens of a scored / sampled row
  new_tokens: number; // response tokens of a scored / sampled row
  sample_batches: number[];
}

// course: config/course.yaml (PPO: 64 prompts, 24 new tokens); large: a wider, deeper model on the same data shapes.
export const SHAPES: Record<string, BenchShape> = {
  course: { vocab: 2048, context: 64, d_model: 128, layers: 4, heads: 4, train_batch: 32, score_batch: 64, prompt: 8, new_tokens: 24, sample_batches: [64, 512] },
  large: { vocab: 2048, context: 64, d_model: 256, layers: 6, heads: 8, train_batch: 32, score_batch: 64, prompt: 8, new_tokens: 24, sample_batches: [64, 512] },
  tiny: { vocab: 64, context: 16, d_model: 16, layers: 1, heads: 2, train_batch: 4, score_batch: 4, prompt: 4, new_tokens: 4, sample_batches: [2, 4] },
};

/** Parameters of the course GPT: embeddings V D + C D, per layer 12 D^2 + 13 D (qkv, out, MLP, 2 LayerNorms), ln_f 2 D. */
export function paramCountFormula(s: Pick<BenchShape, "vocab" | "context" | "d_model" | "layers">): number {
  const D = s.d_model;
  return s.vocab * D + s.context * D + s.layers * (12 * D * D + 13 * D) + 2 * D;
}

export function modelConfig(s: BenchShape): ModelConfig {
  return { vocab_size: s.vocab, context: s.context, d_model: s.d_model, n_layers: s.layers, n_heads: s.heads, dropout: 0 };
}

interface Timings {
  train_ms: number[];
  score_ms: number[];
  sample_ms: Record<string, number[]>;
}

/** Wall-clock ms of each repeat, and in `cpu` the process CPU ms (all threads): steadier on a shared, loaded machine. */
export interface SideResult extends Timings {
  params: number;
  cpu: Timings;
}

/** Wall-clock ms of each repeat; pushes each repeat's process CPU ms (user + system, all threads) onto cpu. */
function timed(fn: () => void, warmup: number, repeats: number, cpu: number[]): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now(), c0 = process.cpuUsage();
    fn();
    out.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return out;
}

/** Both results' timings, concatenated (a is undefined for the first round). */
export function mergeSides(a: SideResult | undefined, b: SideResult): SideResult {
  if (!a) return b;
  const cat = (x: Timings, y: Timings): Timings => ({
    train_ms: [...x.train_ms, ...y.train_ms], score_ms: [...x.score_ms, ...y.score_ms],
    sample_ms: Object.fromEntries(Object.keys(y.sample_ms).map((k) => [k, [...(x.sample_ms[k] ?? []), ...y.sample_ms[k]]])),
  });
  return { params: b.params, ...cat(a, b), cpu: cat(a.cpu, b.cpu) };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function randInts(rng: Rng, n: number, hi: number): Int32Array {
  return Int32Array.from({ length: n }, () => rng.int(hi));
}

/** Fixed-length KV-cache sampling: prefill, then new_tokens - 1 decode steps, each row drawn natively (drawTokens). */
function sampleFixed(model: GPT, prompt: tf.Tensor2D, promptMask: tf.Tensor2D, n: number, allowed: tf.Tensor1D, rng: Rng): Int32Array {
  const B = prompt.shape[0];
  const out = new Int32Array(B * n);
  let { logits, cache } = model.prefill(prompt, promptMask);
  for (let t = 0; t < n; t++) {
    const u = Float32Array.from({ length: B }, () => Math.max(rng.next(), 2 ** -32));
    const { ids } = drawTokens(logits, 1, allowed, u);
    logits.dispose();
    for (let b = 0; b < B; b++) out[b * n + t] = ids[b];
    if (t === n - 1) break;
    const next = tf.tensor1d(ids, "int32");
    ({ logits, cache } = model.decodeStep(next, cache)); // consumes the old cache
    next.dispose();
  }
  tf.dispose([cache.keys, cache.values, cache.mask, cache.positions].flat());
  return out;
}

/** The tfjs half of the bench on one shape (the active backend; call initBackend first). */
export function benchTfjs(s: BenchShape, o: { warmup: number; repeats: number }): SideResult {
  const rng = new Rng(0);
  const model = new GPT(modelConfig(s), { seed: 0 });
  const vars = model.trainableVariables();
  const opt = new AdamW(vars, { weightDecay: 0.1 });
  const V = s.vocab, T = s.context;
  const x = tf.tensor2d(randInts(rng, s.train_batch * T, V), [s.train_batch, T], "int32");
  const y = tf.tensor2d(randInts(rng, s.train_batch * T, V), [s.train_batch, T], "int32");
  // a tiny lr: many repeats must not push the random model into a regime with different kernels (NaN, denormals)
  const cpu: Timings = { train_ms: [], score_ms: [], sample_ms: {} };
  const train_ms = timed(() => { trainStep(vars, () => crossEntropy(model.forward(x, { training: true }).logits, y), opt, { lr: 1e-4, gradClip: 1 }); }, o.warmup, o.repeats, cpu.train_ms);

  const Bs = s.score_batch, P = s.prompt, N = s.new_tokens;
  const batch = {
    queries: tf.tensor2d(randInts(rng, Bs * P, V), [Bs, P], "int32"),
    queryMask: tf.ones([Bs, P]) as tf.Tensor2D,
    responses: tf.tensor2d(randInts(rng, Bs * N, V), [Bs, N], "int32"),
    mask: tf.ones([Bs, N]) as tf.Tensor2D,
  };
  const score_ms = timed(() => {
    tf.tidy(() => { tf.sum(scoreResponses(model, batch, { temperature: 1 }).logprobs).dataSync(); });
  }, o.warmup, o.repeats, cpu.score_ms);

  const allowed = tf.ones([V]) as tf.Tensor1D;
  const sample_ms: Record<string, number[]> = {};
  for (const Bg of s.sample_batches) {
    const prompt = tf.tensor2d(randInts(rng, Bg * P, V), [Bg, P], "int32");
    const pm = tf.ones([Bg, P]) as tf.Tensor2D;
    cpu.sample_ms[String(Bg)] = [];
    sample_ms[String(Bg)] = timed(() => { sampleFixed(model, prompt, pm, N, allowed, rng); }, Math.max(1, Math.floor(o.warmup / 2)), o.repeats, cpu.sample_ms[String(Bg)]);
    tf.dispose([prompt, pm]);
  }
  const params = model.paramCount();
  tf.dispose([x, y, allowed, ...Object.values(batch)]);
  opt.dispose();
  model.dispose();
  return { params, train_ms, score_ms, sample_ms, cpu };
}

// ------------------------------------------------------------------------------------------------ the torch side

const ROOT = path.resolve(__dirname, "..");
export const TORCH_VENV = path.join(ROOT, ".cache", "bench-venv");
export const TORCH_SCRIPT = path.join(ROOT, "tools", "bench-torch.py");
export const torchPython = (): string => path.join(TORCH_VENV, "bin", "python");

/** The bench venv's python when torch imports there (installing it on first use unless install is false), or why not. */
export function ensureTorch(install: boolean, log: (s: string) => void): { python?: string; why?: string } {
  const py = torchPython();
  const works = () => cp.spawnSync(py, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
  if (fs.existsSync(py) && works()) return { python: py };
  if (!install) return { why: `no torch in ${path.relative(ROOT, TORCH_VENV)}` };
  const sys = ["python3", "python"].find((p) => cp.spawnSync(p, ["--version"], { stdio: "ignore" }).status === 0);
  if (!sys) return { why: "no python3 on PATH to create the bench venv" };
  log(`[bench] installing PyTorch (CPU) into ${path.relative(ROOT, TORCH_VENV)} for the comparison (first run only)...`);
  if (!fs.existsSync(py)) {
    const r = cp.spawnSync(sys, ["-m", "venv", TORCH_VENV], { stdio: "inherit" });
    if (r.status !== 0) return { why: `python -m venv ${TORCH_VENV} failed` };
  }
  // CPU builds only (--only-binary and the +cpu local version first): a plain `torch` could pull a multi-GB CUDA build.
  const pipArgs = ["-m", "pip", "install", "--only-binary=:all:"];
  for (const spec of ["torch==2.13.0+cpu", "torch==2.13.0"]) {
    const r = cp.spawnSync(py, [...pipArgs, spec, ...(spec.endsWith("+cpu") ? [] : ["--index-url", "https://download.pytorch.org/whl/cpu"])], { stdio: "inherit" });
    if (r.status === 0 && works()) return { python: py };
  }
  return { why: "pip could not install a CPU build of torch 2.13.0 (offline, or no wheel for this platform)" };
}

/** Runs tools/bench-torch.py on the same shapes; its JSON, or why it failed. */
function benchTorch(python: string, shapes: Record<string, BenchShape>, threads: number, o: { warmup: number; repeats: number; ompWait: string }):
  { result?: { torch: string; threads: number; shapes: Record<string, SideResult> }; why?: string } {
  const spec = path.join(os.tmpdir(), `bench-spec-${process.pid}.json`);
  fs.writeFileSync(spec, JSON.stringify({ threads, warmup: o.warmup, repeats: o.repeats, shapes }));
  const env = { ...process.env, OMP_WAIT_POLICY: o.ompWait.toUpperCase(), PYTHONWARNINGS: "ignore" };
  const r = cp.spawnSync(python, [TORCH_SCRIPT, "--spec", spec], { encoding: "utf8", maxBuffer: 1 << 24, stdio: ["ignore", "pipe", "inherit"], env });
  fs.rmSync(spec, { force: true });
  if (r.status !== 0) return { why: `tools/bench-torch.py exited with ${r.status}` };
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return { result: JSON.parse(line) };
  } catch {
    return { why: `tools/bench-torch.py printed no JSON: ${line.slice(0, 200)}` };
  }
}

// ------------------------------------------------------------------------------------------------ report

export interface BenchSummary {
  backend: string;
  threads: number;
  torch: string | null;
  torch_missing: string | null;
  repeats: number;
  load_avg_1m: number;
  /** OMP_WAIT_POLICY of the torch side; the tfjs fast paths in use (lib/core/native.ts). */
  torch_omp_wait?: string | null;
  fast_paths?: string[];
  /** With --baseline: the same ratios and tfjs medians with every fast path off. */
  without_fast_paths?: Pick<BenchSummary, "train_step_ratio_vs_torch" | "rollout_ratio_vs_torch" | "scoring_ratio_vs_torch" | "cpu_ratios_vs_torch"> &
    { tfjs: Record<string, Medians> };
  /** The first shape's wall-clock ratios (tfjs median / torch median; > 1 = tfjs slower); null without torch. */
  train_step_ratio_vs_torch: number | null;
  rollout_ratio_vs_torch: Record<string, number> | null;
  scoring_ratio_vs_torch: number | null;
  /** The same ratios on process CPU time (steadier than wall time when other jobs share the cores). */
  cpu_ratios_vs_torch: Ratios | null;
  /** Medians in ms per shape and side (wall clock, and process CPU time under cpu). */
  shapes: Record<string, { params: number; tfjs: Medians; torch: Medians | null; ratio: Ratios | null; cpu_ratio: Ratios | null }>;
}

interface Medians { train_ms: number; score_ms: number; sample_ms: Record<string, number>; cpu: Omit<Medians, "cpu"> }
interface Ratios { train: number; score: number; sample: Record<string, number> }

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const r1 = (x: number) => Math.round(x * 10) / 10;

function medianOf(t: Timings): Omit<Medians, "cpu"> {
  return {
    train_ms: r1(median(t.train_ms)),
    score_ms: r1(median(t.score_ms)),
    sample_ms: Object.fromEntries(Object.entries(t.sample_ms).map(([k, v]) => [k, r1(median(v))])),
  };
}

function ratios(a: Omit<Medians, "cpu">, b: Omit<Medians, "cpu">): Ratios {
  return {
    train: r3(a.train_ms / b.train_ms),
    score: r3(a.score_ms / b.score_ms),
    sample: Object.fromEntries(Object.keys(a.sample_ms).map((k) => [k, r3(a.sample_ms[k] / b.sample_ms[k])])),
  };
}

export function summarize(backend: string, threads: number, repeats: number, tfjs: Record<string, SideResult>,
  torch: { torch: string; shapes: Record<string, SideResult> } | undefined, torchMissing: string | undefined): BenchSummary {
  const shapes: BenchSummary["shapes"] = {};
  for (const [name, t] of Object.entries(tfjs)) {
    const a: Medians = { ...medianOf(t), cpu: medianOf(t.cpu) };
    const tr = torch?.shapes[name];
    const b: Medians | null = tr ? { ...medianOf(tr), cpu: medianOf(tr.cpu) } : null;
    shapes[name] = { params: t.params, tfjs: a, torch: b, ratio: b ? ratios(a, b) : null, cpu_ratio: b ? ratios(a.cpu, b.cpu) : null };
  }
  const first = Object.values(shapes)[0];
  return {
    backend, threads, torch: torch?.torch ?? null, torch_missing: torchMissing ?? null, repeats, load_avg_1m: r1(os.loadavg()[0]),
    train_step_ratio_vs_torch: first?.ratio?.train ?? null,
    rollout_ratio_vs_torch: first?.ratio?.sample ?? null,
    scoring_ratio_vs_torch: first?.ratio?.score ?? null,
    cpu_ratios_vs_torch: first?.cpu_ratio ?? null,
    shapes,
  };
}

export function formatTable(sum: BenchSummary, specs: Record<string, BenchShape>): string {
  const rows: string[][] = [["shape", "task", "tfjs ms", "torch ms", "tfjs tok/s", "torch tok/s", "tfjs/torch", "cpu ms tfjs", "cpu ms torch", "cpu ratio"]];
  const f = (x: number | undefined, d = 1) => (x === undefined ? "-" : x.toFixed(d));
  for (const [name, sh] of Object.entries(sum.shapes)) {
    const s = specs[name];
    const add = (task: string, tokens: number, pick: (m: Omit<Medians, "cpu">) => number, pickR: (r: Ratios) => number) => {
      const a = pick(sh.tfjs), b = sh.torch ? pick(sh.torch) : undefined;
      const tps = (ms: number | undefined) => (ms === undefined ? "-" : Math.round((tokens / ms) * 1000).toLocaleString("en-US"));
      rows.push([`${name} (${(sh.params / 1e6).toFixed(2)}M)`, task, f(a), f(b), tps(a), tps(b),
        sh.ratio ? `${f(pickR(sh.ratio), 2)}x` : "-", f(pick(sh.tfjs.cpu)), sh.torch ? f(pick(sh.torch.cpu)) : "-",
        sh.cpu_ratio ? `${f(pickR(sh.cpu_ratio), 2)}x` : "-"]);
    };
    add(`train B${s.train_batch}xT${s.context}`, s.train_batch * s.context, (m) => m.train_ms, (r) => r.train);
    add(`score B${s.score_batch}xT${s.prompt + s.new_tokens}`, s.score_batch * (s.prompt + s.new_tokens), (m) => m.score_ms, (r) => r.score);
    for (const k of Object.keys(sh.tfjs.sample_ms)) {
      add(`sample B${k} x${s.new_tokens} new`, Number(k) * s.new_tokens, (m) => m.sample_ms[k], (r) => r.sample[k]);
    }
  }
  const w = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  return rows.map((r) => r.map((c, j) => (j < 2 ? c.padEnd(w[j]) : c.padStart(w[j]))).join("  ")).join("\n");
}

// ------------------------------------------------------------------------------------------------ CLI

const USAGE = `usage: npm run bench -- [--repeats N] [--rounds N] [--baseline] [--warmup N] [--shapes course,large] [--threads N] [--omp-wait passive|active] [--no-torch] [--no-install] [--json-only]
  --repeats    timed repeats of each task per side and round; the table shows medians over all rounds (default 3)
  --rounds     rounds alternating the tfjs and torch sides, so a change in load hits both (default 2)
  --baseline   also time the tfjs side with every fast path off (lib/core/native.ts), in the same rounds
  --warmup     untimed runs first (default 2; sampling uses half)
  --shapes     comma-separated from: ${Object.keys(SHAPES).join(", ")} (default course,large)
  --threads    PyTorch threads (default: the CPU count, which is what libtensorflow's CPU backend uses)
  --omp-wait   PyTorch's OMP_WAIT_POLICY (default passive: with other jobs on the cores, active spinning made a torch
               train step 8x slower in wall time and 7x in CPU time; try active on an idle machine)
  --no-torch   time the tfjs side only
  --no-install do not create .cache/bench-venv (skip torch when it is not there yet)
  --json-only  print only the closing JSON line`;

async function main(): Promise<void> {
  let a;
  try {
    a = parseArgs({
      options: {
        repeats: { type: "string", default: "3" }, warmup: { type: "string", default: "2" }, shapes: { type: "string", default: "course,large" },
        threads: { type: "string" }, "omp-wait": { type: "string", default: "passive" }, "no-torch": { type: "boolean", default: false }, "no-install": { type: "boolean", default: false },
        rounds: { type: "string", default: "2" }, baseline: { type: "boolean", default: false },
        "json-only": { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (a.help) { console.log(USAGE); return; }
  const int = (flag: string, v: string, min: number): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) { console.error(`bench: --${flag} must be an integer >= ${min}, got ${v}\n${USAGE}`); process.exit(2); }
    return x;
  };
  const repeats = int("repeats", a.repeats, 1), warmup = int("warmup", a.warmup, 0), rounds = int("rounds", a.rounds, 1);
  const threads = a.threads === undefined ? (os.availableParallelism?.() ?? os.cpus().length) : int("threads", a.threads, 1);
  const ompWait = a["omp-wait"].toLowerCase();
  if (ompWait !== "passive" && ompWait !== "active") { console.error(`bench: --omp-wait must be passive or active, got ${a["omp-wait"]}\n${USAGE}`); process.exit(2); }
  const names = a.shapes.split(",").map((x) => x.trim()).filter(Boolean);
  for (const n of names) if (!SHAPES[n]) { console.error(`bench: unknown shape "${n}"\n${USAGE}`); process.exit(2); }
  const specs = Object.fromEntries(names.map((n) => [n, SHAPES[n]]));
  const log = a["json-only"] ? (_: string) => {} : (s: string) => console.log(s);

  const report = await initBackend();
  const mainPaths = fastPaths();
  log(`[bench] backend ${report.active}${report.libtensorflow ? ` (libtensorflow ${report.libtensorflow})` : ""}, fast paths [${mainPaths.join(", ")}], ${threads} threads, ` +
    `${rounds} rounds x ${repeats} repeats (median), load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  let python: string | undefined;
  let why: string | undefined;
  if (a["no-torch"]) why = "--no-torch";
  else {
    const t = ensureTorch(!a["no-install"], (s) => console.error(s));
    python = t.python;
    why = t.why;
  }
  // Rounds alternate the sides (and the baseline without fast paths), so a change in the machine's load hits all.
  const tfjs: Record<string, SideResult> = {}, base: Record<string, SideResult> = {};
  let torch: { torch: string; shapes: Record<string, SideResult> } | undefined;
  for (let r = 0; r < rounds; r++) {
    for (const [label, into, paths] of [["tfjs", tfjs, mainPaths], ["tfjs without fast paths", base, []]] as const) {
      if (into === base && !a.baseline) continue;
      fastPaths(paths);
      for (const n of names) {
        into[n] = mergeSides(into[n], benchTfjs(specs[n], { warmup, repeats }));
        log(`[bench] round ${r + 1}: ${label} ${n} done`);
      }
    }
    fastPaths(mainPaths);
    if (python) {
      const t = benchTorch(python, specs, threads, { warmup, repeats, ompWait });
      if (!t.result) { why = t.why; python = undefined; torch = undefined; continue; }
      torch = { torch: t.result.torch, shapes: Object.fromEntries(names.map((n) => [n, mergeSides(torch?.shapes[n], t.result!.shapes[n])])) };
    }
  }
  if (!torch && !a["no-torch"]) console.error(`[bench] the PyTorch side is missing: ${why}`);
  const sum = summarize(report.active, threads, repeats * rounds, tfjs, torch, why);
  sum.torch_omp_wait = torch ? ompWait : null;
  sum.fast_paths = mainPaths;
  if (a.baseline) {
    const b = summarize(report.active, threads, repeats * rounds, base, torch, why);
    sum.without_fast_paths = { train_step_ratio_vs_torch: b.train_step_ratio_vs_torch, rollout_ratio_vs_torch: b.rollout_ratio_vs_torch,
      scoring_ratio_vs_torch: b.scoring_ratio_vs_torch, cpu_ratios_vs_torch: b.cpu_ratios_vs_torch,
      tfjs: Object.fromEntries(Object.entries(b.shapes).map(([k, v]) => [k, v.tfjs])) };
    log("");
    log("tfjs without fast paths (RLHF_FAST_PATHS=0):");
    log(formatTable(b, specs));
    log("");
    log(`tfjs with fast paths [${mainPaths.join(", ")}]:`);
  } else log("");
  log(formatTable(sum, specs));
  log("");
  console.log(JSON.stringify(sum));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
