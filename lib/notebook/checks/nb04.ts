// Checks of notebook 04's exercises (lib/notebook/exercise.ts explains the pattern): each runs the learner's function
// and
// lib/lm/rollout on the same random inputs (random right-padded masks, garbage at padding) and says where they differ.
import * as tf from "@tensorflow/tfjs";
import { assertClose, check, CheckFailure, randomMask } from "../exercise";
import { drawTokens, encodeResponses } from "../../lm/rollout";
import { Rng } from "../../core/rng";
import { Tokenizer } from "../../lm/tokenizer";

/** The learner's log-probs of the sampled tokens: logits [B,T,V] (raw), tokens [B,T] int32, mask [B,T] -> [B,T]. */
export type TokenLogProbsExercise = (logits: tf.Tensor3D, tokens: tf.Tensor2D, mask: tf.Tensor2D, temperature: number) => tf.Tensor2D | number[][];

/**
 * 04.1: the sampler's recorded log-prob. The check draws every token with lib/lm/rollout drawTokens (the rollout's own
 * sampler) at a temperature, which returns log pi(token) as the rollout records it; padded positions hold a random
 * token and must come back 0.
 */
export function checkTokenLogProbs(yours: TokenLogProbsExercise, print?: (line: string) => void): void {
  check("04.1", "log-probs of the sampled tokens", () => {
    const rng = new Rng(401);
    const temps = [0.7, 1, 1.5, 0.4];
    for (let k = 0; k < 8; k++) {
      const tau = temps[k % temps.length];
      const b = 2 + rng.int(3), t = 3 + rng.int(6), V = 6 + rng.int(10);
      const mask = randomMask(rng, b, t);
      const z = Float32Array.from({ length: b * t * V }, () => rng.normal(0, 2));
      const u = Float32Array.from({ length: b * t }, () => Math.max(rng.next(), 2 ** -32));
      const { ids, logprobs } = tf.tidy(() => {
        const allowed = tf.ones([V]) as tf.Tensor1D;
        return drawTokens(tf.tensor2d(z, [b * t, V]), tau, allowed, u);
      });
      const tokens: number[][] = [], want: number[][] = [];
      for (let i = 0; i < b; i++) {
        tokens.push([]); want.push([]);
        for (let j = 0; j < t; j++) {
          const real = mask[i][j] === 1;
          tokens[i].push(real ? ids[i * t + j] : rng.int(V)); // a padded position holds some token: it must not count
          want[i].push(real ? logprobs[i * t + j] : 0);
        }
      }
      tf.tidy(() => {
        const got = yours(tf.tensor3d(z, [b, t, V]), tf.tensor2d(tokens, [b, t], "int32"), tf.tensor2d(mask), tau);
        if (got === undefined || got === null) throw new CheckFailure(`your function returned ${got}`);
        assertClose(`log-probs (batch ${k}, temperature ${tau})`, got, want, { atol: 2e-4, rtol: 1e-3 });
      });
    }
    return "agrees with the log-probs lib/lm/rollout drawTokens records, on 8 random batches at temperatures 0.7, 1, 1.5, 0.4, with 0 at padding";
  }, print);
}

/** The learner's response mask: token ids [B][T] and the EOS id -> mask [B][T]. */
export type ResponseMaskExercise = (tokens: number[][], eosId: number) => number[][] | tf.Tensor2D;

/**
 * 04.2: mask = 1 up to and including the first EOS, 0 after; all 1 for a row cut at T without EOS. The expected mask
 * is lib/lm/rollout encodeResponses' for random texts (with EOS, cut at T); the tokens after the end are then replaced by
 * what a lockstep sampler that never stopped might have left there: random tokens, more EOS, PAD.
 */
export function checkResponseMask(yours: ResponseMaskExercise, print?: (line: string) => void): void {
  check("04.2", "response mask from EOS", () => {
    const rng = new Rng(402);
    const tok = new Tokenizer("char", []);
    const letters = "abcdefghij .";
    for (let k = 0; k < 10; k++) {
      const b = 3 + rng.int(4), t = 4 + rng.int(8);
      // lengths from 0 (the response is just EOS) to beyond T (cut, no EOS)
      const texts = Array.from({ length: b }, (_, i) => {
        const n = i === 0 ? t + 2 : i === 1 ? 0 : rng.int(t + 3);
        return Array.from({ length: n }, () => letters[rng.int(letters.length)]).join("");
      });
      const { responses, mask } = encodeResponses(tok, texts, t, true);
      const ids = responses.arraySync() as number[][], m = mask.arraySync() as number[][];
      tf.dispose([responses, mask]);
      const tokens = ids.map((row, i) => row.map((id, j) => {
        if (m[i][j] === 1) return id;
        const u = rng.next();
        return u < 0.3 ? tok.eos : u < 0.5 ? tok.pad : tok.encode(letters[rng.int(letters.length)])[0];
      }));
      const got = yours(tokens.map((r) => r.slice()), tok.eos);
      assertClose(`mask (batch ${k}; EOS id ${tok.eos})`, got, m, { atol: 0, rtol: 0 });
    }
    return "agrees with lib/lm/rollout's masks on 10 random batches: rows ending in EOS, rows that are only EOS, rows cut at T, anything after the first EOS";
  }, print);
}

/** The learner's EOS forecast: pEos[b][t] = the sampler's probability of EOS at step t of row b, mask [B][T] -> a share. */
export type EosForecastExercise = (pEos: number[][], mask: number[][]) => number;

/**
 * The forecast 04.3 asks for: a row can end at step t only while it is running (mask 1 there), and then does so with
 * probability pEos[t], so P(EOS within T) = E[sum_t mask_t pEos_t] and the mean of that sum over rows estimates the
 * share. Exact for the draws' own probabilities, whatever was drawn.
 */
export function eosShareForecast(pEos: number[][], mask: number[][]): number {
  return pEos.reduce((s, row, b) => s + row.reduce((r, p, t) => r + (mask[b][t] === 1 ? p : 0), 0), 0) / pEos.length;
}

/**
 * 04.3: the forecast on random batches: EOS probabilities large enough that sum_t p_t and 1 - prod_t (1 - p_t) differ,
 * rows cut at T and rows that ended early, and garbage probabilities at padding (the steps after a row ended).
 */
export function checkEosForecast(yours: EosForecastExercise, print?: (line: string) => void): void {
  check("04.3", "the EOS share forecast from probabilities", () => {
    const rng = new Rng(403);
    for (let k = 0; k < 10; k++) {
      const b = 2 + rng.int(6), t = 3 + rng.int(8);
      const mask = randomMask(rng, b, t);
      const pEos = mask.map((row) => row.map((m) => (m === 1 ? 0.4 * rng.next() : 0.5 + 0.5 * rng.next())));
      const got = yours(pEos.map((r) => r.slice()), mask.map((r) => r.slice()));
      if (typeof got !== "number" || !Number.isFinite(got)) throw new CheckFailure(`batch ${k}: expected a finite number, got ${got}`);
      const want = eosShareForecast(pEos, mask);
      if (Math.abs(got - want) > 1e-6 * Math.max(1, Math.abs(want))) {
        throw new CheckFailure(`batch ${k} (${b} rows, ${t} steps): yours ${got.toFixed(4)}, expected ${want.toFixed(4)}; ` +
          `a row's chance to end at step t is its EOS probability there only if it is still running at t`);
      }
    }
    return "agrees with the expected share on 10 random batches (rows that ended early, rows cut at T, garbage after the end)";
  }, print);
}
