// `npm run generate -- --checkpoint checkpoints/<stage> --prompts <file> [--seed N] [--temperature T] [--max-new-tokens N] [--samples K]`
// Continues every prompt (one per line of the file; empty lines skipped) with a saved model and prints one JSON line
// per prompt (K lines with --samples K): {"prompt", "completion", "gold"}, gold = VADER compound score of prompt +
// completion (lib/labeller). Progress, the backend report and a closing line with the mean gold score go to stderr,
// so stdout is clean JSON lines.
import * as fs from "node:fs";
import * as path from "node:path";
import { initBackend, formatBackendReport } from "../lib/backend";
import { loadCheckpoint } from "../lib/checkpoint";
import { goldScore } from "../lib/labeller";
import { generate } from "../lib/sample";

const USAGE = `usage: npm run generate -- --checkpoint <dir> --prompts <file> [--seed N] [--temperature T] [--max-new-tokens N] [--samples K]
  --checkpoint      a checkpoint folder, e.g. checkpoints/sft (model.json, weights.bin, tokenizer.json)
  --prompts         a text file, one prompt per line
  --seed            sampling seed (default 0)
  --temperature     softmax temperature, 0 = greedy (default 1)
  --max-new-tokens  tokens to generate at most (default 24; capped so prompt + completion fit the context)
  --samples         completions per prompt (default 1); the closing mean gold averages over all of them`;

interface Args { checkpoint: string; prompts: string; seed: number; temperature: number; maxNewTokens: number; samples: number }

function fail(msg: string): never {
  console.error(`generate: ${msg}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Partial<Args> = { seed: 0, temperature: 1, maxNewTokens: 24, samples: 1 };
  const num = (flag: string, v: string | undefined, ok: (x: number) => boolean, what: string): number => {
    const x = Number(v);
    if (v === undefined || !Number.isFinite(x) || !ok(x)) fail(`${flag} must be ${what}, got ${v}`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i];
    const eq = raw.indexOf("=");
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const value = eq > 0 ? raw.slice(eq + 1) : argv[++i];
    switch (flag) {
      case "--checkpoint": a.checkpoint = value; break;
      case "--prompts": a.prompts = value; break;
      case "--seed": a.seed = num(flag, value, (x) => Number.isInteger(x) && x >= 0, "a non-negative integer"); break;
      case "--temperature": a.temperature = num(flag, value, (x) => x >= 0, "a number >= 0"); break;
      case "--max-new-tokens": a.maxNewTokens = num(flag, value, (x) => Number.isInteger(x) && x >= 1, "a positive integer"); break;
      case "--samples": a.samples = num(flag, value, (x) => Number.isInteger(x) && x >= 1, "a positive integer"); break;
      case "--help": case "-h": console.log(USAGE); process.exit(0);
      default: fail(`unknown argument "${raw}"`);
    }
  }
  if (!a.checkpoint) fail("--checkpoint is required");
  if (!a.prompts) fail("--prompts is required");
  return a as Args;
}

/** npm runs scripts from the repository root; resolve relative paths against where the user typed the command. */
function userPath(p: string): string {
  if (path.isAbsolute(p)) return p;
  const base = process.env.INIT_CWD ?? process.cwd();
  const candidate = path.resolve(base, p);
  return fs.existsSync(candidate) ? candidate : path.resolve(p);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const promptFile = userPath(args.prompts);
  if (!fs.existsSync(promptFile)) fail(`prompts file ${args.prompts} not found`);
  const prompts = fs.readFileSync(promptFile, "utf8").split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (prompts.length === 0) fail(`prompts file ${args.prompts} has no prompts`);
  const report = await initBackend();
  console.error(formatBackendReport(report));
  const { model, tokenizer } = loadCheckpoint(userPath(args.checkpoint));
  console.error(model.describe());
  // Cap so the longest prompt (BOS included) plus the completion fits the context.
  const longest = Math.max(...prompts.map((p) => tokenizer.encode(p).length + 1));
  const room = model.config.context - longest;
  if (room < 1) fail(`the longest prompt has ${longest} tokens; the model's context is ${model.config.context}`);
  const maxNew = Math.min(args.maxNewTokens, room);
  if (maxNew < args.maxNewTokens) console.error(`max-new-tokens capped at ${maxNew} (context ${model.config.context}, longest prompt ${longest} tokens)`);
  const rows = prompts.flatMap((p) => Array<string>(args.samples).fill(p));
  const gens = generate(model, tokenizer, rows, { maxNewTokens: maxNew, temperature: args.temperature, seed: args.seed });
  let sum = 0;
  for (const g of gens) {
    const gold = goldScore(g.prompt + g.completion);
    sum += gold;
    process.stdout.write(JSON.stringify({ prompt: g.prompt, completion: g.completion, gold }) + "\n");
  }
  console.error(`mean gold ${(sum / gens.length).toFixed(3)} over ${gens.length} completions (${prompts.length} prompts x ${args.samples}; ` +
    `${args.checkpoint}, seed ${args.seed}, temperature ${args.temperature})`);
  model.dispose();
}

main().catch((e) => {
  console.error(`generate: ${(e as Error).message}`);
  process.exit(1);
});
