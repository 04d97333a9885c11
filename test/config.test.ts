// lib/core/config: the shipped configs load; every kind of error names the file, line, key path, value and what is
// allowed; cross-field rules; default path and cwd independence; the stage hash.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../lib/core/backend";
import {
  Config,
  ConfigError,
  describeConfig,
  lineOfKey,
  loadConfig,
  repoPath,
  repoRoot,
  SCHEMA,
  STAGE_SECTIONS,
  stageConfigHash,
  validateConfig,
} from "../lib/core/config";

// The error tests edit exact lines of a frozen copy of course.yaml as first written (test/fixtures/config.yaml) and
// check the line numbers the errors name, so config/course.yaml itself stays free to be re-tuned.
const FIXTURE = "test/fixtures/config.yaml";
const COURSE = fs.readFileSync(repoPath(FIXTURE), "utf8");
let tmp: string;

before(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "config-test-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** the fixture with one exact line replaced (the line must exist, so a test cannot silently edit nothing). */
function variant(name: string, from: string, to: string): { file: string; line: number } {
  const lines = COURSE.split("\n");
  const i = lines.indexOf(from);
  assert.ok(i >= 0, `${FIXTURE} has no line ${JSON.stringify(from)}`);
  lines.splice(i, 1, ...(to === "" ? [] : [to]));
  const file = path.join(tmp, name);
  fs.writeFileSync(file, lines.join("\n"));
  return { file, line: i + 1 };
}

/** Loads and returns the ConfigError (fails the test if none is thrown). */
function errorOf(file: string): ConfigError {
  try {
    loadConfig(file);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    return e;
  }
  assert.fail(`${file} loaded without error`);
}

describe("shipped configs", () => {
  it("course.yaml, smoke.yaml and the test fixture load and have the schema's types", () => {
    for (const f of ["config/course.yaml", "config/smoke.yaml", FIXTURE]) {
      const cfg: Config = loadConfig(f);
      // Compile-time checks of the derived type, runtime checks of values from the files.
      const est: "k1" | "k2" | "k3" = cfg.ppo.kl.estimator;
      const vclip: number | null = cfg.ppo.value_clip;
      const early: number | null = cfg.ppo.early_stop_kl;
      assert.equal(est, "k1");
      assert.equal(vclip, 0.2);
      assert.equal(early, null);
      assert.equal(cfg.seed, 1234);
      assert.equal(cfg.tokenizer.kind, "bpe");
      if (f !== FIXTURE) {
        assert.equal(cfg.ppo.reward.missing_eos_penalty, null); // off: notebook 08, section 7
        assert.equal(cfg.ppo.critic, "separate");
      }
    }
    assert.equal(loadConfig(FIXTURE).model.d_model, 192);
    assert.equal(loadConfig("config/smoke.yaml").model.d_model, 32);
  });

  it("the schema covers exactly the keys of course.yaml (top level)", () => {
    const raw = loadConfig("config/course.yaml") as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(raw).sort(), Object.keys(SCHEMA.fields).sort());
  });

  it("describeConfig names the file and the run's size", () => {
    const text = describeConfig(loadConfig("config/smoke.yaml"));
    assert.match(text, /^config config\/smoke\.yaml: name smoke, seed 1234/);
    assert.match(text, /pretrain 30 steps x 8/);
    assert.match(text, /ppo 3 iterations x 8 prompts x 8 tokens/);
  });
});

describe("errors name file, line, key, value and what is allowed", () => {
  it("YAML syntax error: file, line and column", () => {
    const { file, line } = variant("syntax.yaml", "  n_heads: 4", "  n_heads: 4: 5");
    const e = errorOf(file);
    assert.equal(line, 17);
    assert.equal(e.line, 17);
    assert.ok(e.message.startsWith(`${file}:17:13: YAML syntax error: bad indentation of a mapping entry`), e.message);
  });

  it("unknown key", () => {
    const { file, line } = variant("unknown.yaml", "  n_heads: 4", "  n_head: 4");
    const e = errorOf(file);
    assert.equal(e.keyPath, "model.n_head");
    assert.equal(
      e.message,
      `${file}:${line}: model.n_head: unknown key (value 4); allowed keys in model: context, d_model, n_layers, n_heads, dropout`,
    );
  });

  it("missing key (nested two levels)", () => {
    const { file } = variant("missing.yaml", "    estimator: k1              # k1 | k2 | k3", "");
    const e = errorOf(file);
    assert.equal(e.keyPath, "ppo.kl.estimator");
    const klLine = lineOfKey(COURSE, "ppo.kl");
    assert.equal(e.message, `${file}:${klLine}: ppo.kl.estimator: missing key; expected one of k1 | k2 | k3`);
  });

  it("wrong type: a string for a number, a float for an integer, a string for a boolean", () => {
    let v = variant("type1.yaml", "  lr: 0.002", "  lr: fast");
    assert.equal(errorOf(v.file).message, `${v.file}:${v.line}: pretrain.lr: got "fast" (a string); expected a number in (0, 1]`);
    v = variant("type2.yaml", "  steps: 1500", "  steps: 1500.5");
    assert.equal(errorOf(v.file).message, `${v.file}:${v.line}: pretrain.steps: got 1500.5; expected an integer in [1, inf)`);
    // YAML 1.2: "yes" is a string, not a boolean.
    v = variant("type3.yaml", "  dropout: false               # dropout off during RL (TRL, DeepSpeed-Chat)", "  dropout: yes");
    assert.equal(errorOf(v.file).message, `${v.file}:${v.line}: ppo.dropout: got "yes" (a string); expected true or false`);
  });

  it("out of range", () => {
    const v = variant("range.yaml", "  dropout: 0.1", "  dropout: 1.5");
    const e = errorOf(v.file);
    assert.equal(e.keyPath, "model.dropout");
    assert.equal(e.message, `${v.file}:${v.line}: model.dropout: 1.5 is out of range; expected a number in [0, 1)`);
    // Open bound: lr must be > 0.
    const w = variant("range2.yaml", "  lr: 0.00003", "  lr: 0");
    assert.equal(errorOf(w.file).message, `${w.file}:${w.line}: ppo.lr: 0 is out of range; expected a number in (0, 1]`);
    // A count of sentences is a whole number.
    const r = variant("range3.yaml", "  review_sentences: 0", "  review_sentences: 2.5");
    assert.equal(errorOf(r.file).message, `${r.file}:${r.line}: rm.review_sentences: got 2.5; expected an integer in [0, inf)`);
  });

  it("not in the enum", () => {
    const v = variant("enum.yaml", "    estimator: k1              # k1 | k2 | k3", "    estimator: k4");
    assert.equal(errorOf(v.file).message, `${v.file}:${v.line}: ppo.kl.estimator: got "k4" (a string); allowed: k1 | k2 | k3`);
  });

  it("nullable numbers accept null, other numbers do not", () => {
    const v = variant("null1.yaml", "    clip: 5.0                  # clip the score to +-clip; null = off", "    clip: null");
    assert.equal(loadConfig(v.file).ppo.reward.clip, null);
    const w = variant("null2.yaml", "  value_clip: 0.2              # TRL cliprange_value; null = off", "  value_clip: ~");
    assert.equal(loadConfig(w.file).ppo.value_clip, null);
    const x = variant("null3.yaml", "  vf_coef: 0.1", "  vf_coef: null");
    assert.equal(errorOf(x.file).message, `${x.file}:${x.line}: ppo.vf_coef: got null; expected a number in [0, inf)`);
  });

  it("missing file and empty file", () => {
    const e = errorOf(path.join(tmp, "nope.yaml"));
    assert.match(e.message, /nope\.yaml: cannot read the config file \(ENOENT\)/);
    const empty = path.join(tmp, "empty.yaml");
    fs.writeFileSync(empty, "# nothing\n");
    assert.match(errorOf(empty).message, /empty\.yaml: the config is empty; expected a mapping with keys name, seed, checkpoint_every, paths/);
  });
});

describe("cross-field rules", () => {
  it("d_model divisible by n_heads", () => {
    const v = variant("heads.yaml", "  d_model: 192", "  d_model: 190");
    assert.equal(
      errorOf(v.file).message,
      `${v.file}:${v.line}: model.d_model: 190 is not divisible by model.n_heads = 4; each head gets d_model / n_heads dimensions`,
    );
  });

  it("prompt_words_min <= prompt_words_max", () => {
    const v = variant("words.yaml", "  prompt_words_min: 2", "  prompt_words_min: 5");
    assert.equal(errorOf(v.file).message, `${v.file}:${v.line}: sft.prompt_words_min: 5 is greater than sft.prompt_words_max = 4`);
  });

  it("prompt + max_new_tokens fit in the context (rm and ppo)", () => {
    // bpe budget: 1 (BOS) + 4 words x 2 = 9 tokens; 9 + 55 = 64 fits, 9 + 56 = 65 does not.
    const ok = variant("fit.yaml", "  max_new_tokens: 24", "  max_new_tokens: 55"); // first occurrence: rm
    assert.equal(loadConfig(ok.file).rm.max_new_tokens, 55);
    const bad = variant("nofit.yaml", "  max_new_tokens: 24", "  max_new_tokens: 56");
    const e = errorOf(bad.file);
    assert.equal(e.keyPath, "rm.max_new_tokens");
    assert.match(e.message, /rm\.max_new_tokens: 56 new tokens plus a prompt .* = 9\) need 65 tokens, more than model\.context = 64$/);
    // ppo's key comes second in the file: edit the raw object instead.
    const raw = structuredClone(loadConfig("config/course.yaml"));
    raw.ppo.max_new_tokens = 60;
    assert.throws(() => validateConfig(raw, "x.yaml"), /^ConfigError: x\.yaml: ppo\.max_new_tokens: 60 new tokens/);
  });

  it("a BPE vocabulary holds the 256 bytes and the special tokens; char-level does not need to", () => {
    const v = variant("vocab.yaml", "  vocab_size: 1024             # bytes (256) + special tokens + merges", "  vocab_size: 258");
    assert.equal(
      errorOf(v.file).message,
      `${v.file}:${v.line}: tokenizer.vocab_size: 258 is too small for a byte-level BPE; expected at least 256 bytes + 3 special tokens = 259`,
    );
    const raw = structuredClone(loadConfig("config/course.yaml"));
    raw.tokenizer = { kind: "char", vocab_size: 100 };
    assert.equal(validateConfig(raw).tokenizer.kind, "char");
    raw.tokenizer.vocab_size = 259;
    raw.tokenizer.kind = "bpe";
    assert.equal(validateConfig(raw).tokenizer.vocab_size, 259);
  });
});

describe("paths and defaults", () => {
  it("relative paths resolve against the repo root whatever the cwd", () => {
    const cwd = process.cwd();
    try {
      process.chdir(tmp);
      assert.equal(loadConfig("config/smoke.yaml").name, "smoke");
      assert.ok(fs.existsSync(path.join(repoRoot(), "package.json")));
    } finally {
      process.chdir(cwd);
    }
  });

  it("the default path is $RLHF_CONFIG, else config/course.yaml", () => {
    const saved = process.env.RLHF_CONFIG;
    try {
      process.env.RLHF_CONFIG = "config/smoke.yaml";
      assert.equal(loadConfig().name, "smoke");
      delete process.env.RLHF_CONFIG;
      assert.equal(loadConfig().name, "course");
    } finally {
      if (saved === undefined) delete process.env.RLHF_CONFIG;
      else process.env.RLHF_CONFIG = saved;
    }
  });

  it("lineOfKey follows indentation", () => {
    const text = "a:\n  b: 1\n  c:\n    b: 2\nb: 3\n";
    assert.equal(lineOfKey(text, "a.b"), 2);
    assert.equal(lineOfKey(text, "a.c.b"), 4);
    assert.equal(lineOfKey(text, "b"), 5);
    assert.equal(lineOfKey(text, "a.d"), undefined);
  });
});

describe("stageConfigHash", () => {
  it("depends on the seed and the listed sections only, not on key order, name or paths", () => {
    const a = loadConfig("config/course.yaml");
    const h = stageConfigHash(a, STAGE_SECTIONS.sft);
    assert.match(h, /^[0-9a-f]{16}$/);
    const b = structuredClone(a);
    b.name = "renamed";
    b.paths.runs = "elsewhere";
    b.ppo.lr = 0.001; // a later stage's section
    b.model = Object.fromEntries(Object.entries(a.model).reverse()) as typeof a.model; // same values, other order
    assert.notDeepEqual(Object.keys(b.model), Object.keys(a.model));
    assert.equal(stageConfigHash(b, STAGE_SECTIONS.sft), h);
    assert.notEqual(stageConfigHash(b, STAGE_SECTIONS.ppo), stageConfigHash(a, STAGE_SECTIONS.ppo));
    b.sft.lr = 0.001;
    assert.notEqual(stageConfigHash(b, STAGE_SECTIONS.sft), h);
    const c = structuredClone(a);
    c.seed = 1;
    assert.notEqual(stageConfigHash(c, STAGE_SECTIONS.pretrain), stageConfigHash(a, STAGE_SECTIONS.pretrain));
  });
});

describe("the reward model's own tokenizer and model, and the study's lists", () => {
  it("with rm.base = sft the own keys do not enter the hash; with own they do", () => {
    const a = loadConfig("config/course.yaml");
    const b = structuredClone(a);
    b.rm.model.d_model = 32;
    b.rm.tokenizer.kind = "char";
    assert.equal(stageConfigHash(b, STAGE_SECTIONS.rm), stageConfigHash(a, STAGE_SECTIONS.rm), "unused keys retrain nothing");
    const own = structuredClone(a);
    own.rm.base = "own";
    const own2 = structuredClone(own);
    own2.rm.model.d_model = 32;
    assert.notEqual(stageConfigHash(own, STAGE_SECTIONS.rm), stageConfigHash(a, STAGE_SECTIONS.rm));
    assert.notEqual(stageConfigHash(own2, STAGE_SECTIONS.rm), stageConfigHash(own, STAGE_SECTIONS.rm));
  });

  it("list keys: a value out of range names its index, a scalar or a short list is refused", () => {
    const { file: f1, line } = variant("list-range.yaml", "  bon_n: [1, 2, 4, 8, 16, 32, 64]", "  bon_n: [1, 2, 0]");
    const e1 = errorOf(f1);
    assert.match(e1.message, /study\.bon_n\[2\]: got 0; expected an integer in \[1, 4096\]/);
    assert.equal(e1.line, line);
    const e2 = errorOf(variant("list-scalar.yaml", "  kl_coefs: [0.2, 0.05, 0.01, 0.0]", "  kl_coefs: 0.1").file);
    assert.match(e2.message, /study\.kl_coefs: got 0\.1; expected a list of at least 1 numbers/);
    const e3 = errorOf(variant("list-short.yaml", "  bon_n: [1, 2, 4, 8, 16, 32, 64]", "  bon_n: [4]").file);
    assert.match(e3.message, /study\.bon_n: 1 values; expected a list of at least 2 integers/);
  });

  it("the own model's heads divide its width", () => {
    const e = errorOf(variant("own-heads.yaml", "    n_heads: 2", "    n_heads: 3").file);
    assert.match(e.message, /rm\.model\.d_model: 64 is not divisible by rm\.model\.n_heads = 3/);
  });
});
