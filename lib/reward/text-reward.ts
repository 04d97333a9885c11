// The reward model as an independent model: its own tokenizer and its own size (config rm.base: own).
//
// The course's default reward model is the SFT model with a scalar head (InstructGPT): same tokenizer, same trunk, so
// the policy's token ids can be scored as they are. Gao et al. 2022 train reward models of several sizes, and a
// production reward model rarely shares the policy's tokenizer. Then the boundary between them is TEXT:
//
//   policy tokens --decode(policy tokenizer)--> prompt, response text, EOS flag --encode(RM tokenizer)--> RM tokens
//
// A response scores the same whether the RM reads it from its text or through this round trip (test/text-
// reward.test.ts).
// The own reward model's trunk is pretrained with the course's pretrain recipe on its own tokenizer and size
// (ownBaseConfig), then trained on the same preference pairs, re-encoded (reencodePreferences).
import * as tf from "@tensorflow/tfjs";
import { goldScores } from "./labeller";
import type { GPT } from "../lm/model";
import type { Completion, PreferenceData } from "./preferences";
import { packedLastScores } from "../lm/packing";
import type { RewardFns } from "./reward-fns";
import type { ScoredBatch } from "../lm/rollout";
import type { Tokenizer } from "../lm/tokenizer";

/** A reward model with the tokenizer it reads. */
export interface TextRewardModel {
  model: GPT;
  tok: Tokenizer;
}

/** Two tokenizers that turn every text into the same ids (same kind, vocabulary and merges). */
export function sameTokenizer(a: Tokenizer, b: Tokenizer): boolean {
  return a === b || JSON.stringify(a.toJSON()) === JSON.stringify(b.toJSON());
}

/**
 * [BOS prompt ; response (EOS)] in the RM's tokens, as the RM was trained to read them. Longer than `context`: the
 * prompt loses its first tokens (BOS stays), then the response its first ones, since the score is read at the end.
 */
export function encodeForRm(tok: Tokenizer, prompt: string, text: string, eos: boolean, context: number): { promptIds: number[]; responseIds: number[]; truncated: boolean } {
  let p = tok.encode(prompt);
  let r = tok.encode(text);
  if (eos) r.push(tok.eos);
  let over = 1 + p.length + r.length - context;
  const truncated = over > 0;
  if (over > 0) {
    const fromPrompt = Math.min(over, p.length);
    p = p.slice(fromPrompt);
    over -= fromPrompt;
    if (over > 0) r = r.slice(over);
  }
  return { promptIds: [tok.bos, ...p], responseIds: r, truncated };
}

/** The preference data with every completion's ids re-encoded by the RM's tokenizer (texts, gold and labels kept). */
export function reencodePreferences(data: PreferenceData, tok: Tokenizer, context: number): PreferenceData & { truncated: number } {
  let truncated = 0;
  const completions = data.completions.map((c): Completion => {
    const e = encodeForRm(tok, c.prompt, c.text, c.eos, context);
    if (e.truncated) truncated++;
    return { ...c, promptIds: e.promptIds, responseIds: e.responseIds };
  });
  return { ...data, completions, truncated };
}

/** Policy token batch -> prompt texts, response texts and whether each response ended with EOS. */
export function decodeBatch(batch: ScoredBatch, policyTok: Tokenizer): { prompts: string[]; texts: string[]; eos: boolean[] } {
  const [B, P] = batch.queries.shape;
  const T = batch.responses.shape[1];
  const q = batch.queries.dataSync(), qm = batch.queryMask.dataSync();
  const r = batch.responses.dataSync(), m = batch.mask.dataSync();
  const prompts: string[] = [], texts: string[] = [], eos: boolean[] = [];
  for (let b = 0; b < B; b++) {
    const pIds: number[] = [], rIds: number[] = [];
    for (let j = 0; j < P; j++) if (qm[b * P + j] > 0 && q[b * P + j] !== policyTok.bos) pIds.push(q[b * P + j]);
    for (let j = 0; j < T; j++) if (m[b * T + j] > 0) rIds.push(r[b * T + j]);
    const ended = rIds.length > 0 && rIds[rIds.length - 1] === policyTok.eos;
    if (ended) rIds.pop();
    prompts.push(policyTok.decode(pIds));
    texts.push(policyTok.decode(rIds));
    eos.push(ended);
  }
  return { prompts, texts, eos };
}

/** The RM's scores of texts (packed batches, no gradient), in order. */
export function textScores(rm: TextRewardModel, prompts: string[], texts: string[], eos: boolean[], batchSize = 256): Float32Array {
  const context = rm.model.config.context;
  const seqs = prompts.map((prompt, i) => {
    const e = encodeForRm(rm.tok, prompt, texts[i], eos[i], context);
    return [...e.promptIds, ...e.responseIds];
  });
  const out = new Float32Array(seqs.length);
  for (let s = 0; s < seqs.length; s += batchSize) {
    const scores = packedLastScores(rm.model, seqs.slice(s, s + batchSize), rm.tok.pad);
    out.set(scores.dataSync(), s);
    scores.dispose();
  }
  return out;
}

/**
 * RewardFns for a reward model with its own tokenizer: each batch of policy tokens is decoded to text and
 * re-encoded for the RM (decodeBatch, textScores). The gold score reads the same texts.
 */
export function textRewardFns(rm: TextRewardModel, policyTok: Tokenizer): RewardFns {
  return {
    proxy: (batch) => {
      const d = decodeBatch(batch, policyTok);
      return tf.tensor1d(textScores(rm, d.prompts, d.texts, d.eos));
    },
    gold: goldScores,
  };
}
