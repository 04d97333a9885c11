import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../lib/core/rng";

test("same seed, same sequence; different seeds differ", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xa = Array.from({ length: 20 }, () => a.next());
  const xb = Array.from({ length: 20 }, () => b.next());
  const xc = Array.from({ length: 20 }, () => c.next());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  for (const x of xa) assert.ok(x >= 0 && x < 1);
});

test("uniform mean/variance and normal moments are right (n = 200k)", () => {
  const r = new Rng(7);
  const n = 200_000;
  let s = 0, s2 = 0;
  for (let i = 0; i < n; i++) { const x = r.next(); s += x; s2 += x * x; }
  assert.ok(Math.abs(s / n - 0.5) < 0.005);
  assert.ok(Math.abs(s2 / n - (s / n) ** 2 - 1 / 12) < 0.003);
  let m = 0, m2 = 0;
  for (let i = 0; i < n; i++) { const z = r.normal(2, 3); m += z; m2 += z * z; }
  const mean = m / n, variance = m2 / n - mean * mean;
  assert.ok(Math.abs(mean - 2) < 0.03, `normal mean ${mean}`);
  assert.ok(Math.abs(variance - 9) < 0.15, `normal variance ${variance}`);
});

test("int covers [0,n) uniformly; intBetween is inclusive", () => {
  const r = new Rng(1);
  const counts = new Array(5).fill(0);
  for (let i = 0; i < 50_000; i++) counts[r.int(5)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `count ${c}`);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) seen.add(r.intBetween(2, 4));
  assert.deepEqual([...seen].sort(), [2, 3, 4]);
  assert.throws(() => r.int(0));
});

test("categorical follows the weights and never picks a zero weight", () => {
  const r = new Rng(3);
  const w = [1, 0, 3];
  const counts = [0, 0, 0];
  for (let i = 0; i < 40_000; i++) counts[r.categorical(w)]++;
  assert.equal(counts[1], 0);
  assert.ok(Math.abs(counts[2] / 40_000 - 0.75) < 0.01, `p2 ${counts[2] / 40_000}`);
  assert.throws(() => r.categorical([0, 0]));
  assert.throws(() => r.categorical([1, NaN]));
});

test("shuffle is a permutation and depends on the seed", () => {
  const p = new Rng(5).permutation(100);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(new Rng(5).permutation(100), p);
  assert.notDeepEqual(new Rng(6).permutation(100), p);
});

test("fork depends on seed and label only, not on draws made before", () => {
  const a = new Rng(9);
  const f1 = a.fork("init").next();
  a.next(); a.next();
  assert.equal(a.fork("init").next(), f1);
  assert.notEqual(a.fork("batches").next(), f1);
  assert.notEqual(new Rng(10).fork("init").next(), f1);
});
