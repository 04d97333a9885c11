import * as tf from "@tensorflow/tfjs";
import { ensureRewardModel, ensureSft, initBackend, loadConfig, trainPpo, withOverrides } from "./lib";
(async () => {
  await initBackend();
  const smoke = loadConfig("config/smoke.yaml");
  const extra = process.argv.slice(2);
  const cfg = { ...withOverrides(smoke, ["ppo.iterations=" + (process.env.N ?? "1000"), ...extra.filter((x) => x.startsWith("ppo."))]), paths: { checkpoints: "/tmp/soakdiag/ck" + process.pid, runs: "/tmp/soakdiag/runs" + process.pid } };
  if (extra.includes("nock")) cfg.checkpoint_every = 0;
  const sft = await ensureSft(smoke, { log: () => {} });
  const rm = await ensureRewardModel(smoke, { log: () => {}, sft });
  const mb = (x: number) => (x / 2 ** 20).toFixed(1);
  const r = await trainPpo(cfg, { sft: sft.model, rm: rm.model, tok: sft.tokenizer }, { log: () => {}, onIteration: (k) => {
    if (k % 25) return;
    (globalThis as any).gc(); const rss0 = process.memoryUsage().rss; Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.env.SLEEP ?? 300));
    const m = process.memoryUsage();
    const st = require("fs").readFileSync("/proc/self/status", "utf8"); const f = (n: string) => (Number(new RegExp(n + ":\\s+(\\d+)").exec(st)![1]) / 1024).toFixed(1);
    console.log(k, tf.memory().numTensors, "anon", f("RssAnon"), "file", f("RssFile"), "rss0", mb(rss0), "rss", mb(m.rss), "heapTotal", mb(m.heapTotal), "heapUsed", mb(m.heapUsed), "external", mb(m.external), "ab", mb(m.arrayBuffers));
  } });
  r.model.dispose();
})();
