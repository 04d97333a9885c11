// The checks of notebook 04's exercises pass the library's answer, fail plausible wrong answers, and report a stub.
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { notDone } from "../lib/notebook/exercise";
import { checkEosForecast, checkResponseMask, checkTokenLogProbs, type EosForecastExercise, type ResponseMaskExercise, type TokenLogProbsExercise } from "../lib/notebook/checks/nb04";
import { assertCheckDiscriminates } from "./helpers";

const gathered = (logp: tf.Tensor3D, tokens: tf.Tensor2D) => tf.sum(tf.mul(logp, tf.oneHot(tf.cast(tokens, "int32"), logp.shape[2])), -1) as tf.Tensor2D;

describe("lib/notebook/checks/nb04", () => {
  it("04.1 log-probs: passes log_softmax(z/T) at the token, fails without the temperature, T after the log-softmax, and unmasked", () => {
    const right: TokenLogProbsExercise = (z, y, m, tau) => tf.tidy(() => tf.mul(gathered(tf.logSoftmax(tf.div(z, tau)) as tf.Tensor3D, y), m) as tf.Tensor2D);
    assertCheckDiscriminates(checkTokenLogProbs, right, {
      "forgets the temperature": (z, y, m) => right(z, y, m, 1),
      "divides after the log-softmax": (z, y, m, tau) => tf.tidy(() => tf.mul(tf.div(gathered(tf.logSoftmax(z) as tf.Tensor3D, y), tau), m) as tf.Tensor2D),
      "forgets the mask": (z, y, _m, tau) => tf.tidy(() => gathered(tf.logSoftmax(tf.div(z, tau)) as tf.Tensor3D, y)),
    }, () => notDone());
  });

  it("04.2 response mask: passes the first-EOS mask, fails one without the EOS, one for a row without EOS, one from the last EOS", () => {
    const maskFrom = (row: number[], end: number) => row.map((_, t) => (t < end ? 1 : 0));
    const right: ResponseMaskExercise = (tokens, eos) => tokens.map((row) => {
      const first = row.indexOf(eos);
      return maskFrom(row, first >= 0 ? first + 1 : row.length);
    });
    assertCheckDiscriminates(checkResponseMask, right, {
      "EOS not in the mask": (tokens, eos) => tokens.map((row) => {
        const first = row.indexOf(eos);
        return maskFrom(row, first >= 0 ? first : row.length);
      }),
      "a row without EOS gets mask 0": (tokens, eos) => tokens.map((row) => maskFrom(row, row.indexOf(eos) + 1)),
      "up to the last EOS": (tokens, eos) => tokens.map((row) => {
        const last = row.lastIndexOf(eos);
        return maskFrom(row, last >= 0 ? last + 1 : row.length);
      }),
    }, () => notDone());
  });
});

describe("lib/notebook/checks/nb04 04.3", () => {
  it("04.3 EOS forecast: passes the mean over rows of sum_t mask p_t, fails 1 - prod(1 - p), a mask-blind sum and the per-token mean", () => {
    const right: EosForecastExercise = (p, m) => p.reduce((s, row, b) => s + row.reduce((r, x, t) => r + x * m[b][t], 0), 0) / p.length;
    assertCheckDiscriminates(checkEosForecast, right, {
      "1 - prod_t (1 - p_t) over the real steps": (p, m) => p.reduce((s, row, b) => s + 1 - row.reduce((r, x, t) => r * (m[b][t] ? 1 - x : 1), 1), 0) / p.length,
      "sum over every step, padding too": (p) => p.reduce((s, row) => s + row.reduce((r, x) => r + x, 0), 0) / p.length,
      "mean EOS probability per real token": (p, m) => p.flat().reduce((s, x, i) => s + x * m.flat()[i], 0) / m.flat().reduce((s, x) => s + x, 0),
      "probability at the last real step only": (p, m) => p.reduce((s, row, b) => s + row[m[b].lastIndexOf(1)], 0) / p.length,
    }, () => notDone());
  });
});
