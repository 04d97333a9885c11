// lib/notebook/checks/nb01: each check passes the right answer, fails plausible wrong ones, and reports a stub as NOT DONE.
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { notDone } from "../lib/notebook/exercise";
import { checkBpeMerges, checkCrossEntropy, BpeExercise, CrossEntropyExercise } from "../lib/notebook/checks/nb01";
import { pretokenize } from "../lib/lm/tokenizer";
import { assertCheckDiscriminates } from "./helpers";

/** -log p(target) per position [B, T]. */
const nll = (logits: tf.Tensor3D, targets: tf.Tensor2D) =>
  tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(targets, logits.shape[2]).toFloat()), -1));

/** BPE in the plainest form; options make the wrong variants. */
function bpe(text: string, nMerges: number, o: { acrossWords?: boolean; once?: boolean; distinctWords?: boolean } = {}): [number, number][] {
  const enc = new TextEncoder();
  const counts = new Map<string, number>();
  for (const w of o.acrossWords ? [text] : pretokenize(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
  let words = [...counts].map(([w, c]) => ({ ids: Array.from(enc.encode(w)), c: o.distinctWords ? 1 : c }));
  const merges: [number, number][] = [];
  const countPairs = () => {
    const pc = new Map<string, number>();
    for (const { ids, c } of words) for (let i = 0; i + 1 < ids.length; i++) pc.set(`${ids[i]},${ids[i + 1]}`, (pc.get(`${ids[i]},${ids[i + 1]}`) ?? 0) + c);
    return [...pc].map(([k, c]) => ({ pair: k.split(",").map(Number) as [number, number], c }))
      .sort((x, y) => y.c - x.c || x.pair[0] - y.pair[0] || x.pair[1] - y.pair[1]);
  };
  const first = countPairs();
  for (let r = 0; r < nMerges; r++) {
    const ranked = o.once ? first.slice(r) : countPairs();
    if (ranked.length === 0 || ranked[0].c < 2) break;
    const [a, b] = ranked[0].pair;
    merges.push([a, b]);
    const id = 259 + r;
    words = words.map(({ ids, c }) => {
      const out: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) { out.push(id); i++; } else out.push(ids[i]);
      }
      return { ids: out, c };
    });
  }
  return merges;
}

describe("lib/notebook/checks/nb01", () => {
  it("01.1 cross-entropy: passes the masked mean NLL, fails ignoring the mask, dividing by B*T, and a flipped sign", () => {
    const right: CrossEntropyExercise = (l, y, m) => tf.tidy(() => nll(l, y).mul(m).sum().div(m.sum()));
    assertCheckDiscriminates(checkCrossEntropy, right, {
      "ignores the mask": (l, y) => tf.tidy(() => nll(l, y).mean()),
      "divides by B*T": (l, y, m) => tf.tidy(() => nll(l, y).mul(m).sum().div(m.size)),
      "sign flipped (mean log p)": (l, y, m) => tf.tidy(() => nll(l, y).mul(m).sum().div(m.sum()).neg()),
    }, () => notDone());
  });

  it("01.2 BPE merges: passes per-word counting with re-counting, fails counting across words, never re-counting, and ignoring word counts", () => {
    const right: BpeExercise = (t, n) => bpe(t, n);
    assertCheckDiscriminates(checkBpeMerges, right, {
      "counts pairs across word boundaries": (t, n) => bpe(t, n, { acrossWords: true }),
      "ranks the pairs once, never re-counts after a merge": (t, n) => bpe(t, n, { once: true }),
      "counts each distinct word once": (t, n) => bpe(t, n, { distinctWords: true }),
    }, () => notDone());
  });
});
