import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import {
  aggregateTokenLoss,
  entropyFromLogits,
  explainedVariance,
  maskedEntropy,
  maskedMean,
  maskedVar,
  ppoPolicyLoss,
  valueLoss,
  whiten,
} from "../lib/rl/ppo";
import { assertClose } from "./helpers";

const num = (x: tf.Tensor): number => x.dataSync()[0];

before(async () => {
  await initBackend();
});

describe("masked statistics", () => {
  // real values 1, 2, 3, 4; padding holds garbage (NaN included)
  const x = () => tf.tensor2d([[1, 2, 3, 99], [4, NaN, -7, 1e30]]);
  const mask = () => tf.tensor2d([[1, 1, 1, 0], [1, 0, 0, 0]]);

  it("maskedMean = sum(x * mask) / sum(mask), padding ignored even when NaN", () => {
    assertClose([num(maskedMean(x(), mask()))], [2.5]);
  });

  it("maskedVar: unbiased by default (Bessel), or the population variance", () => {
    // squared deviations 2.25, 0.25, 0.25, 2.25: sum 5 -> 5/3 unbiased, 5/4 population
    assertClose([num(maskedVar(x(), mask()))], [5 / 3]);
    assertClose([num(maskedVar(x(), mask(), false))], [1.25]);
  });

  it("whiten: zero mean and unit (unbiased) variance over real tokens, padding exactly 0", () => {
    const w = whiten(x(), mask());
    // (x - 2.5) / sqrt(5/3)
    const s = Math.sqrt(5 / 3);
    assertClose(w.dataSync(), [-1.5 / s, -0.5 / s, 0.5 / s, 0, 1.5 / s, 0, 0, 0]);
    assertClose([num(maskedMean(w, mask()))], [0], 1e-6);
    assertClose([num(maskedVar(w, mask()))], [1], 1e-5);
  });

  it("whiten on a larger random batch: mean 0, variance 1 over real tokens", () => {
    const big = tf.add(tf.mul(tf.randomNormal([8, 12], 0, 1, "float32", 3), 3), 5) as tf.Tensor2D;
    const lens = [12, 1, 5, 7, 12, 3, 9, 2];
    const m = tf.tensor2d(lens.flatMap((l) => Array.from({ length: 12 }, (_, j) => (j < l ? 1 : 0))), [8, 12]);
    const w = whiten(big, m);
    assertClose([num(maskedMean(w, m)), num(maskedVar(w, m))], [0, 1], 1e-5);
    const padded = Array.from(w.dataSync()).filter((_, i) => m.dataSync()[i] === 0);
    assert.ok(padded.length > 0 && padded.every((v) => v === 0));
  });

  it("whiten with shiftMean = false keeps the mean (only rescales)", () => {
    const w = whiten(x(), mask(), false);
    assertClose([num(maskedMean(w, mask()))], [2.5]);
    assertClose([num(maskedVar(w, mask()))], [1], 1e-5);
  });

  it("explained variance = 1 - Var(R - V) / Var(R)", () => {
    // R = 1, 3, 2 (Var 1); R - V = -0.5, 0.5, 0 (Var 0.25) -> 0.75
    const v = tf.tensor2d([[1.5, 2.5], [2, NaN]]);
    const r = tf.tensor2d([[1, 3], [2, 8]]);
    assertClose([num(explainedVariance(v, r, tf.tensor2d([[1, 1], [1, 0]])))], [0.75]);
  });
});

describe("aggregateTokenLoss (ppo.loss_type)", () => {
  // real values: row 0 = 1, 2, 3 (length 3), row 1 = 4 (length 1); padding holds garbage, NaN included
  const x = () => tf.tensor2d([[1, 2, 3, 99], [4, NaN, -7, 1e30]]);
  const mask = () => tf.tensor2d([[1, 1, 1, 0], [1, 0, 0, 0]]);

  it("dapo: one mean over every real token, (1 + 2 + 3 + 4) / 4, the same as maskedMean", () => {
    assertClose([num(aggregateTokenLoss(x(), mask(), "dapo", 4))], [2.5]);
    assert.equal(num(aggregateTokenLoss(x(), mask(), "dapo", 4)), num(maskedMean(x(), mask())));
  });
  it("grpo: each response's token mean, then the mean over responses, (6 / 3 + 4 / 1) / 2", () => {
    assertClose([num(aggregateTokenLoss(x(), mask(), "grpo", 4))], [3]);
  });
  it("dr_grpo: the token sum over responses x max length, 10 / (2 x 4); 10 / (2 x 5) at max length 5", () => {
    assertClose([num(aggregateTokenLoss(x(), mask(), "dr_grpo", 4))], [1.25]);
    assertClose([num(aggregateTokenLoss(x(), mask(), "dr_grpo", 5))], [1]);
    assert.throws(() => aggregateTokenLoss(x(), mask(), "dr_grpo", 0), /maxLen \(ppo\.max_new_tokens\) >= 1/);
  });
  it("gradients: 1 / (responses x its length) per real token (grpo), 1 / (responses x max length) (dr_grpo), 0 on padding", () => {
    for (const [type, want] of [
      ["grpo", [1 / 6, 1 / 6, 1 / 6, 0, 1 / 2, 0, 0, 0]],
      ["dr_grpo", [1 / 8, 1 / 8, 1 / 8, 0, 1 / 8, 0, 0, 0]],
      ["dapo", [1 / 4, 1 / 4, 1 / 4, 0, 1 / 4, 0, 0, 0]],
    ] as const) {
      const v = tf.variable(x());
      const { value, grads } = tf.variableGrads(() => aggregateTokenLoss(v, mask(), type, 4), [v]);
      assertClose(grads[v.name].dataSync(), [...want]);
      tf.dispose([v, value, ...Object.values(grads)]);
    }
  });
  it("a response with no real token adds 0 under grpo, not NaN", () => {
    assertClose([num(aggregateTokenLoss(x(), tf.tensor2d([[1, 1, 1, 0], [0, 0, 0, 0]]), "grpo", 4))], [1]);
  });
});

describe("ppoPolicyLoss", () => {
  // ratios and advantages chosen for every case (eps = 0.2); old log-probs 0 so logp = ln(ratio).
  // row 0 (A = +2):  1.1 inside           -> -2.2        gradient -A*r/N
  //                  1.5 above 1.2        -> -2.4        clipped term wins: gradient 0, counted
  //                  0.5 below 0.8        -> -1.0        unclipped wins (min picks 0.5*A): gradient, not counted
  //                  padding (garbage)
  // row 1 (A = -3):  0.9 inside           -> 2.7
  //                  0.5 below 0.8        -> 2.4         clipped term wins: gradient 0, counted
  //                  1.5 above 1.2        -> 4.5         unclipped wins: gradient, not counted
  //        (A = 0):  1.0                  -> 0           never counted
  // N = 7 real tokens; loss = (-2.2 - 2.4 - 1.0 + 2.7 + 2.4 + 4.5 + 0) / 7 = 4 / 7
  const ratios = [[1.1, 1.5, 0.5, Math.exp(30)], [0.9, 0.5, 1.5, 1.0]];
  const logp = () => tf.tensor2d(ratios.map((row) => row.map(Math.log)));
  const logpWithNaNPadding = () => tf.tensor2d([[Math.log(1.1), Math.log(1.5), Math.log(0.5), NaN], [Math.log(0.9), Math.log(0.5), Math.log(1.5), 0]]);
  const old = () => tf.tensor2d([[0, 0, 0, -Infinity], [0, 0, 0, 0]]);
  const adv = () => tf.tensor2d([[2, 2, 2, 1e6], [-3, -3, -3, 0]]);
  const mask = () => tf.tensor2d([[1, 1, 1, 0], [1, 1, 1, 1]]);

  it("loss = masked mean of -min(ratio*A, clip(ratio)*A) inside and outside the clip range, A > 0 and A < 0", () => {
    const { loss } = ppoPolicyLoss(logp(), old(), adv(), mask(), 0.2);
    assertClose([num(loss)], [4 / 7]);
  });

  it("loss_type grpo: (row 0's mean (-2.2 - 2.4 - 1.0) / 3 + row 1's (2.7 + 2.4 + 4.5 + 0) / 4) / 2 = 4 / 15; dr_grpo: 4 / (2 x 5)", () => {
    assertClose([num(ppoPolicyLoss(logp(), old(), adv(), mask(), 0.2, { lossType: "grpo", maxLen: 5 }).loss)], [4 / 15]);
    assertClose([num(ppoPolicyLoss(logp(), old(), adv(), mask(), 0.2, { lossType: "dr_grpo", maxLen: 5 }).loss)], [4 / 10]);
    assertClose([num(ppoPolicyLoss(logp(), old(), adv(), mask(), 0.2, { lossType: "dapo", maxLen: 5 }).loss)], [4 / 7]);
    // the diagnostics stay token means whatever the loss type
    assertClose([num(ppoPolicyLoss(logp(), old(), adv(), mask(), 0.2, { lossType: "grpo", maxLen: 5 }).clipfrac)], [2 / 7]);
  });

  it("clipfrac counts the tokens where the clipped term won (TRL's pg_losses2 > pg_losses): 2 of 7", () => {
    const { clipfrac } = ppoPolicyLoss(logp(), old(), adv(), mask(), 0.2);
    assertClose([num(clipfrac)], [2 / 7]);
    // |ratio - 1| > eps would have said 4 / 7: the harmless-side tokens are not counted here
  });

  it("approxKl = masked mean of 0.5 * (logp - old)^2", () => {
    const { approxKl } = ppoPolicyLoss(logp(), old(), adv(), mask(), 0.2);
    const real = [1.1, 1.5, 0.5, 0.9, 0.5, 1.5, 1.0];
    const expected = real.reduce((s, r) => s + 0.5 * Math.log(r) ** 2, 0) / 7;
    assertClose([num(approxKl)], [expected]);
  });

  it("ratio = 1 everywhere (first epoch): loss = -mean(A), nothing clipped, approxKl 0", () => {
    const z = tf.zeros([2, 4]) as tf.Tensor2D;
    const out = ppoPolicyLoss(z, z, adv(), mask(), 0.2);
    assertClose([num(out.loss), num(out.clipfrac), num(out.approxKl)], [-(2 * 3 - 3 * 3 + 0) / 7, 0, 0]);
  });

  it("gradient w.r.t. logprobs inside tf.variableGrads: 0 where clipped, -A*ratio/N where not, 0 on padding", () => {
    for (const makeLogp of [logp, logpWithNaNPadding]) {
      const lp = tf.variable(makeLogp());
      let clipfrac: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const out = ppoPolicyLoss(lp as unknown as tf.Tensor2D, old(), adv(), mask(), 0.2);
        clipfrac = tf.keep(out.clipfrac); // diagnostics survive variableGrads only when kept
        return out.loss;
      }, [lp]);
      assertClose([num(value)], [4 / 7]);
      assertClose([num(clipfrac!)], [2 / 7]);
      const g = grads[lp.name].dataSync();
      assertClose(g, [(-2 * 1.1) / 7, 0, (-2 * 0.5) / 7, 0, (3 * 0.9) / 7, 0, (3 * 1.5) / 7, 0]);
      lp.dispose();
    }
  });

  it("rejects mismatched shapes", () => {
    assert.throws(() => ppoPolicyLoss(logp(), tf.zeros([2, 3]) as tf.Tensor2D, adv(), mask(), 0.2), /oldLogprobs has shape \[2,3\]/);
  });
});

describe("valueLoss", () => {
  // clip 0.2; per token (v, old, R): squared error, clipped value and its squared error, max
  //   (1.0, 0.9, 1.5): 0.25, v - old = 0.1 inside -> same 0.25                         -> 0.25
  //   (0.5, 0.5, 0.0): 0.25, same                                                      -> 0.25
  //   (2.0, 1.0, 1.0): 1.00, vClip = 1.2 -> 0.04: unclipped larger, not counted       -> 1.00
  //   (0.0, 0.0, 1.0): 1.00, same                                                      -> 1.00
  //   (3.0, 2.0, 3.5): 0.25, vClip = 2.2 -> 1.69: clipped larger, counted             -> 1.69
  //   padding (garbage)
  // loss = 0.5 * (0.25 + 0.25 + 1 + 1 + 1.69) / 5 = 0.419; vf clipfrac = 1/5
  const v = () => tf.tensor2d([[1.0, 0.5, 2.0], [0.0, 3.0, NaN]]);
  const old = () => tf.tensor2d([[0.9, 0.5, 1.0], [0.0, 2.0, 50]]);
  const ret = () => tf.tensor2d([[1.5, 0.0, 1.0], [1.0, 3.5, -50]]);
  const mask = () => tf.tensor2d([[1, 1, 1], [1, 1, 0]]);

  it("clipped: 0.5 * masked mean of max((v - R)^2, (clip(v) - R)^2), and its clipfrac", () => {
    const out = valueLoss(v(), old(), ret(), mask(), 0.2);
    assertClose([num(out.loss), num(out.clipfrac)], [0.419, 0.2]);
  });

  it("unclipped (clip = null): 0.5 * masked mean of (v - R)^2, clipfrac 0", () => {
    const out = valueLoss(v(), old(), ret(), mask(), null);
    assertClose([num(out.loss), num(out.clipfrac)], [0.5 * (0.25 + 0.25 + 1 + 1 + 0.25) / 5, 0]);
  });

  it("gradient w.r.t. values: (v - R)/N where unclipped wins, 0 where the clipped error wins", () => {
    const vv = tf.variable(tf.tensor2d([[1.0, 0.5, 2.0], [0.0, 3.0, 0]]));
    const { grads } = tf.variableGrads(() => valueLoss(vv as unknown as tf.Tensor2D, old(), ret(), mask(), 0.2).loss, [vv]);
    // d/dv 0.5 * (v - R)^2 / 5 = (v - R) / 5
    assertClose(grads[vv.name].dataSync(), [-0.5 / 5, 0.5 / 5, 1 / 5, -1 / 5, 0, 0]);
    vv.dispose();
  });
});

describe("entropy", () => {
  it("per token: ln V for uniform logits, 0.5 ln 2 + 0.5 ln 4 for p = (0.5, 0.25, 0.25, 0)", () => {
    const logits = tf.tensor3d([[[0, 0, 0, 0], [Math.log(0.5), Math.log(0.25), Math.log(0.25), -1e9]]]);
    assertClose(entropyFromLogits(logits).dataSync(), [Math.log(4), 0.5 * Math.log(2) + 0.5 * Math.log(4)]);
  });

  it("masked mean over real tokens; logits shifted by a constant give the same entropy", () => {
    const logits = tf.tensor3d([[[100, 100, 100, 100], [7, 7, 7, 7]], [[1, 2, 3, 4], [NaN, 0, 0, 0]]]);
    const mask = tf.tensor2d([[1, 1], [1, 0]]);
    const p = [1, 2, 3, 4].map((l) => Math.exp(l));
    const z = p.reduce((a, b) => a + b, 0);
    const h = -p.reduce((s, pi) => s + (pi / z) * Math.log(pi / z), 0);
    assertClose([num(maskedEntropy(logits, mask))], [(2 * Math.log(4) + h) / 3]);
  });
});
