// tools/soak.ts without its 1,000 iterations: the verdict from given samples, the argument errors, and the PPO stage
// on prompts that do not fit the context (the soak's first run stopped at iteration 10 of the smoke config on one).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { initBackend } from "../lib/core/backend";
import { withOverrides } from "../lib/core/config";
import { GPT } from "../lib/lm/model";
import { trainPpo } from "../lib/pipeline/ppo";
import { evalPrompts, trainPrompts } from "../lib/rl/prompts";
import { RSS_LIMIT_MB, RSS_WINDOW, inRssWindow, isReport, soakVerdict, type SoakSample } from "../tools/soak";
import { modelCfg, smoke, tok } from "./tiny-ppo";

let root: string;
before(async () => {
  await initBackend();
  root = fs.mkdtempSync(path.join(os.tmpdir(), "soak-test-"));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const samples = (t10: number, tEnd: number, r100: number, rEnd: number): SoakSample[] => [
  { iteration: 10, numTensors: t10, rssMB: 300 },
  { iteration: 100, numTensors: t10, rssMB: r100 },
  { iteration: 200, numTensors: tEnd, rssMB: rEnd },
];

test("soakVerdict: passes on a flat tensor count and RSS growth up to the limit, and names the figures of a leak", () => {
  const ok = soakVerdict(samples(120, 120, 400, 400 + RSS_LIMIT_MB));
  assert.equal(ok.verdict, "pass");
  assert.deepEqual(ok.reasons, []);
  assert.equal(ok.iterations, 200);
  assert.equal(ok.rss_growth_mb, RSS_LIMIT_MB);

  const tensors = soakVerdict(samples(120, 121, 400, 401));
  assert.equal(tensors.verdict, "leak");
  assert.deepEqual([tensors.tensors_at_10, tensors.tensors_at_end], [120, 121]);
  assert.match(tensors.reasons.join(";"), /numTensors 120 at iteration 10, 121 at iteration 200 \(\+1\)/);

  const rss = soakVerdict(samples(120, 120, 400, 400 + RSS_LIMIT_MB + 0.5));
  assert.equal(rss.verdict, "leak");
  assert.match(rss.reasons.join(";"), /RSS 400\.0 MB at iteration 100, 450\.5 MB at iteration 200 \(\+50\.5 MB, more than 50 MB\)/);
  assert.throws(() => soakVerdict(samples(1, 1, 1, 1).slice(1)), /no sample at iteration 10/);
});

test("the RSS is read on the RSS_WINDOW iterations up to each report: every 100th and the last", () => {
  const n = 250;
  const its = Array.from({ length: n }, (_, i) => i + 1);
  assert.deepEqual(its.filter((k) => isReport(k, n)), [100, 200, 250]);
  const read = its.filter((k) => inRssWindow(k, n));
  assert.equal(read.length, 3 * RSS_WINDOW);
  for (const r of [100, 200, 250]) for (let k = r - RSS_WINDOW + 1; k <= r; k++) assert.ok(read.includes(k), `iteration ${k} not read`);
});

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "tools/soak.ts", ...args], { encoding: "utf8", cwd: path.resolve(__dirname, "..") });

test("soak CLI: --help exits 0; a bad --iterations or an unknown flag exits 2 and says why, before anything runs", () => {
  const help = cli("--help");
  assert.equal(help.status, 0);
  assert.match(help.stdout, /usage: npm run soak/);
  for (const [args, msg] of [[["--iterations", "100"], /--iterations must be an integer greater than 100, got 100/], [["--bogus"], /Unknown option '--bogus'/]] as const) {
    const r = cli(...args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, msg);
    assert.equal(r.stdout, "");
  }
});

test("trainPpo drops the training prompts that leave no room for max_new_tokens, and says how many, instead of stopping", async () => {
  // char tokens on smoke's model (context 32): max_new_tokens leaves room for the longest held-out prompt only
  const base = withOverrides(smoke, ["ppo.iterations=2", "ppo.eval_prompts=4", "ppo.eval_every=2", "ppo.critic=shared", "ppo.reward.normalize=false"]);
  const len = (p: string) => tok.encode(p).length + 1;
  const room = Math.max(...evalPrompts(base).map(len));
  const cfg = { ...withOverrides(base, [`ppo.max_new_tokens=${modelCfg.context - room}`]), checkpoint_every: 0, paths: { checkpoints: path.join(root, "ck"), runs: path.join(root, "runs") } };
  const tooLong = trainPrompts(cfg).filter((p) => len(p) > room).length;
  assert.ok(tooLong > 0, "the test needs a training prompt longer than the room");
  const sft = new GPT(modelCfg, { seed: 1 });
  const rm = new GPT(modelCfg, { seed: 2, head: "reward" });
  const lines: string[] = [];
  try {
    const run = await trainPpo(cfg, { sft, rm, tok }, { log: (l) => lines.push(l) });
    run.model.dispose();
    assert.equal(run.summary.iterations, 2);
  } finally {
    sft.dispose();
    rm.dispose();
  }
  assert.ok(lines.includes(`ppo: ${tooLong} of ${trainPrompts(cfg).length} training prompts dropped: with BOS they leave no room for ` +
    `${cfg.ppo.max_new_tokens} new tokens in the context of ${modelCfg.context}`), lines.join("\n"));
});
