// Checks of notebook 01's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and the
// library's on the same random inputs and says where they differ.
import * as tf from "@tensorflow/tfjs";
import { assertClose, check, CheckFailure, randomMask, scalarValue } from "../exercise";
import { crossEntropy } from "../../lm/model-kernels";
import { Rng } from "../../core/rng";
import { trainTokenizer, FIRST_MERGE } from "../../lm/tokenizer";


/** The learner's masked next-token cross-entropy: logits [B, T, V], targets [B, T] int32, mask [B, T] -> scalar. */
export type CrossEntropyExercise = (logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D) => tf.Tensor | number;

/** 01.1: -sum(mask * log p(target)) / sum(mask), against lib/lm/model crossEntropy on 10 random right-padded batches. */
export function checkCrossEntropy(yours: CrossEntropyExercise, print?: (line: string) => void): void {
  check("01.1", "masked next-token cross-entropy", () => {
    const rng = new Rng(101);
    for (let k = 0; k < 10; k++) {
      const b = 2 + rng.int(3), t = 3 + rng.int(5), v = 3 + rng.int(6);
      const m = randomMask(rng, b, t);
      const logitValues = Array.from({ length: b * t * v }, () => rng.normal(0, 2));
      const targetValues = Array.from({ length: b * t }, () => rng.int(v));
      const logits = tf.tensor3d(logitValues, [b, t, v]);
      const targets = tf.tensor2d(targetValues, [b, t], "int32");
      const mask = tf.tensor2d(m);
      try {
        const want = tf.tidy(() => crossEntropy(logits, targets, mask).dataSync()[0]);
        const got = yours(logits, targets, mask);
        const value = scalarValue(got, `batch ${k}`);
        if (!Number.isFinite(value)) throw new CheckFailure(`batch ${k}: yours is ${value}`);
        assertClose(`loss of batch ${k} (${b} rows of ${t} tokens, vocabulary ${v}, ${m.flat().filter((x) => x === 1).length} real targets)`, value, want);
      } finally {
        tf.dispose([logits, targets, mask]);
      }
    }
    return "agrees with lib/lm/model crossEntropy on 10 random right-padded batches";
  }, print);
}

/** The learner's BPE training: the first nMerges merges [a, b] learned from text (ids: bytes 0-255, merges 259+). */
export type BpeExercise = (text: string, nMerges: number) => [number, number][];

const SYLLABLES = ["lo", "w", "er", "new", "est", "wid", "a", "aa", "b", "th", "e", "in", "g"];

/** A random text of a few made-up words, each repeated a random number of times (ties and "aaa" included). */
function randomText(rng: Rng): string {
  const vocab = Array.from({ length: 3 + rng.int(5) }, () => Array.from({ length: 1 + rng.int(3) }, () => rng.choice(SYLLABLES)).join(""));
  const words: string[] = [];
  const n = 10 + rng.int(20);
  for (let i = 0; i < n; i++) words.push(rng.choice(vocab));
  return words.join(" ");
}

const show = (m: readonly [number, number][]) => m.map(([a, b]) => `(${a}, ${b})`).join(" ");

/** 01.2: the merges of lib/lm/tokenizer trainTokenizer, on Sennrich et al.'s example and 10 random small texts. */
export function checkBpeMerges(yours: BpeExercise, print?: (line: string) => void): void {
  check("01.2", "BPE merges", () => {
    const rng = new Rng(102);
    const texts = ["low low low low low lower lower newest newest newest newest newest newest widest widest widest"];
    for (let k = 0; k < 10; k++) texts.push(randomText(rng));
    texts.forEach((text, k) => {
      const n = k === 0 ? 10 : 3 + rng.int(8);
      const want = trainTokenizer(text, { kind: "bpe", vocab_size: FIRST_MERGE + n }).merges;
      const got = yours(text, n);
      if (!Array.isArray(got)) throw new CheckFailure(`text ${k}: expected an array of [a, b] merges, got ${typeof got}`);
      const i = want.findIndex((w, j) => !got[j] || got[j][0] !== w[0] || got[j][1] !== w[1]);
      if (i >= 0 || got.length !== want.length) {
        const at = i >= 0 ? i : Math.min(got.length, want.length);
        throw new CheckFailure(`text ${k} ${JSON.stringify(text.length > 60 ? text.slice(0, 60) + "..." : text)}, ${n} merges asked: ` +
          `merge ${at} (new token ${FIRST_MERGE + at}) differs: yours ${got[at] ? `(${got[at][0]}, ${got[at][1]})` : "none"}, ` +
          `expected ${want[at] ? `(${want[at][0]}, ${want[at][1]})` : "none"}; expected all: ${show(want)}; yours: ${show(got)}`);
      }
    });
    return "learns the same merges as lib/lm/tokenizer trainTokenizer on 11 texts (Sennrich et al.'s example and 10 random ones)";
  }, print);
}
