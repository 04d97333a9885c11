// `npm run compute-curve -- --collect`: gathers the compute curve of the course's base model into data/compute-curve/.
// Each run below is a config/base.yaml run with a few keys changed (warmup-stable-decay, pretrain.curve_points: at each
// point a cooled-down copy is fine-tuned with the course's SFT recipe and measured, lib/pipeline/curve.ts). Train one:
//
//   npm run pipeline -- --stage pretrain --config config/base.yaml <its --set flags below>
//
// (the shipped base is config/base.yaml as it is: the first run's recipe, stopped where its curve was lowest; a run
// of 100,000 steps is a curve run stopped by hand once its points were measured). --collect copies each run's curve.csv that exists, counts its
// parameters, times 20 training steps of its shape on this machine (run it on an idle machine: the times convert
// steps into minutes), and writes data/compute-curve/runs.json. Notebook 01 draws the result.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import {
  AdamW, CURVE_FILE, GPT, Rng, batchToTensors, crossEntropy, initBackend, loadConfig, makePretrainSamplerFor, preparePretrainData, readCurveFile,
  repoPath, runDir, trainStep, withOverrides, COMPUTE_CURVE_DIR, type ComputeCurveRun,
} from "../lib";

/** The runs of the curve: a name, what differs from config/base.yaml, and the overrides that make it. */
export const CURVE_RUNS: { name: string; label: string; set: string[] }[] = [
  { name: "d128-r10", label: "d128 x 4 layers, 10% reviews", set: ["pretrain.steps=8000", "pretrain.curve_points=[600,1500,3500,5000,6500]", "paths.runs=runs/curve/r10", "paths.checkpoints=checkpoints/curve/r10"] },
  { name: "d128-r25", label: "d128 x 4 layers, 25% reviews", set: ["pretrain.review_fraction=0.25", "pretrain.steps=100000", "pretrain.curve_points=[600,1500,3500]", "paths.runs=runs/curve/r25", "paths.checkpoints=checkpoints/curve/r25"] },
  { name: "d192-r10", label: "d192 x 6 layers, 10% reviews", set: ["model.d_model=192", "model.n_layers=6", "model.n_heads=6", "pretrain.steps=100000", "pretrain.curve_points=[600,1500,3500]", "paths.runs=runs/curve/d192", "paths.checkpoints=checkpoints/curve/d192"] },
];

function msPerStep(cfgFile: string, set: string[]): { params: number; ms: number } {
  // the shape and the mix only: a step's cost does not depend on the run's length or its curve points
  const cfg = withOverrides(loadConfig(cfgFile), set.filter((s) => /^(model|tokenizer)\.|^pretrain\.review_fraction/.test(s)));
  const data = preparePretrainData(cfg);
  const model = new GPT({ ...cfg.model, vocab_size: data.tokenizer.vocabSize }, { seed: 1 });
  const vars = model.trainableVariables();
  const opt = new AdamW(vars, { weightDecay: 0.1 });
  const sampler = makePretrainSamplerFor(cfg, data, new Rng(1));
  const step = () => {
    const { x, y } = batchToTensors(sampler());
    trainStep(vars, () => crossEntropy(model.forward(x, { training: true }).logits, y), opt, { lr: 1e-3, gradClip: 1 });
    tf.dispose([x, y]);
  };
  for (let i = 0; i < 3; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) step();
  const ms = (performance.now() - t0) / 20;
  const params = model.paramCount();
  model.dispose();
  opt.dispose();
  return { params, ms };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { collect: { type: "boolean", default: false }, help: { type: "boolean", default: false } } });
  if (values.help || !values.collect) {
    console.log("usage: npm run compute-curve -- --collect\nthe runs (train each with npm run pipeline -- --stage pretrain --config config/base.yaml <flags>):");
    for (const r of CURVE_RUNS) console.log(`  ${r.name}: ${r.set.map((s) => `--set ${s}`).join(" ") || "(no flags: the shipped base)"}`);
    return;
  }
  await initBackend();
  const cfgFile = repoPath("config/base.yaml");
  const out = repoPath(COMPUTE_CURVE_DIR);
  fs.mkdirSync(out, { recursive: true });
  const runs: ComputeCurveRun[] = [];
  for (const r of CURVE_RUNS) {
    const cfg = withOverrides(loadConfig(cfgFile), r.set);
    const src = path.join(runDir(cfg, "pretrain"), CURVE_FILE);
    if (!fs.existsSync(src)) { console.error(`${r.name}: no ${src}, skipped`); continue; }
    readCurveFile(src); // refuse a damaged file before copying it
    fs.copyFileSync(src, path.join(out, `${r.name}.csv`));
    const { params, ms } = msPerStep(cfgFile, r.set);
    runs.push({
      name: r.name, label: r.label, file: `${r.name}.csv`, params, idle_ms_per_step: Number(ms.toFixed(1)),
      tokens_per_step: cfg.pretrain.batch_size * cfg.model.context, review_fraction: cfg.pretrain.review_fraction,
      command: `npm run pipeline -- --stage pretrain --config config/base.yaml ${r.set.map((s) => `--set ${s}`).join(" ")}`.trim(),
    });
    console.log(`${r.name}: ${params} parameters, ${ms.toFixed(0)} ms a step here`);
  }
  fs.writeFileSync(path.join(out, "runs.json"), JSON.stringify(runs, null, 2) + "\n");
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
