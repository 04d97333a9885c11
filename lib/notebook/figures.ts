// The studies' charts: the gold-vs-sqrt(KL) frontier of notebook 09 and the method comparison of notebook 10.

import { gaoCurve } from "../beyond/gao";
import type { Figure } from "./viz";
import { type FrontierPoint, frontierBaseline, type StudyResult } from "../studies/study";
import { CompareResult } from "../studies/compare";
import type { ComputeCurveRun, CurveRow } from "../pipeline/curve";

const COLORS: Record<string, string> = { course: "#1f77b4", own: "#d62728", "few-pairs": "#2ca02c" };
/** Darker to lighter shades of a reward model's colour, one per PPO run (in the order of its KL coefficients). */
const SHADES: Record<string, string[]> = {
  course: ["#08306b", "#2171b5", "#6baed6", "#9ecae1"],
  own: ["#67000d", "#cb181d", "#fb6a4a", "#fcae91"],
  "few-pairs": ["#00441b", "#238b45", "#74c476", "#a1d99b"],
};

/**
 * The frontier: gold (left) and proxy gain (right) against d = sqrt(KL), every method and setting, the fitted laws
 * dashed. Gains are over each method's baseline (frontierBaseline: best-of-n's own n = 1 draws, PPO's SFT
 * evaluation); each PPO line starts at the SFT evaluation, best-of-n's at n = 1. Proxy gains are in each reward
 * model's own units, so they compare within a model only.
 */
export function frontierFigure(r: StudyResult, which: "gold" | "proxy" = "gold"): Figure {
  const data: Figure["data"] = [];
  const groups = new Map<string, FrontierPoint[]>();
  for (const p of r.points.filter((q) => q.method !== "sft")) {
    const key = `${p.rm} ${p.method === "bon" ? "best-of-n" : p.setting}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  const runIndex = new Map<string, number>();
  for (const [key, ps] of groups) {
    const rm = ps[0].rm, bon = ps[0].method === "bon";
    const base = frontierBaseline(r.points, rm, bon ? "bon" : "ppo") ?? ps[0];
    const pts = bon ? ps : [base, ...ps];
    const k = bon ? 0 : (runIndex.get(rm) ?? 0);
    if (!bon) runIndex.set(rm, k + 1);
    const color = bon ? (COLORS[rm] ?? "#555") : (SHADES[rm]?.[k % 4] ?? COLORS[rm] ?? "#555");
    data.push({ type: "scatter", mode: "lines+markers", name: `${key.replace(/^[\w-]+ /, "")} (${rm} RM)`, x: pts.map((p) => p.d),
      y: pts.map((p) => (which === "gold" ? p.gold : p.proxy - base.proxy)), line: { color, dash: bon ? "dot" : "solid", width: bon ? 3 : 1.5 },
      marker: { size: 5 } });
  }
  if (which === "gold") {
    for (const [key, f] of Object.entries(r.fits)) {
      const [rm, method] = key.split("/");
      const base = frontierBaseline(r.points, rm, method === "bon" ? "bon" : "ppo");
      if (!base) continue;
      const dMax = Math.max(...r.points.filter((p) => p.rm === rm && p.method === method).map((p) => p.d));
      const xs = Array.from({ length: 40 }, (_, i) => (dMax * (i + 1)) / 40);
      data.push({ type: "scatter", mode: "lines", name: `fit ${key} (R² ${f.r2.toFixed(2)})`, x: xs, y: xs.map((d) => base.gold + gaoCurve(f, d)),
        line: { color: COLORS[rm] ?? "#555", dash: "dash", width: 1 }, opacity: 0.6 });
    }
  }
  return {
    data,
    layout: {
      title: { text: which === "gold" ? "Gold reward against the distance from SFT" : "Proxy reward gain against the distance from SFT" },
      xaxis: { title: { text: "d = sqrt(KL(policy || SFT)), nats^1/2" } },
      yaxis: { title: { text: which === "gold" ? "gold score (VADER), held-out prompts" : "proxy gain over the method's baseline (each RM's own units)" } },
      height: 480,
    },
  };
}

const METHOD_COLORS: Record<string, string> = { ppo: "#1f77b4", grpo: "#ff7f0e", rloo: "#2ca02c", reinforce_pp: "#9467bd", dr_grpo: "#8c564b", dpo: "#d62728" };

/**
 * Every method's held-out evaluations on the study's frontier: gold against d = sqrt(KL), one line per run (seeds
 * after the first dashed), with the study's best-of-n and PPO KL sweep (course reward model) as grey references.
 */
export function compareFigure(study: StudyResult | undefined, r: CompareResult): Figure {
  const data: Figure["data"] = [];
  if (study) {
    const bon = study.points.filter((p) => p.method === "bon" && p.rm === "course");
    data.push({ type: "scatter", mode: "lines+markers", name: "best-of-n (study)", x: bon.map((p) => p.d), y: bon.map((p) => p.gold), line: { color: "#999", dash: "dot", width: 3 }, marker: { size: 5 } });
    const sweep = study.points.filter((p) => p.method === "ppo" && p.rm === "course");
    data.push({ type: "scatter", mode: "markers", name: "PPO KL sweep (study)", x: sweep.map((p) => p.d), y: sweep.map((p) => p.gold), marker: { color: "#bbb", size: 6 } });
  }
  const seen = new Set<string>();
  for (const run of r.runs) {
    const first = !seen.has(run.method);
    seen.add(run.method);
    const name = run.method === "dpo" ? `DPO ${run.setting}` : `${run.method.toUpperCase().replace("REINFORCE_PP", "REINFORCE++")} ${run.setting}`;
    data.push({ type: "scatter", mode: "lines+markers", name, x: run.points.map((p) => p.d), y: run.points.map((p) => p.gold),
      line: { color: METHOD_COLORS[run.method] ?? "#555", dash: first ? "solid" : "dash", width: 2 }, marker: { size: 5 } });
  }
  return {
    data,
    layout: {
      title: { text: "PPO, GRPO, RLOO, REINFORCE++ and DPO on the over-optimisation frontier" },
      xaxis: { title: { text: "d = sqrt(KL(policy || SFT)), nats^1/2" } },
      yaxis: { title: { text: "gold score (VADER), held-out prompts" } },
      height: 500,
    },
  };
}

/**
 * The compute curve: one line per pretraining run (lib/pipeline/curve.ts), the SFT model's held-out bits per character
 * (or its fluency) against the pretraining minutes each point cost on an idle machine (steps x idle ms per step), log x.
 * `marks` adds single points, e.g. the short base of notebook 01.
 */
export function computeCurveFigure(curves: { run: ComputeCurveRun; rows: CurveRow[] }[], which: "sft_bpc" | "fluency" = "sft_bpc",
  marks: { name: string; minutes: number; value: number }[] = []): Figure {
  const data: Figure["data"] = curves.map(({ run, rows }) => ({
    type: "scatter", mode: "lines+markers", name: `${run.label} (${(run.params / 1e6).toFixed(2)} M)`,
    x: rows.map((r) => (r.steps * run.idle_ms_per_step) / 60000), y: rows.map((r) => r[which]), marker: { size: 7 },
  }));
  for (const m of marks) data.push({ type: "scatter", mode: "markers", name: m.name, x: [m.minutes], y: [m.value], marker: { size: 12 } });
  return {
    data,
    layout: {
      title: { text: which === "sft_bpc" ? "SFT held-out bits per character against pretraining time" : "SFT fluency (share of real words) against pretraining time" },
      xaxis: { title: { text: "pretraining minutes on 2 idle cores (log scale)" }, type: "log" },
      yaxis: { title: { text: which === "sft_bpc" ? "bits per character, 292 held-out reviews (lower is better)" : "share of real words, new prompts, temperature 1" } },
      height: 440,
    },
  };
}
