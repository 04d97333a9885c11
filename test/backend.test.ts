// lib/core/backend: the default choice here is the native backend, and the wasm fallback's two fixes compute the right
// numbers. The wasm checks run in child processes (TFJS_BACKEND=wasm) because a process holds one chosen backend.
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { BackendReport, formatBackendReport, initBackend } from "../lib/core/backend";

const ROOT = path.resolve(__dirname, "..");

/** Runs a TS snippet in a fresh node with the given environment and returns its last stdout line parsed as JSON. */
function runChild(code: string, env: Record<string, string>): unknown {
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `child failed:\n${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

describe("backend", () => {
  let rep: BackendReport;
  before(async () => {
    rep = await initBackend();
  });

  it("initBackend picks an available backend and is idempotent", async () => {
    assert.ok(["tensorflow-gpu", "tensorflow", "wasm", "cpu"].includes(rep.active));
    assert.equal(await initBackend(), rep);
    assert.equal(rep.tfjsVersion, "4.22.0");
    // Everything faster than the active one must be listed with a reason.
    const order = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"];
    const faster = order.slice(0, order.indexOf(rep.active));
    assert.deepEqual(rep.skipped.map((s) => s.name), faster);
    for (const s of rep.skipped) assert.ok(s.reason.length > 0);
    assert.match(formatBackendReport(rep), new RegExp(`^backend: ${rep.active}`));
  });

  it("uses native libtensorflow when tfjs-node is built (set-up builds it)", () => {
    if (process.env.TFJS_BACKEND) return; // forced runs test the forced backend instead
    assert.equal(rep.active, "tensorflow", formatBackendReport(rep));
    assert.match(rep.libtensorflow ?? "", /^\d+\.\d+\.\d+/);
  });

  it("computes a gradient by hand: d/dx sum(x^2 * w) = 2 x w", () => {
    const x = tf.tensor1d([1, -2, 3]);
    const w = tf.tensor1d([0.5, 1, 2]);
    const g = tf.grad((v: tf.Tensor) => v.square().mul(w).sum())(x);
    assert.deepEqual(Array.from(g.dataSync()), [1, -4, 12]);
    tf.dispose([x, w, g]);
  });

  it("rejects an unknown TFJS_BACKEND with the allowed names", () => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "-e", 'require("./lib/core/backend").initBackend().then(()=>process.exit(0),e=>{console.error(e.message);process.exit(3)})'],
      { cwd: ROOT, env: { ...process.env, TFJS_BACKEND: "webgl" }, encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(r.status, 3);
    assert.match(r.stderr, /TFJS_BACKEND=webgl is not a backend; allowed: tensorflow-gpu, tensorflow, wasm, cpu/);
  });

  it("wasm fallback: gather gradient (UnsortedSegmentSum) and untransposed matmul give the hand-computed values", () => {
    const code = `
      const tf = require("@tensorflow/tfjs");
      const { initBackend } = require("./lib/core/backend");
      (async () => {
        const rep = await initBackend();
        // d/dE sum(gather(E, [0, 2, 0]) * c): row 0 gets c0 + c2, row 2 gets c1, row 1 gets 0.
        const E = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
        const c = tf.tensor2d([[1, 10], [100, 1000], [7, 70]]);
        const gE = tf.grad((e) => tf.gather(e, tf.tensor1d([0, 2, 0], "int32")).mul(c).sum())(E);
        // matMul with both transposes: A^T B^T for A = [[1,2],[3,4]], B = [[5,6],[7,8]] -> [[23,31],[34,46]]
        const A = tf.tensor2d([[1, 2], [3, 4]]), B = tf.tensor2d([[5, 6], [7, 8]]);
        const tt = tf.matMul(A, B, true, true);
        const tb = tf.matMul(A, B, false, true); // A B^T = [[17,23],[39,53]]
        // batched, gradient through matMul: d/dA sum(A B) = ones B^T
        const gA = tf.grad((a) => tf.matMul(a, B).sum())(A); // [[11,15],[11,15]]
        const before = tf.memory().numTensors;
        tf.tidy(() => tf.matMul(A, B, true, false).dataSync());
        console.log(JSON.stringify({ active: rep.active, patches: rep.patches.length, gE: Array.from(gE.dataSync()),
          tt: Array.from(tt.dataSync()), tb: Array.from(tb.dataSync()), gA: Array.from(gA.dataSync()),
          leak: tf.memory().numTensors - before }));
      })();`;
    const out = runChild(code, { TFJS_BACKEND: "wasm" }) as Record<string, unknown>;
    assert.equal(out.active, "wasm");
    assert.equal(out.patches, 2);
    assert.deepEqual(out.gE, [8, 80, 0, 0, 100, 1000]);
    assert.deepEqual(out.tt, [23, 31, 34, 46]);
    assert.deepEqual(out.tb, [17, 23, 39, 53]);
    assert.deepEqual(out.gA, [11, 15, 11, 15]);
    assert.equal(out.leak, 0);
  });
});
