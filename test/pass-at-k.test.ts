// The unbiased pass@k estimator (Chen et al. 2021): equal to 1 - C(n-c, k)/C(n, k) computed exactly, unbiased for
// 1 - (1 - p)^k, and finite where the binomials themselves overflow.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { meanPassAtK, passAtK, passAtKGrid } from "../lib/rl/pass-at-k";

/** C(n, k) exactly, as a BigInt. */
function binom(n: number, k: number): bigint {
  if (k < 0 || k > n) return 0n;
  let r = 1n;
  for (let i = 1; i <= k; i++) r = (r * BigInt(n - k + i)) / BigInt(i);
  return r;
}

/** 1 - C(n-c, k)/C(n, k) from exact integers, to 15 significant digits. */
function exact(n: number, c: number, k: number): number {
  const num = binom(n - c, k), den = binom(n, k);
  const scale = 10n ** 18n;
  return 1 - Number((num * scale) / den) / 1e18;
}

describe("passAtK", () => {
  it("equals 1 - C(n-c,k)/C(n,k) computed with exact integers, up to n = 200", () => {
    for (const n of [1, 2, 5, 16, 64, 200]) {
      for (const c of [0, 1, 2, Math.floor(n / 3), n - 1, n].filter((x) => x >= 0 && x <= n)) {
        for (const k of [1, 2, 3, 8, 50, n].filter((x) => x <= n)) {
          const got = passAtK(n, c, k), want = exact(n, c, k);
          assert.ok(Math.abs(got - want) < 1e-12, `n ${n} c ${c} k ${k}: ${got} vs ${want}`);
        }
      }
    }
  });

  it("pass@1 is c/n; no correct sample gives 0; k above n - c gives 1", () => {
    assert.ok(Math.abs(passAtK(64, 16, 1) - 0.25) < 1e-15);
    assert.equal(passAtK(64, 0, 64), 0);
    assert.equal(passAtK(10, 3, 8), 1);
    assert.equal(passAtK(10, 10, 1), 1);
  });

  it("is unbiased: over c ~ Binomial(n, p) its expectation is 1 - (1 - p)^k", () => {
    const n = 20;
    for (const p of [0.05, 0.3, 0.8]) {
      for (const k of [1, 4, 20]) {
        let e = 0;
        for (let c = 0; c <= n; c++) e += Number(binom(n, c)) * p ** c * (1 - p) ** (n - c) * passAtK(n, c, k);
        assert.ok(Math.abs(e - (1 - (1 - p) ** k)) < 1e-12, `p ${p} k ${k}: E = ${e}`);
      }
    }
    // the plug-in 1 - (1 - c/n)^k is biased low at large k: the estimator this one replaces
    let plugIn = 0;
    for (let c = 0; c <= n; c++) plugIn += Number(binom(n, c)) * 0.05 ** c * 0.95 ** (n - c) * (1 - (1 - c / n) ** 20);
    assert.ok(plugIn < 1 - 0.95 ** 20 - 0.05, `plug-in ${plugIn}`);
  });

  it("stays finite where C(n, k) overflows a double (n = 3000)", () => {
    const v = passAtK(3000, 7, 1500);
    assert.ok(Number.isFinite(v) && v > 0.99 && v <= 1, String(v));
    assert.ok(Math.abs(passAtK(3000, 1, 1500) - 0.5) < 1e-12, "one correct in 3000, half drawn: 1/2");
  });

  it("increases with k and refuses impossible arguments", () => {
    let prev = 0;
    for (let k = 1; k <= 64; k++) {
      const v = passAtK(64, 5, k);
      assert.ok(v >= prev, `k ${k}`);
      prev = v;
    }
    assert.throws(() => passAtK(8, 9, 1), /c <= n/);
    assert.throws(() => passAtK(8, 2, 9), /k must be in/);
    assert.throws(() => passAtK(8, 2, 0), /k must be in/);
    assert.throws(() => passAtK(8, 2.5, 1), /integers/);
  });
});

describe("meanPassAtK and passAtKGrid", () => {
  it("averages over problems with the standard error of that mean", () => {
    const m = meanPassAtK([0, 4, 8], 8, 1);
    assert.equal(m.mean, 0.5);
    assert.ok(Math.abs(m.se - 0.5 / Math.sqrt(3)) < 1e-12, String(m.se)); // values 0, 0.5, 1: sd 0.5
    assert.throws(() => meanPassAtK([], 8, 1), /no problems/);
  });

  it("reads k = 1, 2, 4, ... and n itself", () => {
    assert.deepEqual(passAtKGrid(64), [1, 2, 4, 8, 16, 32, 64]);
    assert.deepEqual(passAtKGrid(12), [1, 2, 4, 8, 12]);
    assert.deepEqual(passAtKGrid(1), [1]);
  });
});
