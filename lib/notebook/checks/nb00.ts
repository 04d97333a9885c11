// Checks of notebook 00's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and the
// library's on the same random inputs and says where they differ.
import * as tf from "@tensorflow/tfjs";
import { assertClose, check, CheckFailure, randomMask, randomMatrix, scalarValue } from "../exercise";
import { crossEntropy } from "../../lm/model-kernels";
import { maskedMean } from "../../rl/ppo";
import { Rng } from "../../core/rng";


/** The learner's masked mean: x and mask [B, T] (mask 1 = real token), a scalar out. */
export type MaskedMeanExercise = (x: tf.Tensor2D, mask: tf.Tensor2D) => tf.Tensor | number;

/** 00.1: sum(x * mask) / sum(mask) over the whole batch, against lib/rl/ppo maskedMean on 10 random right-padded batches. */
export function checkMaskedMean(yours: MaskedMeanExercise, print?: (line: string) => void): void {
  check("00.1", "masked mean", () => {
    const rng = new Rng(1);
    for (let k = 0; k < 10; k++) {
      const b = 2 + rng.int(4), t = 3 + rng.int(6);
      const m = randomMask(rng, b, t);
      const xs = randomMatrix(rng, b, t, 0.5, 1, m); // garbage (7 to 10) at padded positions
      const want = tf.tidy(() => maskedMean(tf.tensor2d(xs), tf.tensor2d(m)).dataSync()[0]);
      const x = tf.tensor2d(xs), mask = tf.tensor2d(m);
      let got: tf.Tensor | number;
      try {
        got = yours(x, mask);
      } finally {
        tf.dispose([x, mask]);
      }
      const value = scalarValue(got, `batch ${k}`);
      if (!Number.isFinite(value)) throw new CheckFailure(`batch ${k} (${b} rows, ${t} tokens): yours is ${value}`);
      assertClose(`masked mean of batch ${k} (${b} rows of ${t} tokens, ${m.flat().filter((v) => v === 1).length} real)`, value, want);
    }
    return "agrees with lib/rl/ppo maskedMean on 10 random right-padded batches with garbage at the padding";
  }, print);
}

/** The learner's gradient of L(z) = -log softmax(z)_y with respect to the logits z (plain numbers in and out). */
export type CeGradExercise = (logits: number[], y: number) => number[];

/** 00.2: dL/dz = softmax(z) - onehot(y), against tf.grad of lib/lm/model crossEntropy on 12 random logit vectors. */
export function checkCeGrad(yours: CeGradExercise, print?: (line: string) => void): void {
  check("00.2", "cross-entropy gradient by hand", () => {
    const rng = new Rng(2);
    for (let k = 0; k < 12; k++) {
      const v = 2 + rng.int(7);
      const scale = [0.5, 2, 8][k % 3];
      const z = Array.from({ length: v }, () => rng.normal(0, scale));
      const y = rng.int(v);
      const want = tf.tidy(() => {
        const loss = (l: tf.Tensor) => crossEntropy(l.reshape([1, 1, v]) as tf.Tensor3D, tf.tensor2d([[y]], [1, 1], "int32"));
        return Array.from(tf.grad(loss)(tf.tensor1d(z)).dataSync());
      });
      const got = yours(z.slice(), y);
      assertClose(`gradient for logits [${z.map((x) => x.toFixed(2)).join(", ")}], y = ${y}`, got, want, { labels: ["logit"], atol: 1e-4 });
    }
    return "agrees with tf.grad of lib/lm/model crossEntropy on 12 random logit vectors (2 to 8 classes)";
  }, print);
}
