// Notebook 11's charts (RL with verifiable rewards): curves averaged over a method's seeds with their standard error as
// error bars, pass@k curves before and after RL, and the entropy-reward scatter with Cui et al. 2025's fit.
import type { Figure, Trace } from "./viz";
import { mean, standardError } from "../core/stats";
import { type RlvrArmResult, type RlvrMethod, type RlvrResult, RLVR_METHOD_LABELS, fitEntropyReward } from "../studies/rlvr";

const COLORS: Record<RlvrMethod, string> = {
  grpo: "#ff7f0e", rloo: "#2ca02c", reinforce: "#9467bd", grpo_loss_grpo: "#1f77b4", grpo_loss_dr_grpo: "#d62728",
  digit_bonus: "#8c564b", too_easy: "#17becf", too_hard: "#7f7f7f",
};

/** The runs of one method, in seed order. */
export function runsOf(res: RlvrResult, method: RlvrMethod): RlvrArmResult[] {
  return res.arms.filter((a) => a.arm.method === method);
}

/** Mean and standard error across runs of values read at the same x in every run (x from the first run). */
export function meanAcross(runs: RlvrArmResult[], series: (a: RlvrArmResult) => { x: number[]; y: number[] }): { x: number[]; y: number[]; se: number[] } {
  const all = runs.map(series);
  const x = all[0]?.x ?? [];
  const at = x.map((_, i) => all.map((s) => s.y[i]).filter((v) => Number.isFinite(v)));
  return { x, y: at.map((v) => mean(v)), se: at.map((v) => standardError(v)) };
}

export interface MethodCurveOptions {
  title: string;
  yTitle: string;
  xTitle?: string;
  methods: RlvrMethod[];
  /** one run's curve */
  series: (a: RlvrArmResult) => { x: number[]; y: number[] };
  /** y on a second axis (dotted): another curve of the same runs */
  right?: { name: string; series: (a: RlvrArmResult) => { x: number[]; y: number[] }; title: string };
  yRange?: [number, number];
}

/** One line per method, the mean over its seeds, with error bars of one standard error across them (none for one seed). */
export function methodCurveFigure(res: RlvrResult, o: MethodCurveOptions): Figure {
  const data: Trace[] = [];
  for (const m of o.methods) {
    const runs = runsOf(res, m);
    if (!runs.length) continue;
    const c = meanAcross(runs, o.series);
    const seeds = runs.length > 1 ? ` (${runs.length} seeds)` : "";
    data.push({ type: "scatter", mode: "lines+markers", name: RLVR_METHOD_LABELS[m] + seeds, x: c.x, y: c.y, line: { color: COLORS[m], width: 2 }, marker: { size: 4 },
      ...(runs.length > 1 ? { error_y: { type: "data", array: c.se, visible: true, thickness: 1 } } : {}) });
    if (o.right) {
      const r = meanAcross(runs, o.right.series);
      data.push({ type: "scatter", mode: "lines", name: `${o.right.name}, ${RLVR_METHOD_LABELS[m]}`, x: r.x, y: r.y, yaxis: "y2", line: { color: COLORS[m], dash: "dot", width: 1.5 } });
    }
  }
  return {
    data,
    layout: {
      title: { text: o.title }, height: 440,
      xaxis: { title: { text: o.xTitle ?? "completions sampled" } },
      yaxis: { title: { text: o.yTitle }, ...(o.yRange ? { range: o.yRange } : {}) },
      ...(o.right ? { yaxis2: { title: { text: o.right.title }, overlaying: "y", side: "right", automargin: true } } : {}),
      legend: { orientation: "h", y: -0.25 },
    },
  };
}

/** pass@k against k (log axis): the start model, then each method after RL (mean over seeds, error bars across them). */
export function passAtKFigure(res: RlvrResult, methods: RlvrMethod[]): Figure {
  const curve = (e: RlvrArmResult["after"]) => ({ x: (e.pass_at_k ?? []).map((p) => p.k), y: (e.pass_at_k ?? []).map((p) => p.mean) });
  const sft = res.sft.edge.pass_at_k ?? [];
  const data: Trace[] = [{ type: "scatter", mode: "lines+markers", name: "SFT (the start of every run)", x: sft.map((p) => p.k), y: sft.map((p) => p.mean),
    line: { color: "#000", dash: "dash", width: 2 }, error_y: { type: "data", array: sft.map((p) => p.se), visible: true, thickness: 1 } }];
  for (const m of methods) {
    const runs = runsOf(res, m).filter((a) => a.after.pass_at_k);
    if (!runs.length) continue;
    const c = meanAcross(runs, (a) => curve(a.after));
    data.push({ type: "scatter", mode: "lines+markers", name: `${RLVR_METHOD_LABELS[m]} after RL`, x: c.x, y: c.y, line: { color: COLORS[m], width: 2 },
      ...(runs.length > 1 ? { error_y: { type: "data", array: c.se, visible: true, thickness: 1 } } : {}) });
  }
  return {
    data,
    layout: {
      title: { text: "pass@k on the held-out problems, before and after RL (unbiased estimator)" }, height: 440,
      xaxis: { title: { text: "k (samples allowed per problem)" }, type: "log" },
      yaxis: { title: { text: "pass@k" }, range: [0, 1.02] },
      legend: { orientation: "h", y: -0.25 },
    },
  };
}

/** Every iteration's (entropy, reward) of the given methods' runs, with R = -a e^H + b fitted to them all. */
export function entropyRewardFigure(res: RlvrResult, methods: RlvrMethod[]): { figure: Figure; fit: ReturnType<typeof fitEntropyReward> } {
  const runs = methods.flatMap((m) => runsOf(res, m));
  const h = runs.flatMap((a) => a.rows.map((r) => r.entropy)), rw = runs.flatMap((a) => a.rows.map((r) => r.reward));
  const fit = fitEntropyReward(h, rw);
  const data: Trace[] = runs.map((a) => ({
    type: "scatter", mode: "markers", name: a.arm.name, x: a.rows.map((r) => r.entropy), y: a.rows.map((r) => r.reward),
    marker: { color: COLORS[a.arm.method], size: 5 }, opacity: 0.7,
  }));
  const lo = Math.min(...h), hi = Math.max(...h);
  const xs = Array.from({ length: 50 }, (_, i) => lo + ((hi - lo) * i) / 49);
  data.push({ type: "scatter", mode: "lines", name: `fit R = -${fit.a.toFixed(3)} e^H + ${fit.b.toFixed(3)} (R² ${fit.r2.toFixed(2)})`, x: xs, y: xs.map((x) => -fit.a * Math.exp(x) + fit.b), line: { color: "#000", width: 2 } });
  return {
    figure: {
      data,
      layout: {
        title: { text: "reward against entropy, one point per RL iteration" }, height: 440,
        xaxis: { title: { text: "entropy H (nats per token, the update's samples)" } }, yaxis: { title: { text: "reward (share of exact answers)" } },
        legend: { orientation: "h", y: -0.25 },
      },
    },
    fit,
  };
}
