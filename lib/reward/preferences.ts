// Preference data for the reward model: prompts -> k completions sampled from the SFT policy -> gold scores ->
// pairs labelled by the simulated human (lib/reward/labeller.ts) -> a train / held-out split by a prompt's first two
// words.
//
//   prompt "The food"   completions  " was cold and bland."  " is amazing!"  " came late."  " was ok."
//                        gold          -0.40                   0.62           0.00           0.30
//   pairs: every one of the k(k-1)/2 pairs of a prompt's completions (InstructGPT, Ouyang et al. 2022: labellers
//   rank k outputs, which yields all k choose 2 comparisons; each completion is scored once and reused by its pairs).
//   label: the labeller draws "a preferred to b" with probability p = sigmoid(beta * (gold(a) - gold(b))).
//
// Why sampled tokens and not re-encoded text: PPO scores the tokens its policy sampled (lib/lm/rollout.ts,
// rewardScores), and the same text can be spelled with different BPE tokens; training the reward model on exactly
// what the policy emits keeps its inputs in the distribution it will be asked about.
//
// Held-out pairs are split by a prompt's first two words (every pair of every prompt that starts like a held-out one
// is held out), so the held-out accuracy is measured on openings the reward model never saw: split by exact text,
// "The food" could be held out while "The food was" is trained on, and the held-out figure would flatter it.
import * as fs from "node:fs";
import type { DataFrame } from "danfojs-node";
import { loadReviews, splitReview } from "../lm/data";
import { Labeller, goldScore } from "./labeller";
import { atomicWrite, loadDanfo } from "../core/metrics";
import type { GPT } from "../lm/model";
import { Rng } from "../core/rng";
import { disposeRollout, sampleRollout } from "../lm/rollout";
import type { Tokenizer } from "../lm/tokenizer";

/** One sampled completion of a prompt, scored by the gold scorer. */
export interface Completion {
  /** Index of its prompt group (the k completions sampled for one prompt draw). */
  group: number;
  prompt: string;
  /** Decoded response text, without EOS or PAD (starts with its own leading space, like the SFT data). */
  text: string;
  /** VADER compound score of prompt + text, in [-1, 1]. */
  gold: number;
  /** BOS + prompt tokens, as the policy saw them. */
  promptIds: number[];
  /** The sampled response tokens, up to and including EOS when one was emitted. */
  responseIds: number[];
  /** The policy emitted EOS within max_new_tokens. */
  eos: boolean;
  /**
   * "reference": the real review sentence the prompt was cut from (rm.include_reference); "review": a whole real
   * review sentence answering the empty prompt (rm.review_sentences); absent: a policy sample.
   */
  source?: "policy" | "reference" | "review";
}

export type PairSplit = "train" | "heldout";

/** One labelled comparison of two completions of the same prompt (indices into PreferenceData.completions). */
export interface PreferencePair {
  group: number;
  chosen: number;
  rejected: number;
  /** The labeller's P(chosen preferred) = sigmoid(beta * (gold_chosen - gold_rejected)); below 0.5 when it erred. */
  p: number;
  split: PairSplit;
}

export interface PreferenceData {
  completions: Completion[];
  pairs: PreferencePair[];
  beta: number;
}

/** The config keys this module reads (cfg.rm, plus the prompt length range of cfg.sft). */
export interface PairsConfig {
  prompts: number;
  completions_per_prompt: number;
  max_new_tokens: number;
  temperature: number;
  include_reference: boolean;
  review_sentences: number;
  labeller_beta: number;
  heldout_fraction: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Prompts

/**
 * n prompts: the first prompt_words_min..max words of training-split review sentences (the SFT prompt format).
 * Reviews are visited in a seeded shuffled order, cycling when n exceeds their number; each visit draws its own
 * prompt length, so a review used twice may give "The food" once and "The food was" the next time.
 */
export function reviewPrompts(n: number, rng: Rng, minWords: number, maxWords: number, split: "train" | "val" | "test" = "train"): string[] {
  return reviewPromptsWithReferences(n, rng, minWords, maxWords, split).map((x) => x.prompt);
}

/** reviewPrompts (the same prompts for the same rng) with each prompt's reference: the rest of its review sentence. */
export function reviewPromptsWithReferences(n: number, rng: Rng, minWords: number, maxWords: number, split: "train" | "val" | "test" = "train"): { prompt: string; reference: string }[] {
  const reviews = loadReviews(split);
  const out: { prompt: string; reference: string }[] = [];
  let order: number[] = [];
  let guard = 0;
  while (out.length < n) {
    if (order.length === 0) order = rng.permutation(reviews.length);
    const r = reviews[order.pop()!];
    const pr = splitReview(r.text, rng, minWords, maxWords);
    if (pr) out.push({ prompt: pr.prompt, reference: pr.response });
    if (++guard > 100 * n + reviews.length) throw new Error(`reviewPrompts: could not draw ${n} prompts from the ${split} split`);
  }
  return out;
}

/** What the split groups by: a text's first two words, lower-cased, without punctuation ("The food," -> "the food"). */
export function promptKey(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}\s']/gu, " ").trim().split(/\s+/).slice(0, 2).join(" ");
}

/**
 * Assigns prompts to train or held-out by promptKey: a seeded shuffle of the distinct keys, of which the first
 * round(heldoutFraction * count) (at least 1, at most count - 1) are held out. Returns the held-out prompt texts:
 * every prompt whose key is held out.
 */
export function heldoutPrompts(prompts: string[], heldoutFraction: number, rng: Rng): Set<string> {
  const keys = [...new Set(prompts.map(promptKey))].sort(); // sorted first so the result depends on the set, not the order
  if (keys.length < 2) throw new Error(`heldoutPrompts: need prompts with at least 2 different first words to split, got ${keys.length}`);
  rng.shuffle(keys);
  const k = Math.min(keys.length - 1, Math.max(1, Math.round(heldoutFraction * keys.length)));
  const held = new Set(keys.slice(0, k));
  return new Set(prompts.filter((p) => held.has(promptKey(p))));
}

// ---------------------------------------------------------------------------------------------------------------
// Sampling and labelling

export interface SamplePairsOptions {
  rng: Rng;
  /** Prompts per sampleRollout call (each expanded to completions_per_prompt rows). Default 32. */
  promptsPerBatch?: number;
  /** Each prompt's real continuation (reviewPromptsWithReferences), used when c.include_reference is true. */
  references?: string[];
  /** Called after each sampling batch with the number of prompts done so far. */
  onProgress?: (done: number, total: number) => void;
}

/** Reads a rollout's tensors back into one Completion per row. */
function rolloutCompletions(
  r: ReturnType<typeof sampleRollout>,
  groups: number[],
): Completion[] {
  const [B, P] = r.queries.shape;
  const T = r.responses.shape[1];
  const q = r.queries.dataSync(), qm = r.queryMask.dataSync(), resp = r.responses.dataSync();
  const out: Completion[] = [];
  for (let i = 0; i < B; i++) {
    const promptIds: number[] = [];
    for (let j = 0; j < P; j++) if (qm[i * P + j] > 0) promptIds.push(q[i * P + j]);
    const responseIds = Array.from(resp.subarray(i * T, i * T + r.lengths[i]));
    const prompt = r.prompts[i];
    const text = r.completions[i];
    out.push({ group: groups[i], prompt, text, gold: goldScore(prompt + text), promptIds, responseIds, eos: r.eos[i] });
  }
  return out;
}

/** All k(k-1)/2 pairs (i < j) of k items: [[0,1],[0,2],...,[k-2,k-1]]. */
export function allPairs(k: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) out.push([i, j]);
  return out;
}

/** One labelled comparison of completions a and b: the labeller draws which one it prefers (one rng draw). */
function labelPair(completions: Completion[], a: number, b: number, labeller: Labeller, group: number, split: PairSplit): PreferencePair {
  const aWins = labeller.label(completions[a].gold, completions[b].gold) === 1;
  const [chosen, rejected] = aWins ? [a, b] : [b, a];
  return { group, chosen, rejected, p: labeller.prob(completions[chosen].gold, completions[rejected].gold), split };
}

/**
 * Labels every pair of each group's completions with the labeller and splits by prompt. Pure given its inputs:
 * the labeller draws in (group, pair) order, so the same completions and seed give the same labels.
 */
export function labelPairs(completions: Completion[], k: number, labeller: Labeller, heldout: Set<string>): PreferencePair[] {
  if (completions.length % k !== 0) throw new Error(`labelPairs: ${completions.length} completions is not a multiple of k = ${k}`);
  const pairs: PreferencePair[] = [];
  for (let g0 = 0; g0 < completions.length; g0 += k) {
    const group = completions[g0].group;
    for (const [i, j] of allPairs(k)) {
      const a = g0 + i, b = g0 + j;
      pairs.push(labelPair(completions, a, b, labeller, group, heldout.has(completions[a].prompt) ? "heldout" : "train"));
    }
  }
  return pairs;
}

/**
 * Samples completions_per_prompt completions for each prompt from the policy (batched, KV cache, dropout off),
 * scores them with the gold scorer and labels all their pairs. The prompts' split is drawn from rng.fork("split"),
 * the labeller from rng.fork("labeller"), the sampling from rng.fork("sampling").
 */
export function samplePreferencePairs(policy: GPT, tok: Tokenizer, prompts: string[], c: PairsConfig, opts: SamplePairsOptions): PreferenceData {
  const k = c.completions_per_prompt;
  const perBatch = Math.max(1, opts.promptsPerBatch ?? 32);
  const sampling = opts.rng.fork("sampling");
  // Batches of prompts of similar token length: a batch is left-padded to its longest prompt, and every row pays
  // for that length in the prefill and in every decode step's attention (one 19-token prompt among 5-token ones
  // would triple it). Shortest first, ties in prompt order; completions go back to prompt order below.
  const lengths = prompts.map((p) => tok.encode(p).length);
  const order = prompts.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const byPrompt: Completion[][] = new Array(prompts.length);
  for (let s = 0; s < order.length; s += perBatch) {
    const chunk = order.slice(s, s + perBatch);
    const rows: string[] = [];
    const groups: number[] = [];
    for (const g of chunk) {
      for (let j = 0; j < k; j++) {
        rows.push(prompts[g]);
        groups.push(g);
      }
    }
    const r = sampleRollout(policy, tok, rows, { maxNewTokens: c.max_new_tokens, temperature: c.temperature, topK: 0, topP: 1, rng: sampling });
    try {
      const got = rolloutCompletions(r, groups);
      chunk.forEach((g, i) => (byPrompt[g] = got.slice(i * k, (i + 1) * k)));
    } finally {
      disposeRollout(r);
    }
    opts.onProgress?.(Math.min(prompts.length, s + perBatch), prompts.length);
  }
  const completions = byPrompt.flat();
  const heldout = heldoutPrompts(prompts, c.heldout_fraction, opts.rng.fork("split"));
  const labeller = new Labeller(c.labeller_beta, opts.rng.fork("labeller"));
  const pairs = labelPairs(completions, k, labeller, heldout);
  if (c.include_reference) {
    if (!opts.references || opts.references.length !== prompts.length) {
      throw new Error(`samplePreferencePairs: rm.include_reference is true but ${opts.references?.length ?? "no"} references were given for ${prompts.length} prompts`);
    }
    addReferencePairs(completions, pairs, k, opts.references, tok, c.max_new_tokens, labeller, heldout);
  }
  if (c.review_sentences > 0) {
    addReviewGroups(completions, pairs, k, c.review_sentences, tok, policy.config.context, labeller, heldout, opts.rng.fork("reviews"));
  }
  return { completions, pairs, beta: c.labeller_beta };
}

/**
 * rm.review_sentences: groups of k real review sentences of the training split, each a whole response to the empty
 * prompt (BOS, sentence, EOS: how the human-label test reads a sentence), every pair of a group labelled by the
 * same labeller. Human-written responses in the comparisons, as in Stanford's SHP (Ethayarajh et al. 2022), which is
 * made of nothing else: they cost no sampling, and they show the reward model fluent text with the full range of
 * sentiment words where the policy's samples are half-English. A sentence that begins like a held-out prompt (same
 * promptKey) is left out, so no held-out opening is seen in training with its context. Up to n sentences, in a seeded order, in
 * whole groups; new groups after the prompt groups, labelled after every other pair (the samples' labels do not
 * change).
 */
export function addReviewGroups(
  completions: Completion[], pairs: PreferencePair[], k: number, n: number, tok: Tokenizer, context: number,
  labeller: Labeller, heldout: Set<string>, rng: Rng,
): void {
  const held = new Set([...heldout].map(promptKey));
  const texts = rng.shuffle(loadReviews("train").map((r) => r.text)).filter((t) => !held.has(promptKey(t)));
  const use = sentenceCompletions(tok, texts.slice(0, Math.floor(Math.min(n, texts.length) / k) * k), context).completions;
  let group = completions.reduce((m, x) => Math.max(m, x.group), -1) + 1;
  for (let g0 = 0; g0 < use.length; g0 += k, group++) {
    const first = completions.length;
    for (let i = 0; i < k; i++) completions.push({ ...use[g0 + i], group, source: "review" });
    for (const [i, j] of allPairs(k)) pairs.push(labelPair(completions, first + i, first + j, labeller, group, "train"));
  }
}

/**
 * rm.include_reference (Stiennon et al. 2020 put the human-written reference summary among the candidates the
 * labellers compared): each TRAINING prompt's group also gets the real review sentence it was cut from, compared by
 * the same labeller with each of the k samples. Only references of at most maxNewTokens tokens (EOS included) are
 * used, so they are no longer than a sample can be and batches stay as narrow. Held-out pairs stay sample-only: they
 * measure the reward model on what PPO will ask it about. The references go after all samples (new indices), and
 * their labels after all sample pairs' labels, so the samples' pairs and labels are the same with or without them.
 */
export function addReferencePairs(
  completions: Completion[], pairs: PreferencePair[], k: number, references: string[], tok: Tokenizer,
  maxNewTokens: number, labeller: Labeller, heldout: Set<string>,
): void {
  const groups = completions.length / k;
  for (let g = 0; g < groups; g++) {
    const first = completions[g * k];
    if (heldout.has(first.prompt)) continue;
    const responseIds = [...tok.encode(references[g]), tok.eos];
    if (responseIds.length > maxNewTokens) continue;
    const ref = completions.push({
      group: first.group, prompt: first.prompt, text: references[g], gold: goldScore(first.prompt + references[g]),
      promptIds: first.promptIds, responseIds, eos: true, source: "reference",
    }) - 1;
    for (let j = g * k; j < (g + 1) * k; j++) pairs.push(labelPair(completions, ref, j, labeller, first.group, "train"));
  }
}

/**
 * Whole sentences (e.g. the UCI reviews) as completions of an empty prompt: BOS, then text + EOS as the response, so
 * the reward model reads them exactly like a policy's completion and scores them at the EOS. A sentence longer than
 * the context keeps its first context - 2 tokens (then EOS); `truncated` counts them.
 */
export function sentenceCompletions(tok: Tokenizer, texts: string[], context: number): { completions: Completion[]; truncated: number } {
  let truncated = 0;
  const completions = texts.map((text, i): Completion => {
    let ids = tok.encode(text);
    if (ids.length + 2 > context) {
      ids = ids.slice(0, context - 2);
      truncated++;
    }
    return { group: i, prompt: "", text, gold: goldScore(text), promptIds: [tok.bos], responseIds: [...ids, tok.eos], eos: true };
  });
  return { completions, truncated };
}

// ---------------------------------------------------------------------------------------------------------------
// Tables and files

/** One plain row per pair, the columns of pairs.csv and of the DataFrame. */
export interface PairRow {
  group: number;
  split: PairSplit;
  prompt: string;
  chosen: string;
  rejected: string;
  gold_chosen: number;
  gold_rejected: number;
  p: number;
  chosen_eos: boolean;
  rejected_eos: boolean;
  chosen_index: number;
  rejected_index: number;
  prompt_tokens: string;
  chosen_tokens: string;
  rejected_tokens: string;
  chosen_source: string;
  rejected_source: string;
}

export const PAIR_COLUMNS: (keyof PairRow)[] = [
  "group", "split", "prompt", "chosen", "rejected", "gold_chosen", "gold_rejected", "p",
  "chosen_eos", "rejected_eos", "chosen_index", "rejected_index", "prompt_tokens", "chosen_tokens", "rejected_tokens",
  "chosen_source", "rejected_source",
];

export function pairRows(d: PreferenceData): PairRow[] {
  return d.pairs.map((q) => {
    const c = d.completions[q.chosen], r = d.completions[q.rejected];
    return {
      group: q.group, split: q.split, prompt: c.prompt, chosen: c.text, rejected: r.text,
      gold_chosen: c.gold, gold_rejected: r.gold, p: q.p, chosen_eos: c.eos, rejected_eos: r.eos,
      chosen_index: q.chosen, rejected_index: q.rejected,
      prompt_tokens: c.promptIds.join(" "), chosen_tokens: c.responseIds.join(" "), rejected_tokens: r.responseIds.join(" "),
      chosen_source: c.source ?? "policy", rejected_source: r.source ?? "policy",
    };
  });
}

/** The pairs as a danfojs DataFrame (loads danfojs on first use, ~2.5 s). Token columns are left out. */
export function pairsDataFrame(d: PreferenceData, opts: { split?: PairSplit; tokens?: boolean } = {}): DataFrame {
  const { DataFrame } = loadDanfo();
  const rows = pairRows(d).filter((r) => !opts.split || r.split === opts.split);
  const cols = PAIR_COLUMNS.filter((c) => opts.tokens || !c.endsWith("_tokens") && !c.endsWith("_index") && !c.endsWith("_source"));
  return new DataFrame(rows.map((r) => Object.fromEntries(cols.map((c) => [c, r[c]]))), { columns: cols });
}

function csvCell(v: unknown): string {
  const s = typeof v === "number" ? String(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV of the pairs (header + one line per pair), everything needed to rebuild the data. */
export function pairsToCsv(d: PreferenceData): string {
  const lines = [PAIR_COLUMNS.join(",")];
  for (const r of pairRows(d)) lines.push(PAIR_COLUMNS.map((c) => csvCell(r[c])).join(","));
  return lines.join("\n") + "\n";
}

/** Parses RFC 4180 CSV (quoted cells may hold commas, quotes and newlines) into rows of strings. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], cell = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { row.push(cell); cell = ""; }
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += ch;
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

/** Rebuilds PreferenceData from pairsToCsv's text (completions by their index; every completion is in some pair). */
export function pairsFromCsv(text: string, beta: number, file = "pairs.csv"): PreferenceData {
  const rows = parseCsv(text);
  const header = rows[0] ?? [];
  const col = (name: keyof PairRow) => {
    const j = header.indexOf(name);
    if (j < 0) throw new Error(`${file}: no column "${name}"`);
    return j;
  };
  const J = Object.fromEntries(PAIR_COLUMNS.map((c) => [c, col(c)])) as Record<keyof PairRow, number>;
  const ids = (s: string) => (s === "" ? [] : s.split(" ").map(Number));
  const completions: Completion[] = [];
  const pairs: PreferencePair[] = [];
  rows.slice(1).forEach((r, i) => {
    if (r.length !== header.length) throw new Error(`${file}: row ${i + 2} has ${r.length} cells, expected ${header.length}`);
    const group = Number(r[J.group]);
    const split = r[J.split] as PairSplit;
    const put = (idx: number, text: string, gold: string, eos: string, toks: string, source: string) => {
      completions[idx] ??= {
        group, prompt: r[J.prompt], text, gold: Number(gold), promptIds: ids(r[J.prompt_tokens]), responseIds: ids(toks), eos: eos === "true",
        ...(source === "reference" || source === "review" ? { source } : {}),
      };
    };
    const ci = Number(r[J.chosen_index]), ri = Number(r[J.rejected_index]);
    put(ci, r[J.chosen], r[J.gold_chosen], r[J.chosen_eos], r[J.chosen_tokens], r[J.chosen_source]);
    put(ri, r[J.rejected], r[J.gold_rejected], r[J.rejected_eos], r[J.rejected_tokens], r[J.rejected_source]);
    pairs.push({ group, chosen: ci, rejected: ri, p: Number(r[J.p]), split });
  });
  for (let i = 0; i < completions.length; i++) if (!completions[i]) throw new Error(`${file}: completion ${i} is in no pair`);
  return { completions, pairs, beta };
}

export function writePairsCsv(file: string, d: PreferenceData): void {
  atomicWrite(file, pairsToCsv(d));
}

export function readPairsCsv(file: string, beta: number): PreferenceData {
  return pairsFromCsv(fs.readFileSync(file, "utf8"), beta, file);
}

/** Counts for a notebook or a log line. */
export function describePairs(d: PreferenceData): string {
  const tr = d.pairs.filter((p) => p.split === "train");
  const ho = d.pairs.filter((p) => p.split === "heldout");
  const prompts = (ps: PreferencePair[]) => new Set(ps.map((p) => d.completions[p.chosen].prompt)).size;
  const ties = d.pairs.filter((p) => p.p === 0.5).length;
  const bySource = new Map<string, number>();
  for (const c of d.completions) bySource.set(c.source ?? "policy", (bySource.get(c.source ?? "policy") ?? 0) + 1);
  const sources = bySource.size > 1 ? ` (${[...bySource].map(([k, n]) => `${n} ${k}`).join(", ")})` : "";
  return `${d.completions.length} completions${sources}, ${d.pairs.length} pairs: ${tr.length} train (${prompts(tr)} prompts), ` +
    `${ho.length} held-out (${prompts(ho)} prompts); ${(100 * ties / d.pairs.length).toFixed(1)}% gold ties; ` +
    `${(100 * policyEosRate(d)).toFixed(1)}% of the policy's completions end with EOS`;
}

/** The fraction of the policy's samples (not references or review sentences) that end with EOS. */
export function policyEosRate(d: PreferenceData): number {
  const samples = d.completions.filter((c) => (c.source ?? "policy") === "policy");
  return samples.filter((c) => c.eos).length / samples.length;
}
