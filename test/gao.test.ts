// lib/beyond/gao.ts: the bound on best-of-n's KL and the least-squares fits of Gao et al.'s over-optimisation laws.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bestOfNKl, fitGao, gaoCurve, gaoPeak } from "../lib/beyond/gao";

describe("bestOfNKl", () => {
  it("is log n - (n - 1)/n", () => {
    assert.equal(bestOfNKl(1), 0);
    assert.ok(Math.abs(bestOfNKl(2) - (Math.log(2) - 0.5)) < 1e-12); // 0.193
    assert.ok(Math.abs(bestOfNKl(64) - (Math.log(64) - 63 / 64)) < 1e-12); // 3.174
    assert.throws(() => bestOfNKl(0), /integer >= 1/);
  });
});

describe("fitGao", () => {
  it("recovers alpha and beta of exact best-of-n and RL curves, with R^2 = 1 and the peak", () => {
    const d = [0, 0.5, 1, 1.5, 2, 2.5, 3];
    const bon = fitGao("bon", d, d.map((x) => x * (0.8 - 0.2 * x)));
    assert.ok(Math.abs(bon.alpha - 0.8) < 1e-9 && Math.abs(bon.beta - 0.2) < 1e-9);
    assert.ok(Math.abs(bon.r2 - 1) < 1e-12);
    assert.ok(Math.abs(bon.dPeak - 2) < 1e-9); // 0.8 / (2 * 0.2)
    const rl = fitGao("rl", d, d.map((x) => (x > 0 ? x * (0.6 - 0.3 * Math.log(x)) : 0)));
    assert.ok(Math.abs(rl.alpha - 0.6) < 1e-9 && Math.abs(rl.beta - 0.3) < 1e-9);
    assert.ok(Math.abs(rl.dPeak - Math.exp(0.6 / 0.3 - 1)) < 1e-9);
    assert.ok(Math.abs(gaoCurve(rl, 1) - 0.6) < 1e-12);
  });
  it("on noisy points the fit is least squares: R^2 below 1, and a rising line has no peak", () => {
    const d = [0.2, 0.6, 1.0, 1.4, 1.8];
    const y = [0.15, 0.38, 0.52, 0.55, 0.50];
    const f = fitGao("bon", d, y);
    assert.ok(f.r2 > 0.9 && f.r2 < 1, `r2 ${f.r2}`);
    // the residuals are orthogonal to both features (the normal equations hold)
    const r = d.map((x, i) => y[i] - gaoCurve(f, x));
    assert.ok(Math.abs(r.reduce((s, e, i) => s + e * d[i], 0)) < 1e-9);
    assert.ok(Math.abs(r.reduce((s, e, i) => s + e * d[i] * d[i], 0)) < 1e-9);
    assert.equal(fitGao("bon", [1, 2, 3], [1, 2, 3]).dPeak, Infinity);
    assert.throws(() => fitGao("bon", [0, 0], [0, 0]), /do not determine/);
  });
  it("gaoPeak: d* only when the fitted gold has its maximum at d > 0 (a falling best-of-n fit has d* < 0: none)", () => {
    const d = [0.5, 1, 1.5, 2];
    const falling = fitGao("bon", d, d.map((x) => x * (-0.2 - 0.1 * x))); // alpha -0.2, beta 0.1: d* = -1
    assert.ok(Math.abs(falling.dPeak + 1) < 1e-9, `dPeak ${falling.dPeak}`);
    assert.equal(gaoPeak(falling), undefined);
    assert.equal(gaoPeak(fitGao("rl", d, d.map((x) => x * (0.3 + 0.1 * Math.log(x))))), undefined); // beta -0.1: no peak
    assert.ok(Math.abs(gaoPeak(fitGao("bon", d, d.map((x) => x * (0.8 - 0.2 * x))))! - 2) < 1e-9);
    assert.equal(gaoPeak({ dPeak: 0 }), undefined);
  });
});
