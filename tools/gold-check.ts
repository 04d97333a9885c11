// `npm run gold-check [-- --seed N] [--iterations N]`: the natural gold's design check, before the course is retrained
// on it. PPO with no KL penalty (ppo.kl.coef 0) against the course reward model, evaluated every 10 iterations on the
// held-out prompts; each evaluation's completions are scored by VADER (the course's gold today, goldScore), by the
// natural gold (lib/reward/natural-gold.ts) and by the reward model (the proxy). A gold that the policy cannot game
// rises and then falls while the proxy keeps rising. Runs as the ablation "gold-check-s<seed>" (runs/ablations/);
// prints a table on stderr and one JSON line on stdout; the completions go to runs/ablations/<name>/evals.jsonl.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { goldScore, initBackend, loadConfig, mean, naturalGold, repoPath, runAblation, standardError, type EvalResult } from "../lib";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seed: { type: "string", default: "1234" }, iterations: { type: "string", default: "60" } } });
  await initBackend();
  const cfg = loadConfig();
  const name = `gold-check-s${values.seed}`;
  const evals: { iteration: number; e: EvalResult }[] = [];
  await runAblation(cfg, name, ["ppo.kl.coef=0", `ppo.iterations=${values.iterations}`, "ppo.eval_every=10", `ppo.seed=${values.seed}`],
    { log: (l) => console.error(l), onEval: (iteration, e) => evals.push({ iteration, e }) });
  const rows = evals.map(({ iteration, e }) => {
    const texts = e.prompts.map((p, i) => p + e.completions[i]);
    const vader = texts.map(goldScore), natural = texts.map(naturalGold);
    return { iteration, proxy: e.proxy, kl: e.kl, vader: mean(vader), natural: mean(natural), natural_se: standardError(natural), distinct2: e.distinct2, length: e.length,
      sample: texts.slice(0, 3) };
  });
  const out = path.join(repoPath(cfg.paths.runs), "ablations", name, "evals.jsonl");
  fs.writeFileSync(out, evals.map(({ iteration, e }) => JSON.stringify({ iteration, prompts: e.prompts, completions: e.completions })).join("\n") + "\n");
  console.error("iteration | proxy | KL | VADER gold | natural gold (se) | distinct-2 | length | a sample");
  for (const r of rows) {
    console.error(`${String(r.iteration).padStart(9)} | ${r.proxy.toFixed(3)} | ${r.kl.toFixed(1)} | ${r.vader.toFixed(3)} | ${r.natural.toFixed(3)} (${r.natural_se.toFixed(3)}) | ` +
      `${r.distinct2.toFixed(2)} | ${r.length.toFixed(1)} | ${JSON.stringify(r.sample[0])}`);
  }
  console.log(JSON.stringify({ name, rows }));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : String(e));
  process.exit(1);
});
