// Loads and validates the course's YAML config (config/course.yaml, config/smoke.yaml).
//
// One declarative SCHEMA below lists every key with its type and allowed range; the TypeScript type `Config` is
// derived from it, so the file, the validator and the type cannot drift apart. To add a key: add one line to
// SCHEMA (and the key to both YAML files); a rule that spans keys goes in CROSS_CHECKS.
//
// Every problem throws a ConfigError naming the file and line (block or flow style YAML), the key path
// (e.g. ppo.kl.estimator), the value and what is allowed. Nothing trains before the whole file is valid.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";

// ---------------------------------------------------------------------------------------------------------------
// Repository paths

let rootCache: string | undefined;

/**
 * The repository root: the first folder at or above this file that holds package.json. Notebooks run with cwd
 * notebooks/ and import lib through the notebooks/lib symlink, so neither cwd nor a fixed "../" is reliable.
 */
export function repoRoot(): string {
  if (rootCache) return rootCache;
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return (rootCache = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`repoRoot: no package.json at or above ${__dirname}`);
    dir = up;
  }
}

/** A path inside the repository; absolute paths pass through unchanged. */
export function repoPath(p: string): string {
  return path.isAbsolute(p) ? p : path.join(repoRoot(), p);
}

// ---------------------------------------------------------------------------------------------------------------
// Schema building blocks. Ranges are written in interval notation, e.g. "(0, 1]" or "[1, inf)", and are quoted
// back verbatim in error messages.

interface Range { lo: number; hi: number; loOpen: boolean; hiOpen: boolean; text: string }

function parseRange(text: string): Range {
  const m = /^([[(])\s*(-?inf|-?[\d.e-]+)\s*,\s*(-?inf|-?[\d.e-]+)\s*([\])])$/.exec(text);
  if (!m) throw new Error(`config schema: bad range "${text}"`);
  const num = (s: string) => (s === "inf" ? Infinity : s === "-inf" ? -Infinity : Number(s));
  return { lo: num(m[2]), hi: num(m[3]), loOpen: m[1] === "(", hiOpen: m[4] === ")", text };
}

interface NumSpec<N extends boolean = boolean> { kind: "number"; integer: boolean; range: Range; nullable: N }
interface BoolSpec { kind: "bool" }
interface StrSpec { kind: "string"; pattern: RegExp; what: string }
interface EnumSpec<V extends string = string> { kind: "enum"; values: readonly V[] }
interface SectionSpec<F extends Fields = Fields> { kind: "section"; fields: F }
/** A list of numbers, each in range, at least minLength of them. */
interface NumListSpec { kind: "numlist"; integer: boolean; range: Range; minLength: number }
type Spec = NumSpec | BoolSpec | StrSpec | EnumSpec | SectionSpec | NumListSpec;
type Fields = { [key: string]: Spec };

const int = (range: string): NumSpec<false> => ({ kind: "number", integer: true, range: parseRange(range), nullable: false });
const num = (range: string): NumSpec<false> => ({ kind: "number", integer: false, range: parseRange(range), nullable: false });
/** A number, or null meaning "off". */
const numOrNull = (range: string): NumSpec<true> => ({ kind: "number", integer: false, range: parseRange(range), nullable: true });
/** An integer, or null meaning "not set". */
const intOrNull = (range: string): NumSpec<true> => ({ kind: "number", integer: true, range: parseRange(range), nullable: true });
const bool = (): BoolSpec => ({ kind: "bool" });
const str = (pattern: RegExp, what: string): StrSpec => ({ kind: "string", pattern, what });
const oneOf = <const V extends string>(...values: V[]): EnumSpec<V> => ({ kind: "enum", values });
const section = <F extends Fields>(fields: F): SectionSpec<F> => ({ kind: "section", fields });
const intList = (range: string, minLength = 1): NumListSpec => ({ kind: "numlist", integer: true, range: parseRange(range), minLength });
const numList = (range: string, minLength = 1): NumListSpec => ({ kind: "numlist", integer: false, range: parseRange(range), minLength });

/** The TypeScript type a spec validates to. */
type Infer<S> =
  S extends NumSpec<infer N> ? (N extends true ? number | null : number)
  : S extends BoolSpec ? boolean
  : S extends EnumSpec<infer V> ? V
  : S extends StrSpec ? string
  : S extends SectionSpec<infer F> ? { [K in keyof F]: Infer<F[K]> }
  : S extends NumListSpec ? number[]
  : never;

// Shared shapes. Optimiser keys are the same in every training stage.
const optimiser = {
  lr: num("(0, 1]"),
  min_lr_ratio: num("[0, 1]"), // cosine decays to lr * min_lr_ratio; 1 = constant after warmup
  warmup_steps: int("[0, inf)"),
  weight_decay: num("[0, 1]"), // decoupled (AdamW)
  grad_clip: num("(0, inf)"), // global norm
};
const name = str(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '-' or '.'");
const relPath = str(/^[^\0]+$/, "a non-empty path (relative paths are relative to the repository root)");

// ---------------------------------------------------------------------------------------------------------------
// THE SCHEMA: every key of config/course.yaml, in file order. See the YAML's comments for what each key does.

export const SCHEMA = section({
  name,
  seed: int("[0, 4294967295]"),
  checkpoint_every: int("[0, inf)"), // steps (PPO: iterations) between resumable checkpoints (lib/train/resume.ts); 0 = off
  paths: section({ checkpoints: relPath, runs: relPath }),
  tokenizer: section({
    kind: oneOf("bpe", "char"),
    vocab_size: int("[1, 65535]"),
  }),
  model: section({
    context: int("[2, 4096]"),
    d_model: int("[1, 8192]"),
    n_layers: int("[1, 128]"),
    n_heads: int("[1, 256]"),
    dropout: num("[0, 1)"),
  }),
  pretrain: section({
    base: oneOf("shipped", "trained"), // shipped: the base model in data/base/ (config/base.yaml trained it); trained: the keys below
    steps: int("[1, inf)"),
    batch_size: int("[1, inf)"),
    ...optimiser,
    schedule: oneOf("cosine", "wsd"), // wsd: warmup, a constant lr, then a linear decay over decay_fraction of the steps
    decay_fraction: num("(0, 1]"), // wsd only (Hagele et al. 2024)
    review_fraction: num("[0, 1]"),
    eval_every: int("[1, inf)"),
    eval_batches: int("[1, inf)"),
    curve_points: intList("[1, inf)", 0), // wsd only: steps at which a cooled-down copy is fine-tuned and measured (compute curve)
  }),
  sft: section({
    steps: int("[1, inf)"),
    batch_size: int("[1, inf)"),
    ...optimiser,
    prompt_words_min: int("[1, 64]"),
    prompt_words_max: int("[1, 64]"),
    eval_every: int("[1, inf)"),
  }),
  rm: section({
    prompts: int("[2, inf)"),
    completions_per_prompt: int("[2, 64]"), // a preference pair needs two completions
    max_new_tokens: int("[1, 4096]"),
    temperature: num("(0, 10]"),
    include_reference: bool(), // the prompt's real review sentence joins its training group (Stiennon et al. 2020)
    review_sentences: int("[0, inf)"), // real review sentences compared in groups of their own (0 = none)
    labeller_beta: num("(0, inf)"),
    heldout_fraction: num("(0, 1)"),
    epochs: int("[1, inf)"),
    batch_size: int("[1, inf)"),
    ...optimiser,
    eval_every: int("[1, inf)"),
    // sft: the reward model is the SFT model with a scalar head (InstructGPT) | own: its own tokenizer and trunk
    // (the two sections below), pretrained with the pretrain recipe; text crosses the boundary (lib/reward/text-reward.ts)
    pairs_fraction: num("(0, 1]"), // share of the training prompt groups trained on (Gao et al. 2022's data axis)
    base: oneOf("sft", "own"),
    tokenizer: section({ kind: oneOf("bpe", "char"), vocab_size: int("[1, 65535]") }),
    model: section({ context: int("[2, 4096]"), d_model: int("[1, 8192]"), n_layers: int("[1, 128]"), n_heads: int("[1, 256]") }),
  }),
  ppo: section({
    iterations: int("[1, inf)"),
    seed: intOrNull("[0, 4294967295]"), // null = the top-level seed
    rollout_batch: int("[1, inf)"),
    max_new_tokens: int("[1, 4096]"),
    temperature: num("(0, 10]"),
    top_k: int("[0, inf)"), // 0 = off
    top_p: num("(0, 1]"), // 1 = off
    ...optimiser,
    epochs: int("[1, inf)"),
    minibatches: int("[1, inf)"),
    clip_eps: num("(0, 1)"),
    value_clip: numOrNull("(0, inf)"),
    vf_coef: num("[0, inf)"),
    ent_coef: num("[0, inf)"),
    gamma: num("[0, 1]"),
    lam: num("[0, 1]"),
    whiten_advantages: bool(),
    early_stop_kl: numOrNull("(0, inf)"),
    dropout: bool(),
    critic: oneOf("shared", "separate"),
    critic_init: oneOf("reward_model", "sft"), // separate critic only: its trunk and head from the reward model (TRL) | the SFT model, head at zero
    advantage: oneOf("gae", "rloo", "grpo", "reinforce_pp"), // gae uses the critic; the others need none (lib/rl/advantages.ts)
    group_size: int("[1, 64]"), // samples per prompt in a rollout; rollout_batch / group_size distinct prompts
    advantage_eps: num("(0, 1]"), // the eps of GRPO's and REINFORCE++'s (r - mean) / (std + eps)
    // How the policy loss (and GRPO's KL term) turns per-token terms into one number, TRL's loss_type (lib/rl/ppo.ts aggregateTokenLoss):
    // grpo: mean over each response's tokens, then over responses (Shao et al. 2024, eq. 3); dapo: one mean over every
    // token of the minibatch (Yu et al. 2025; the course's PPO); dr_grpo: token sum / (max_new_tokens x responses) (Liu et al. 2025)
    loss_type: oneOf("grpo", "dapo", "dr_grpo"),
    // advantage grpo only, TRL's scale_rewards: what r - group mean is divided by: group: the group's std (Shao et al.
    // 2024); batch: the std of every reward of the rollout; none: nothing (Liu et al. 2025, Dr. GRPO)
    scale_rewards: oneOf("group", "batch", "none"),
    kl: section({
      estimator: oneOf("k1", "k2", "k3"),
      loss_estimator: oneOf("k2", "k3"), // the per-token KL term in the loss, for advantage grpo only
      coef: num("[0, inf)"),
      adaptive: bool(),
      target: num("(0, inf)"),
      horizon: int("[1, inf)"),
    }),
    reward: section({
      normalize: bool(),
      squash: bool(),
      clip: numOrNull("(0, inf)"),
      missing_eos_penalty: numOrNull("(-inf, inf)"),
    }),
    eval_prompts: int("[1, inf)"),
    eval_every: int("[1, inf)"),
    // Known implementation bugs, off by default; notebook 08b turns them on one at a time (config/course.yaml says where each is known from).
    bugs: section({
      logprob_temperature: numOrNull("(0, 10]"), // old log-probs at this temperature instead of the sampler's; null = off
      single_pass: bool(),
      ref_sync_every: int("[0, inf)"), // 0 = off
      whiten_adds_mean: bool(),
      pad_is_eos: bool(),
      dropout_on: bool(),
      value_head_random: bool(),
      unmasked_advantages: bool(),
    }),
  }),
  // The over-optimisation study (lib/studies/study.ts, notebook 09): best-of-n and a PPO KL sweep against two reward models.
  study: section({
    eval_prompts: int("[1, inf)"),
    bon_n: intList("[1, 4096]", 2),
    iterations: int("[1, inf)"),
    eval_every: int("[1, inf)"),
    kl_coefs: numList("[0, inf)", 1),
    own_rm_kl_coefs: numList("[0, inf)", 0),
    small_data_fraction: num("(0, 1]"),
    small_data_kl_coefs: numList("[0, inf)", 0),
  }),
  // Beyond PPO (lib/studies/compare.ts, notebook 10): the RL methods at one KL coefficient, DPO at several betas.
  compare: section({
    kl_coef: num("[0, inf)"),
    group_size: int("[2, 64]"),
    seeds: intList("[0, 4294967295]", 1),
    dpo_betas: numList("(0, inf)", 1),
  }),
  dpo: section({
    beta: num("(0, inf)"), // the strength of the implicit KL anchor to the SFT reference (Rafailov et al. 2023)
    epochs: int("[1, inf)"),
    max_steps: intOrNull("[1, inf)"), // stop after this many steps even within an epoch; null = all epochs
    batch_size: int("[1, inf)"), // pairs per step
    ...optimiser,
    drop_ties: bool(), // leave out pairs whose labeller probability is 0.5 (gold ties: the label is a coin flip)
    dropout: bool(), // dropout in the policy's training passes (the reference is always without)
    eval_every: int("[1, inf)"), // steps between held-out evaluations (and always after the last)
  }),
  // RL with verifiable rewards (lib/studies/rlvr.ts, notebook 11): reversed-digit addition checked exactly, its own tiny
  // char-level GPT trained from scratch by SFT on worked examples, then GRPO, RLOO and REINFORCE through the PPO loop.
  rlvr: section({
    digits: int("[1, 6]"), // operand width of the task: "042+317=" -> "953"
    hard_digits: int("[1, 6]"), // the "too hard" run's width (never seen in SFT)
    sft_examples: int("[1, inf)"), // worked examples SFT trains on
    heldout_problems: int("[1, inf)"), // test problems, disjoint from every training draw
    val_problems: int("[1, inf)"), // SFT's stopping set, disjoint from the test problems and from training
    max_new_tokens: int("[2, 64]"), // completion budget in tokens (characters), EOS included
    model: section({ d_model: int("[1, 8192]"), n_layers: int("[1, 128]"), n_heads: int("[1, 256]") }),
    sft: section({
      max_steps: int("[1, inf)"),
      batch_size: int("[1, inf)"),
      lr: num("(0, 1]"), // constant after warmup: the stopping rule, not a schedule, decides where SFT ends
      warmup_steps: int("[0, inf)"),
      stop_pass1: num("(0, 1]"), // stop at the first check whose validation pass@1 reaches this (the edge of competence)
      check_every: int("[1, inf)"),
      easy_steps: int("[1, inf)"), // the "too easy" start: the same SFT continued this many steps
    }),
    iterations: int("[1, inf)"), // RL iterations of every main run
    side_iterations: int("[1, inf)"), // RL iterations of the too-easy and too-hard runs
    prompts_per_iteration: int("[1, inf)"), // distinct problems per iteration, each sampled group_size times
    group_size: int("[2, 64]"),
    lr: num("(0, 1]"),
    minibatches: int("[1, inf)"), // gradient steps per iteration (GRPO, RLOO); REINFORCE takes as many on fresh samples
    temperature: num("(0, 10]"),
    bonus: num("[0, inf)"), // the gameable reward's extra for an answer with the right number of digits
    seeds: intList("[0, 4294967295]", 1),
    eval_every: int("[1, inf)"), // iterations between held-out evaluations (and after the last)
    eval_samples: int("[1, 4096]"), // samples per held-out problem at those evaluations
    pass_k_samples: int("[1, 4096]"), // n of pass@k: samples per held-out problem before and after RL
  }),
});

/** The validated config, keys exactly as in the YAML (snake_case). */
export type Config = Infer<typeof SCHEMA>;
export type PathsConfig = Config["paths"];
export type TokenizerConfig = Config["tokenizer"];
export type ModelSection = Config["model"];
export type PretrainConfig = Config["pretrain"];
export type SftConfig = Config["sft"];
export type RmConfig = Config["rm"];
export type PpoConfig = Config["ppo"];
export type KlConfig = Config["ppo"]["kl"];
export type RewardShapingConfig = Config["ppo"]["reward"];
export type PpoBugs = Config["ppo"]["bugs"];
export type StudyConfig = Config["study"];
export type DpoConfig = Config["dpo"];
export type RlvrConfig = Config["rlvr"];
/** The advantage estimators of ppo.advantage; all but gae are critic-free. */
export type AdvantageKind = Config["ppo"]["advantage"];
/** ppo.loss_type: how per-token loss terms are averaged (lib/rl/ppo.ts aggregateTokenLoss). */
export type LossType = Config["ppo"]["loss_type"];
/** ppo.scale_rewards: what GRPO divides the group-centred reward by. */
export type ScaleRewards = Config["ppo"]["scale_rewards"];

/**
 * Special tokens the tokenizer adds beyond the 256 bytes (BOS, EOS, PAD); a BPE vocabulary must hold at least
 * 256 + this many ids before any merge.
 */
export const SPECIAL_TOKENS = 3;
/**
 * Prompt budget used to check that prompt + completion fits the context: BOS plus prompt_words_max words at this
 * many tokens per word (an upper estimate: BPE at vocab 1,024 averages ~2.6 characters a token; char-level one
 * token per character, ~6 per word with its space).
 */
export const PROMPT_TOKENS_PER_WORD: Record<TokenizerConfig["kind"], number> = { bpe: 2, char: 6 };

/** The number of tokens a prompt of cfg.sft.prompt_words_max words is budgeted, BOS included. */
export function promptTokenBudget(cfg: Config): number {
  return 1 + cfg.sft.prompt_words_max * PROMPT_TOKENS_PER_WORD[cfg.tokenizer.kind];
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly keyPath?: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Bad input the user must fix (a data file, a prompt file, a damaged checkpoint, a config that does not fit the
 * data); the message names the file, the line or key, and what was expected. CLIs print it alone and exit 2.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/** A value as the user would recognise it in the file. */
function show(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v) + " (a string)";
  if (Array.isArray(v)) return `a list ${JSON.stringify(v).slice(0, 60)}`;
  if (typeof v === "object") return `a mapping {${Object.keys(v as object).join(", ")}}`;
  return String(v);
}

function allowed(spec: Spec): string {
  switch (spec.kind) {
    case "number":
      return `${spec.integer ? "an integer" : "a number"} in ${spec.range.text}${spec.nullable ? ", or null (off)" : ""}`;
    case "bool":
      return "true or false";
    case "string":
      return `a string of ${spec.what}`;
    case "enum":
      return `one of ${spec.values.join(" | ")}`;
    case "section":
      return `a mapping with keys ${Object.keys(spec.fields).join(", ")}`;
    case "numlist":
      return `a list of at least ${spec.minLength} ${spec.integer ? "integers" : "numbers"} in ${spec.range.text}, e.g. [1, 2]`;
  }
}

/**
 * The 1-based line where a key path is defined in block-style YAML (what the course's files use), by tracking
 * indentation; undefined when it cannot be found (flow style, or the key is missing).
 */
export function lineOfKey(text: string, keyPath: string): number | undefined {
  const want = keyPath.split(".");
  const stack: { indent: number; key: string }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)([A-Za-z_][\w-]*)\s*:/.exec(lines[i]);
    if (!m) continue;
    const indent = m[1].length;
    while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop();
    stack.push({ indent, key: m[2] });
    if (stack.length === want.length && stack.every((s, j) => s.key === want[j])) return i + 1;
  }
  return undefined;
}

/**
 * The line of a key path in any YAML style (flow style `ppo: {lr: 1}` included): each segment is searched as
 * `name:` after the previous one's match. Used when lineOfKey (block style, indentation-exact) finds nothing.
 */
export function lineOfKeyAnyStyle(text: string, keyPath: string): number | undefined {
  let at = 0;
  for (const seg of keyPath.split(".")) {
    const re = new RegExp(`(^|[\\s{,])["']?${seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}["']?\\s*:`, "gm");
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return undefined;
    at = m.index + m[1].length;
  }
  return text.slice(0, at).split("\n").length;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

interface Ctx { file: string; text?: string }

function fail(ctx: Ctx, keyPath: string, problem: string, lineKey = keyPath): never {
  const line = ctx.text !== undefined && lineKey ? (lineOfKey(ctx.text, lineKey) ?? lineOfKeyAnyStyle(ctx.text, lineKey)) : undefined;
  const where = line ? `${ctx.file}:${line}` : ctx.file;
  throw new ConfigError(`${where}: ${keyPath ? keyPath + ": " : ""}${problem}`, ctx.file, keyPath || undefined, line);
}

function check(spec: Spec, value: unknown, keyPath: string, ctx: Ctx): void {
  const wrong = () => fail(ctx, keyPath, `got ${show(value)}; expected ${allowed(spec)}`);
  switch (spec.kind) {
    case "number": {
      if (value === null && spec.nullable) return;
      if (typeof value !== "number" || !Number.isFinite(value)) return wrong();
      if (spec.integer && !Number.isInteger(value)) return wrong();
      const r = spec.range;
      const below = r.loOpen ? value <= r.lo : value < r.lo;
      const above = r.hiOpen ? value >= r.hi : value > r.hi;
      if (below || above) fail(ctx, keyPath, `${value} is out of range; expected ${allowed(spec)}`);
      return;
    }
    case "bool":
      if (typeof value !== "boolean") wrong();
      return;
    case "string":
      if (typeof value !== "string" || !spec.pattern.test(value)) wrong();
      return;
    case "enum":
      if (typeof value !== "string" || !spec.values.includes(value)) {
        fail(ctx, keyPath, `got ${show(value)}; allowed: ${spec.values.join(" | ")}`);
      }
      return;
    case "numlist": {
      if (!Array.isArray(value)) return wrong();
      if (value.length < spec.minLength) fail(ctx, keyPath, `${value.length} values; expected ${allowed(spec)}`);
      const r = spec.range;
      value.forEach((v, i) => {
        const ok = typeof v === "number" && Number.isFinite(v) && (!spec.integer || Number.isInteger(v)) &&
          !(r.loOpen ? v <= r.lo : v < r.lo) && !(r.hiOpen ? v >= r.hi : v > r.hi);
        if (!ok) fail(ctx, `${keyPath}[${i}]`, `got ${show(v)}; expected ${spec.integer ? "an integer" : "a number"} in ${r.text}`, keyPath);
      });
      return;
    }
    case "section": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) return wrong();
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(spec.fields);
      for (const k of Object.keys(obj)) {
        if (!(k in spec.fields)) {
          const p = keyPath ? `${keyPath}.${k}` : k;
          fail(ctx, p, `unknown key (value ${show(obj[k])}); allowed keys${keyPath ? ` in ${keyPath}` : ""}: ${keys.join(", ")}`);
        }
      }
      for (const k of keys) {
        const p = keyPath ? `${keyPath}.${k}` : k;
        if (!(k in obj)) fail(ctx, p, `missing key; expected ${allowed(spec.fields[k])}`, keyPath);
        check(spec.fields[k], obj[k], p, ctx);
      }
      return;
    }
  }
}

/** Rules that span keys: [key path the message names, test, explanation]. */
const CROSS_CHECKS: ((c: Config) => [string, string] | undefined)[] = [
  (c) =>
    c.model.d_model % c.model.n_heads !== 0
      ? ["model.d_model", `${c.model.d_model} is not divisible by model.n_heads = ${c.model.n_heads}; each head gets d_model / n_heads dimensions`]
      : undefined,
  (c) =>
    c.sft.prompt_words_min > c.sft.prompt_words_max
      ? ["sft.prompt_words_min", `${c.sft.prompt_words_min} is greater than sft.prompt_words_max = ${c.sft.prompt_words_max}`]
      : undefined,
  (c) =>
    c.tokenizer.kind === "bpe" && c.tokenizer.vocab_size < 256 + SPECIAL_TOKENS
      ? ["tokenizer.vocab_size", `${c.tokenizer.vocab_size} is too small for a byte-level BPE; expected at least 256 bytes + ${SPECIAL_TOKENS} special tokens = ${256 + SPECIAL_TOKENS}`]
      : undefined,
  ...(["pretrain", "sft"] as const).map((s) => (c: Config): [string, string] | undefined =>
    c[s].warmup_steps > c[s].steps ? [`${s}.warmup_steps`, `${c[s].warmup_steps} is more than ${s}.steps = ${c[s].steps}`] : undefined,
  ),
  (c) => {
    const p = c.pretrain;
    if (p.curve_points.length === 0) return undefined;
    if (p.schedule !== "wsd") return ["pretrain.curve_points", `needs pretrain.schedule: wsd (a point is a cooled-down copy of a constant-lr run), got ${p.schedule}`];
    const stable = wsdDecayStart(p);
    const late = p.curve_points.find((s) => s <= p.warmup_steps || s >= stable);
    return late === undefined ? undefined
      : ["pretrain.curve_points", `${late} is outside the constant-lr phase; expected steps after warmup_steps = ${p.warmup_steps} and before the decay starts at step ${stable}`];
  },
  ...(["rm", "ppo"] as const).map((s) => (c: Config): [string, string] | undefined => {
    const need = promptTokenBudget(c) + c[s].max_new_tokens;
    return need > c.model.context
      ? [
          `${s}.max_new_tokens`,
          `${c[s].max_new_tokens} new tokens plus a prompt (BOS + sft.prompt_words_max = ${c.sft.prompt_words_max} words x ` +
            `${PROMPT_TOKENS_PER_WORD[c.tokenizer.kind]} tokens = ${promptTokenBudget(c)}) need ${need} tokens, more than model.context = ${c.model.context}`,
        ]
      : undefined;
  }),
  (c) =>
    c.rm.model.d_model % c.rm.model.n_heads !== 0
      ? ["rm.model.d_model", `${c.rm.model.d_model} is not divisible by rm.model.n_heads = ${c.rm.model.n_heads}`]
      : undefined,
  (c) =>
    c.rm.tokenizer.kind === "bpe" && c.rm.tokenizer.vocab_size < 256 + SPECIAL_TOKENS
      ? ["rm.tokenizer.vocab_size", `${c.rm.tokenizer.vocab_size} is too small for a byte-level BPE; expected at least ${256 + SPECIAL_TOKENS}`]
      : undefined,
  (c) =>
    (c.ppo.advantage === "rloo" || c.ppo.advantage === "grpo") && c.ppo.group_size < 2
      ? ["ppo.group_size", `${c.ppo.group_size} with ppo.advantage = ${c.ppo.advantage}; expected at least 2 (the baseline of a sample is the other samples of its prompt)`]
      : undefined,
  (c) =>
    c.ppo.scale_rewards !== "group" && c.ppo.advantage !== "grpo"
      ? ["ppo.scale_rewards", `${c.ppo.scale_rewards} with ppo.advantage = ${c.ppo.advantage}; it scales GRPO's group-centred reward only (ppo.advantage grpo), leave it at group otherwise`]
      : undefined,
  (c) =>
    c.ppo.rollout_batch % c.ppo.group_size !== 0
      ? ["ppo.group_size", `${c.ppo.group_size} does not divide ppo.rollout_batch = ${c.ppo.rollout_batch}; each of rollout_batch / group_size prompts is sampled group_size times`]
      : undefined,
  (c) =>
    c.ppo.minibatches > c.ppo.rollout_batch
      ? ["ppo.minibatches", `${c.ppo.minibatches} minibatches cannot be cut from ppo.rollout_batch = ${c.ppo.rollout_batch} rollouts`]
      : undefined,
  (c) =>
    c.rlvr.model.d_model % c.rlvr.model.n_heads !== 0
      ? ["rlvr.model.d_model", `${c.rlvr.model.d_model} is not divisible by rlvr.model.n_heads = ${c.rlvr.model.n_heads}`]
      : undefined,
  (c) =>
    c.rlvr.max_new_tokens < Math.max(c.rlvr.digits, c.rlvr.hard_digits) + 2
      ? ["rlvr.max_new_tokens", `${c.rlvr.max_new_tokens} cannot hold the longest answer (${Math.max(c.rlvr.digits, c.rlvr.hard_digits) + 1} digits) and its EOS`]
      : undefined,
  (c) =>
    c.rlvr.prompts_per_iteration % c.rlvr.minibatches !== 0
      ? ["rlvr.minibatches", `${c.rlvr.minibatches} does not divide rlvr.prompts_per_iteration = ${c.rlvr.prompts_per_iteration}; REINFORCE samples a whole group per prompt for each of its steps`]
      : undefined,
  (c) =>
    2 * (c.rlvr.heldout_problems + c.rlvr.val_problems) > 10 ** (2 * c.rlvr.digits)
      ? ["rlvr.heldout_problems", `${c.rlvr.heldout_problems} held-out and ${c.rlvr.val_problems} validation problems are more than half of the ${10 ** (2 * c.rlvr.digits)} problems of width rlvr.digits = ${c.rlvr.digits}`]
      : undefined,
];

const sourceFile = new WeakMap<object, string>();

/**
 * Validates an already-parsed object (e.g. a config a notebook edited) and returns it typed. `file` only labels
 * the messages; `text` (the YAML source) lets them give line numbers.
 */
export function validateConfig(raw: unknown, file = "<config>", text?: string): Config {
  const ctx: Ctx = { file, text };
  if (raw === undefined || raw === null) fail(ctx, "", "the config is empty; expected a mapping with keys " + Object.keys(SCHEMA.fields).join(", "));
  check(SCHEMA, raw, "", ctx);
  const cfg = raw as Config;
  for (const rule of CROSS_CHECKS) {
    const problem = rule(cfg);
    if (problem) fail(ctx, problem[0], problem[1]);
  }
  sourceFile.set(cfg, file);
  return cfg;
}

/** The config file loadConfig uses when given none: $RLHF_CONFIG, else config/course.yaml. */
export function defaultConfigPath(): string {
  return process.env.RLHF_CONFIG || "config/course.yaml";
}

/**
 * Reads, parses and validates a config. A relative path is resolved against the repository root (so notebooks,
 * whose cwd is notebooks/, and CLIs agree). Throws ConfigError on any problem.
 */
export function loadConfig(file: string = defaultConfigPath()): Config {
  const abs = repoPath(file);
  const shown = path.relative(repoRoot(), abs).startsWith("..") ? abs : path.relative(repoRoot(), abs);
  let text: string;
  try {
    text = fs.readFileSync(abs, "utf8");
  } catch (e) {
    throw new ConfigError(`${shown}: cannot read the config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, shown);
  }
  let raw: unknown;
  try {
    raw = yaml.load(text, { filename: shown });
  } catch (e) {
    if (e instanceof yaml.YAMLException) {
      const line = e.mark ? e.mark.line + 1 : undefined;
      const col = e.mark ? e.mark.column + 1 : undefined;
      const snippet = e.mark?.snippet ? `\n${e.mark.snippet}` : "";
      throw new ConfigError(`${shown}:${line}:${col}: YAML syntax error: ${e.reason}${snippet}`, shown, undefined, line);
    }
    throw e;
  }
  return validateConfig(raw, shown, text);
}

/** The file a config was loaded from (as shown in messages), if it came from loadConfig or validateConfig. */
export function configSource(cfg: Config): string | undefined {
  return sourceFile.get(cfg);
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting and checkpoint matching

/** A few lines for a notebook's first cell: which config, and the figures that set a run's size. */
export function describeConfig(cfg: Config): string {
  const m = cfg.model;
  const p = cfg.ppo;
  return [
    `config ${configSource(cfg) ?? "(not from a file)"}: name ${cfg.name}, seed ${cfg.seed}, checkpoints in ${cfg.paths.checkpoints}/, runs in ${cfg.paths.runs}/`,
    `  tokenizer ${cfg.tokenizer.kind} (vocab ${cfg.tokenizer.vocab_size}); model context ${m.context}, d_model ${m.d_model}, ${m.n_layers} layers x ${m.n_heads} heads, dropout ${m.dropout}`,
    (cfg.pretrain.base === "shipped"
      ? `  pretrain: the shipped base (${SHIPPED_BASE_DIR}/; notebook 01's short run: ${cfg.pretrain.steps} steps x ${cfg.pretrain.batch_size}); `
      : `  pretrain ${cfg.pretrain.steps} steps x ${cfg.pretrain.batch_size} (lr ${cfg.pretrain.lr}, ${cfg.pretrain.schedule}, review_fraction ${cfg.pretrain.review_fraction}); `) +
      `sft ${cfg.sft.steps} steps x ${cfg.sft.batch_size} (lr ${cfg.sft.lr})`,
    `  rm ${cfg.rm.prompts} prompts x ${cfg.rm.completions_per_prompt} completions, labeller beta ${cfg.rm.labeller_beta}, ${cfg.rm.epochs} epochs`,
    `  ppo ${p.iterations} iterations x ${p.rollout_batch} prompts x ${p.max_new_tokens} tokens, lr ${p.lr}, ${p.epochs} epochs x ${p.minibatches} minibatches, ` +
      `KL ${p.kl.estimator} coef ${p.kl.coef}${p.kl.adaptive ? ` adaptive (target ${p.kl.target})` : ""}, ` +
      (p.advantage === "gae" ? `critic ${p.critic}` : `advantage ${p.advantage} (no critic)`) + (p.group_size > 1 ? `, ${p.group_size} samples a prompt` : ""),
  ].join("\n");
}

/** JSON with object keys sorted at every level, so equal configs serialise identically whatever the key order. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`).join(",")}}`;
}

export type SectionName = Exclude<keyof Config, "name" | "seed" | "paths">;

/** The config sections each stage's checkpoint depends on (its own and every earlier stage's). */
export const STAGE_SECTIONS = {
  pretrain: ["tokenizer", "model", "pretrain"],
  sft: ["tokenizer", "model", "pretrain", "sft"],
  rm: ["tokenizer", "model", "pretrain", "sft", "rm"],
  ppo: ["tokenizer", "model", "pretrain", "sft", "rm", "ppo"],
} as const satisfies Record<string, readonly SectionName[]>;
export type Stage = keyof typeof STAGE_SECTIONS;

/**
 * The rm section as it enters a hash: with rm.base = sft the reward model's own tokenizer and model keys are unused,
 * so they are left out (changing them must not retrain anything, and checkpoints made before they existed still match).
 */
export function hashedRm(rm: RmConfig): unknown {
  const { pairs_fraction, ...all } = rm;
  const kept = pairs_fraction === 1 ? all : rm; // all the pairs: as before the key existed
  if (rm.base !== "sft") return kept;
  const { base: _b, tokenizer: _t, model: _m, ...rest } = kept;
  return rest;
}

/**
 * The pretrain section as hashed. With base: shipped, the stages after it depend on the shipped model, not on these
 * keys: the section hashes as the shipped model's own hash (data/base/base.json). Otherwise the keys that came later
 * (base, schedule, decay_fraction, curve_points) are left out at the values that behave as before them (trained,
 * cosine, no curve points), so checkpoints trained before they existed stay valid; curve_points never change the model.
 */
export function hashedPretrain(p: PretrainConfig): unknown {
  if (p.base === "shipped") return { base: "shipped", hash: shippedBaseHash() };
  const { base: _b, schedule, decay_fraction, curve_points: _c, ...rest } = p;
  return schedule === "cosine" ? rest : { ...rest, schedule, decay_fraction };
}

/** The first step of a wsd schedule's decay: steps x (1 - decay_fraction), rounded. */
export function wsdDecayStart(p: { steps: number; decay_fraction: number }): number {
  return Math.round(p.steps * (1 - p.decay_fraction));
}

/** Where the shipped base model lives (trained by config/base.yaml, written by npm run ship-base), and its description. */
export const SHIPPED_BASE_DIR = "data/base";
export const SHIPPED_BASE_META = "base.json";

/**
 * The parsed description of a shipped base (<dir>/base.json) with a config_hash string; a missing, unreadable or
 * malformed file is an InputError naming it (lib/pipeline/base.ts checks the rest of its fields).
 */
export function readShippedBaseJson(dir = SHIPPED_BASE_DIR): { config_hash: string } & Record<string, unknown> {
  const file = path.join(repoPath(dir), SHIPPED_BASE_META);
  let meta: { config_hash?: unknown } & Record<string, unknown>;
  try {
    meta = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new InputError(`${file}: cannot read the shipped base model's description (${(e as Error).message}); expected the committed ` +
      `data/base/ (git checkout ${SHIPPED_BASE_DIR}), or pretrain.base: trained in the config to train a base instead`);
  }
  if (typeof meta?.config_hash !== "string") throw new InputError(`${file}: no "config_hash" string; expected the file npm run ship-base writes`);
  return meta as { config_hash: string } & Record<string, unknown>;
}

let shippedHash: string | undefined;
/** The config hash the shipped base was trained with (data/base/base.json), read once. */
export function shippedBaseHash(): string {
  shippedHash ??= readShippedBaseJson().config_hash;
  return shippedHash;
}

/**
 * The ppo section as hashed: the critic-free keys (advantage, group_size, advantage_eps, kl.loss_estimator) came
 * after PPO checkpoints were first saved and change nothing under gae with one sample per prompt, so there they are
 * left out, and checkpoints trained before those keys existed stay valid.
 */
export function hashedPpo(p: PpoConfig): unknown {
  // critic_init came later too; at its default (reward_model) it is left out, so earlier PPO checkpoints stay valid
  if (p.critic_init === "reward_model") {
    const { critic_init: _c, ...before } = p;
    p = before as PpoConfig;
  }
  // loss_type and scale_rewards (later still) are hashed under critic-free methods, whose runs from before them
  // must retrain: REINFORCE++ changed then to its per-token form
  if (p.advantage !== "gae" || p.group_size !== 1) return p;
  const { advantage: _a, group_size: _g, advantage_eps: _e, loss_type, scale_rewards, ...rest } = p;
  const { loss_estimator: _l, ...kl } = p.kl;
  // at PPO's behaviour from before them (dapo, group) they are left out, so PPO checkpoints stay valid
  return { ...rest, kl, ...(loss_type !== "dapo" ? { loss_type } : {}), ...(scale_rewards !== "group" ? { scale_rewards } : {}) };
}

/**
 * A short hash (16 hex digits of SHA-256) of the seed and the listed sections. A stage saves it with its
 * checkpoint and retrains when it differs; name and paths are left out so moving outputs keeps checkpoints valid.
 */
export function stageConfigHash(cfg: Config, sections: readonly SectionName[]): string {
  const picked: Record<string, unknown> = { seed: cfg.seed };
  for (const s of sections) picked[s] = s === "rm" ? hashedRm(cfg.rm) : s === "ppo" ? hashedPpo(cfg.ppo) : s === "pretrain" ? hashedPretrain(cfg.pretrain) : cfg[s];
  return crypto.createHash("sha256").update(stableStringify(picked)).digest("hex").slice(0, 16);
}

// ---------------------------------------------------------------------------------------------------------------
// Overrides ("ppo.kl.coef=0.05"), for a variant of a config without a copy of the file

/**
 * A copy of cfg with each "dotted.key=value" applied (the value is read as YAML: 0.05, null, true, k3), validated
 * like a file. A key that the config does not have, or a value the schema refuses, is a ConfigError naming the
 * override. The copy remembers its source as "<file> with <overrides>".
 */
export function withOverrides(cfg: Config, overrides: string[]): Config {
  const source = configSource(cfg) ?? "<config>";
  const raw = JSON.parse(JSON.stringify(cfg)) as Record<string, unknown>;
  for (const o of overrides) {
    const eq = o.indexOf("=");
    if (eq <= 0) throw new ConfigError(`override "${o}": expected key=value, e.g. ppo.kl.coef=0.05`, source);
    const key = o.slice(0, eq).trim();
    const parts = key.split(".");
    let node: Record<string, unknown> = raw;
    for (const [i, p] of parts.entries()) {
      if (node === null || typeof node !== "object" || !(p in node)) {
        throw new ConfigError(`override "${o}": the config has no key ${parts.slice(0, i + 1).join(".")}`, source, key);
      }
      if (i < parts.length - 1) node = node[p] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = yaml.load(o.slice(eq + 1));
  }
  return validateConfig(raw, overrides.length ? `${source} with ${overrides.join(" ")}` : source);
}
