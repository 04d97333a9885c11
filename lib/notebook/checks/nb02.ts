// Checks of notebook 02's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and the
// library's on the same random inputs and says where they differ.
import * as tf from "@tensorflow/tfjs";
import { assertClose, check, CheckFailure } from "../exercise";
import { Demonstration } from "../../lm/data";
import { lrAt, ScheduleOptions } from "../../train/optim";
import { Rng } from "../../core/rng";
import { sftBatch, SftExample } from "../../train/sft";
import { pooledBitsPerChar } from "../../lm/fluency";

/**
 * The learner's SFT loss mask: each example's ids are [BOS, prompt..., response..., EOS] and promptLens[i] counts
 * BOS + prompt tokens; the batch is right-padded to T = (longest ids) - 1 target positions. Returns mask [B][T].
 */
export type SftMaskExercise = (ids: number[][], promptLens: number[]) => number[][];

/** 02.1: the mask of lib/pipeline/sft sftBatch (target t+1 is a response token or EOS), on 10 random batches. */
export function checkSftMask(yours: SftMaskExercise, print?: (line: string) => void): void {
  check("02.1", "prompt-masked SFT loss mask", () => {
    const rng = new Rng(201);
    for (let k = 0; k < 10; k++) {
      const b = 2 + rng.int(4);
      const examples: SftExample[] = Array.from({ length: b }, () => {
        const promptLen = 2 + rng.int(4); // BOS + 1 to 4 prompt tokens
        const responseLen = 1 + rng.int(7); // response tokens, EOS not included
        const ids = [257, ...Array.from({ length: promptLen - 1 + responseLen }, () => 259 + rng.int(500)), 258];
        return { demo: {} as Demonstration, ids, promptLen };
      });
      const want = tf.tidy(() => {
        const { x, y, mask } = sftBatch(examples, 256);
        tf.dispose([x, y]);
        return mask.arraySync();
      });
      const got = yours(examples.map((e) => e.ids.slice()), examples.map((e) => e.promptLen));
      if (!Array.isArray(got)) throw new CheckFailure(`batch ${k}: expected a [B][T] array, got ${typeof got}`);
      const desc = examples.map((e) => `${e.ids.length} ids, prompt ${e.promptLen}`).join("; ");
      assertClose(`mask of batch ${k} (${desc})`, got, want, { labels: ["row", "position"] });
    }
    return "agrees with the mask of lib/pipeline/sft sftBatch on 10 random right-padded batches";
  }, print);
}

/** The learner's learning-rate schedule: step is 0-based. */
export type LrExercise = (step: number, s: ScheduleOptions) => number;

/** 02.2: linear warmup then cosine decay to lr * min_lr_ratio, against lib/train/optim lrAt at every step of 6 schedules. */
export function checkLrSchedule(yours: LrExercise, print?: (line: string) => void): void {
  check("02.2", "warmup + cosine learning rate", () => {
    const schedules: ScheduleOptions[] = [
      { lr: 1e-3, steps: 30, warmup_steps: 5, min_lr_ratio: 0.1 },
      { lr: 3e-4, steps: 150, warmup_steps: 20, min_lr_ratio: 0.1 },
      { lr: 2e-3, steps: 40, warmup_steps: 0, min_lr_ratio: 0 },
      { lr: 1e-2, steps: 25, warmup_steps: 10, min_lr_ratio: 0.5 },
      { lr: 5e-4, steps: 12, warmup_steps: 3, min_lr_ratio: 1 },
      { lr: 1e-3, steps: 800, warmup_steps: 50, min_lr_ratio: 0.1 },
    ];
    schedules.forEach((s, k) => {
      const steps = Array.from({ length: s.steps }, (_, i) => i);
      const got = steps.map((i) => yours(i, { ...s }));
      const want = steps.map((i) => lrAt(i, s));
      assertClose(`schedule ${k} (${JSON.stringify(s)})`, got, want, { labels: ["step"], atol: 1e-9, rtol: 1e-6 });
    });
    return "agrees with lib/train/optim lrAt at every step of 6 schedules (with and without warmup, min_lr_ratio 0 to 1)";
  }, print);
}

/** The learner's bits per character: logprobs[i] holds ln p of each predicted token of text i (EOS included). */
export type BpcExercise = (logprobs: number[][], texts: string[]) => number;

/** 02.3: pooled bits per character (lib/lm/fluency pooledBitsPerChar) on 20 random sets of sentences of unequal length. */
export function checkBitsPerChar(yours: BpcExercise, print?: (line: string) => void): void {
  check("02.3", "bits per character", () => {
    const rng = new Rng(203);
    const words = ["the", "food", "was", "great", "battery", "died", "after", "a", "week", "never", "again", "and", "service"];
    for (let k = 0; k < 20; k++) {
      const n = 2 + rng.int(5);
      const texts = Array.from({ length: n }, () => Array.from({ length: 1 + rng.int(12) }, () => words[rng.int(words.length)]).join(" ") + ".");
      // about one token a word, plus EOS; log-probs in (-8, 0)
      const logprobs = texts.map((t) => Array.from({ length: t.split(" ").length + 1 }, () => -8 * rng.next()));
      const got = yours(logprobs.map((l) => l.slice()), texts.slice());
      const want = pooledBitsPerChar(logprobs.map((l) => -l.reduce((a, b) => a + b, 0)), texts.map((t) => t.length));
      if (typeof got !== "number") throw new CheckFailure(`set ${k}: expected a number, got ${typeof got}`);
      assertClose(`set ${k} (${n} sentences of ${texts.map((t) => t.length).join(", ")} characters)`, [got], [want], { labels: ["value"], atol: 1e-9, rtol: 1e-6 });
    }
    return "agrees with lib/lm/fluency pooledBitsPerChar on 20 random sets of sentences";
  }, print);
}
