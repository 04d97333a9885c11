// `npm run generate -- --checkpoint checkpoints/<stage> --prompts <file> [--seed N] [--temperature T] [--max-new-tokens
// N] [--samples K]`
// Continues every prompt (one per line of the file) with a saved model and prints one JSON line per prompt (K lines
// with --samples K): {"prompt", "completion", "gold"}, gold = VADER compound score of prompt + completion
// (lib/reward/labeller). Completions are drawn by the rollout sampler (lib/lm/sample.ts -> lib/lm/rollout.ts), as in
// PPO.
// stdout holds only the JSON lines, written batch by batch as they are produced; the backend report, progress,
// skipped lines and the closing mean gold go to stderr.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import {
  initBackend, formatBackendReport, loadCheckpoint, InputError, decodeUtf8, goldScore, progress, progressLine, setProgress, Rng, generate,
} from "../lib";

const USAGE = `usage: npm run generate -- --checkpoint <dir> --prompts <file> [--seed N] [--temperature T] [--max-new-tokens N] [--samples K]
  --checkpoint      a checkpoint folder, e.g. checkpoints/sft (model.json, weights.bin, tokenizer.json)
  --prompts         a UTF-8 text file, one prompt per line (empty lines are skipped, and reported on stderr)
  --seed            sampling seed (default 0)
  --temperature     softmax temperature, 0 = greedy (default 1)
  --max-new-tokens  tokens to generate at most (default 24; capped so prompt + completion fit the context)
  --samples         completions per prompt (default 1); the closing mean gold averages over all of them
  --help            this text
stdout: one JSON line per completion, {"prompt", "completion", "gold"}; stderr: progress and the mean gold.
exit codes: 0 done; 1 an unexpected failure; 2 bad arguments or a bad input (prompts file, checkpoint): nothing generated`;

interface Args { checkpoint: string; prompts: string; seed: number; temperature: number; maxNewTokens: number; samples: number }

function fail(msg: string, usage = true): never {
  console.error(`generate: ${msg}${usage ? `\n${USAGE}` : ""}`);
  process.exit(2);
}

function readArgs(argv: string[]): Args {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        checkpoint: { type: "string" },
        prompts: { type: "string" },
        seed: { type: "string", default: "0" },
        temperature: { type: "string", default: "1" },
        "max-new-tokens": { type: "string", default: "24" },
        samples: { type: "string", default: "1" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (flag: string, ok: (x: number) => boolean, what: string): number => {
    const v = values[flag] as string;
    const x = Number(v);
    if (v.trim() === "" || !Number.isFinite(x) || !ok(x)) fail(`--${flag} must be ${what}, got ${v}`);
    return x;
  };
  const a: Args = {
    checkpoint: values.checkpoint as string,
    prompts: values.prompts as string,
    seed: num("seed", (x) => Number.isInteger(x) && x >= 0, "a non-negative integer"),
    temperature: num("temperature", (x) => x >= 0, "a number >= 0"),
    maxNewTokens: num("max-new-tokens", (x) => Number.isInteger(x) && x >= 1, "a positive integer"),
    samples: num("samples", (x) => Number.isInteger(x) && x >= 1, "a positive integer"),
  };
  if (!a.checkpoint) fail("--checkpoint is required");
  if (!a.prompts) fail("--prompts is required");
  return a;
}

/** npm runs scripts from the repository root; resolve relative paths against where the user typed the command. */
function userPath(p: string): string {
  if (path.isAbsolute(p)) return p;
  const base = process.env.INIT_CWD ?? process.cwd();
  const candidate = path.resolve(base, p);
  return fs.existsSync(candidate) ? candidate : path.resolve(p);
}

/** The prompts with their line numbers; empty (or blank) lines are reported, not silently dropped. */
function readPrompts(file: string, shown: string): { text: string; line: number }[] {
  let text: string;
  try {
    text = decodeUtf8(fs.readFileSync(file), shown);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop(); // the final newline ends the last line
  const out: { text: string; line: number }[] = [];
  const blank: number[] = [];
  lines.forEach((l, i) => (l.trim() === "" ? blank.push(i + 1) : out.push({ text: l, line: i + 1 })));
  if (out.length === 0) throw new InputError(`${shown}: no prompts (${lines.length} lines, all empty); expected one prompt per line`);
  if (blank.length) progressLine(`generate: ${shown}: skipped ${blank.length} empty line${blank.length > 1 ? "s" : ""} (line ${blank.slice(0, 10).join(", ")}${blank.length > 10 ? ", ..." : ""})`);
  return out;
}

async function main(): Promise<void> {
  const args = readArgs(process.argv.slice(2));
  const promptFile = userPath(args.prompts);
  if (!fs.existsSync(promptFile)) fail(`prompts file ${args.prompts} not found`);
  const prompts = readPrompts(promptFile, args.prompts);
  setProgress(true);
  const report = await initBackend();
  progressLine(formatBackendReport(report));
  let ck: ReturnType<typeof loadCheckpoint>;
  try {
    ck = loadCheckpoint(userPath(args.checkpoint));
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  const { model, tokenizer } = ck;
  try {
    progressLine(model.describe());
    // Every prompt (BOS included) must leave room for at least one new token; the first that does not is named.
    const C = model.config.context;
    const sizes = prompts.map((p) => tokenizer.encode(p.text).length + 1);
    const tooLong = sizes.findIndex((n) => n >= C);
    if (tooLong >= 0) {
      throw new InputError(`${args.prompts}:${prompts[tooLong].line}: the prompt has ${sizes[tooLong]} tokens (BOS included); ` +
        `expected at most ${C - 1}, so that one new token fits the model's context of ${C}`);
    }
    const longest = Math.max(...sizes);
    const maxNew = Math.min(args.maxNewTokens, C - longest);
    if (maxNew < args.maxNewTokens) progressLine(`max-new-tokens capped at ${maxNew} (context ${C}, longest prompt ${longest} tokens)`);
    const rows = prompts.flatMap((p) => Array<string>(args.samples).fill(p.text));
    const bar = progress("generate", rows.length, { quietMs: 1000 });
    let sum = 0;
    const batch = 64;
    // One generate() call per batch with a shared Rng stream: the same draws as one call over all rows, streamed.
    const rng = new Rng(args.seed);
    for (let s = 0; s < rows.length; s += batch) {
      const gens = generate(model, tokenizer, rows.slice(s, s + batch), { maxNewTokens: maxNew, temperature: args.temperature, seed: rng, batchSize: batch });
      let out = "";
      for (const g of gens) {
        const gold = goldScore(g.prompt + g.completion);
        sum += gold;
        out += JSON.stringify({ prompt: g.prompt, completion: g.completion, gold }) + "\n";
      }
      process.stdout.write(out);
      bar.tick(gens.length);
    }
    bar.done();
    progressLine(`mean gold ${(sum / rows.length).toFixed(3)} over ${rows.length} completions (${prompts.length} prompts x ${args.samples}; ` +
      `${args.checkpoint}, seed ${args.seed}, temperature ${args.temperature})`);
  } finally {
    model.dispose();
  }
}

main().catch((e) => {
  if (e instanceof InputError) fail(e.message, false);
  console.error(`generate: ${(e as Error).message}`);
  process.exit(1);
});
