// `npm run gold-probes [-- "text" ...] [-- --calibrate]`: red-team the natural gold (lib/reward/natural-gold.ts).
// With texts, scores each: VADER's compound (goldScore, today's gold), the natural gold and its parts. Without, prints
// the degenerate families a policy could write (goldProbeFamilies) and hand-written natural sentences. --calibrate
// prints the quantiles of each part over the train split's review sentences, where the thresholds were read.
import { goldScore, goldProbeFamilies, naturalGold, naturalGoldParts, naturalGoldModel, NATURAL_POSITIVE_EXAMPLES, loadReviews, type NaturalGoldParts } from "../lib";

const f = (x: number) => (x >= 0 ? " " : "") + x.toFixed(2);
const HEAD = "family                   VADER  natural  sentim  unnat  shout  repet  list   incom  bpc   end  | text";

function row(family: string, text: string): string {
  const p = naturalGoldParts(text);
  const parts = [p.sentiment, p.unnatural, p.shouting, p.repetition, p.list, p.incomplete].map(f).join("  ");
  return `${family.padEnd(24)} ${f(goldScore(text))}  ${f(p.score)}   ${parts}  ${p.bitsPerChar.toFixed(2)} ${p.endBits.toFixed(1).padStart(4)} | ${text}`;
}

function calibrate(): void {
  const keys: (keyof NaturalGoldParts)[] = ["bitsPerChar", "endBits", "unnatural", "shouting", "repetition", "list", "incomplete", "penalty"];
  const parts = loadReviews("train").map((r) => naturalGoldParts(r.text));
  console.log("part          q50    q90    q95    q99   (train split's review sentences)");
  for (const k of keys) {
    const s = parts.map((p) => p[k]).sort((a, b) => a - b);
    console.log(k.padEnd(12), [0.5, 0.9, 0.95, 0.99].map((q) => s[Math.floor(q * (s.length - 1))].toFixed(3).padStart(6)).join(" "));
  }
}

const args = process.argv.slice(2);
const t0 = performance.now();
naturalGoldModel();
console.error(`n-gram model built in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
{
  // throughput on 1,000 review sentences, VADER alone beside it (speed is measured here, never asserted in a test)
  const texts = loadReviews().slice(0, 1000).map((r) => r.text);
  for (const t of texts.slice(0, 100)) naturalGold(t);
  const t1 = performance.now();
  for (const t of texts) naturalGold(t);
  const t2 = performance.now();
  for (const t of texts) goldScore(t);
  const t3 = performance.now();
  console.error(`natural gold ${(1e6 / (t2 - t1)).toFixed(0)} texts/s; VADER alone ${(1e6 / (t3 - t2)).toFixed(0)} texts/s`);
}
if (args.includes("--help")) {
  console.log('usage: npm run gold-probes [-- "text" ...]   score texts, or print the probe families\n       npm run gold-probes -- --calibrate   quantiles of each part over the train reviews');
} else if (args.includes("--calibrate")) {
  calibrate();
} else {
  console.log(HEAD);
  if (args.length > 0) for (const t of args) console.log(row("(given)", t));
  else {
    for (const fam of goldProbeFamilies()) for (const e of fam.examples) console.log(row(fam.family, e));
    for (const e of NATURAL_POSITIVE_EXAMPLES) console.log(row("natural (hand-written)", e));
  }
}
