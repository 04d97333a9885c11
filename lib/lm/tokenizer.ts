// Byte-level BPE (Sennrich et al. 2016; GPT-2's byte-level variant), trained by the course on its own corpus, and
// a char-level baseline with the same interface.
//
// Ids:   0..255      the 256 byte values (so ANY string encodes: text -> UTF-8 bytes -> tokens, and back exactly)
//        256 PAD, 257 BOS, 258 EOS   (three distinct specials: PAD is never EOS, or masking the padding would mask the real end too)
//        259..V-1    merges, in the order they were learned (id 259 + r is merge r)
//
// Training (classic BPE): split the text into "words" with GPT-2's pre-tokenizer pattern (a word keeps its leading
// space, so " good" and "good" are different words and merges never cross word boundaries), count each distinct word
// once with its frequency, then repeat: find the most frequent adjacent pair of tokens (weighted by word counts),
// make it a new token, replace it everywhere. Pair counts are updated incrementally (only the words holding the
// merged pair are revisited), so ~750 merges over a 1.5 MB sample take about a second.
//
// Encoding a word applies the learned merges by rank (earliest learned first), exactly as training produced them.
// The char-level baseline is the same machine with zero merges: one token per byte, which on this ASCII-normalised
// data (data/README.md) is one token per character.
import { progress } from "../core/progress";

export type TokenizerKind = "bpe" | "char";

export const PAD = 256;
export const BOS = 257;
export const EOS = 258;
export const FIRST_MERGE = 259;

/** GPT-2's pre-tokenizer: contractions, words with an optional leading space, numbers, punctuation runs, spaces. */
const PRETOKENIZE = /'(?:s|t|re|ve|m|ll|d)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export interface TokenizerJSON {
  format: "rlhf-course-bpe";
  version: 1;
  kind: TokenizerKind;
  vocab_size: number;
  specials: { pad: number; bos: number; eos: number };
  /** merges[r] = [left, right]: token FIRST_MERGE + r is left followed by right. */
  merges: [number, number][];
}

const pairKey = (a: number, b: number) => a * 65536 + b;

export function pretokenize(text: string): string[] {
  return text.match(PRETOKENIZE) ?? [];
}

const utf8 = new TextEncoder();

export class Tokenizer {
  readonly kind: TokenizerKind;
  readonly vocabSize: number;
  readonly pad: number = PAD;
  readonly bos: number = BOS;
  readonly eos: number = EOS;
  readonly merges: readonly [number, number][];
  private readonly rank = new Map<number, number>(); // pair key -> merge index
  private readonly bytesOf: Uint8Array[] = []; // token id -> its bytes (specials: empty)
  private readonly cache = new Map<string, number[]>(); // word -> ids

  constructor(kind: TokenizerKind, merges: [number, number][]) {
    if (kind === "char" && merges.length > 0) throw new Error("Tokenizer: a char-level tokenizer has no merges");
    this.kind = kind;
    this.merges = merges;
    this.vocabSize = FIRST_MERGE + merges.length;
    for (let i = 0; i < 256; i++) this.bytesOf.push(Uint8Array.of(i));
    for (let i = 0; i < 3; i++) this.bytesOf.push(new Uint8Array(0));
    merges.forEach(([a, b], r) => {
      const id = FIRST_MERGE + r;
      if (!(a >= 0 && a < id && b >= 0 && b < id) || a === PAD || a === BOS || a === EOS || b === PAD || b === BOS || b === EOS) {
        throw new Error(`Tokenizer: merge ${r} = [${a}, ${b}] refers to a special or a later token`);
      }
      this.rank.set(pairKey(a, b), r);
      const ba = this.bytesOf[a], bb = this.bytesOf[b];
      const joined = new Uint8Array(ba.length + bb.length);
      joined.set(ba);
      joined.set(bb, ba.length);
      this.bytesOf.push(joined);
    });
  }

  isSpecial(id: number): boolean {
    return id === PAD || id === BOS || id === EOS;
  }

  /** Token ids of one pre-tokenized word: its bytes, then merges applied lowest rank first. */
  private encodeWord(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let ids = Array.from(utf8.encode(word));
    while (ids.length > 1 && this.rank.size > 0) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i < ids.length - 1; i++) {
        const r = this.rank.get(pairKey(ids[i], ids[i + 1]));
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) break;
      const [a, b] = this.merges[bestRank];
      const merged: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i < ids.length - 1 && ids[i] === a && ids[i + 1] === b) { merged.push(FIRST_MERGE + bestRank); i++; }
        else merged.push(ids[i]);
      }
      ids = merged;
    }
    if (this.cache.size < 200_000) this.cache.set(word, ids);
    return ids;
  }

  /** Text -> ids (no BOS/EOS added: callers add them where the data format wants them). */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const w of pretokenize(text)) for (const id of this.encodeWord(w)) out.push(id);
    return out;
  }

  /** Ids -> text. Specials are dropped unless keepSpecial, which renders them as <pad>, <bos>, <eos>. */
  decode(ids: ArrayLike<number>, opts: { keepSpecial?: boolean } = {}): string {
    const parts: Uint8Array[] = [];
    let text = "";
    const flush = () => {
      if (!parts.length) return;
      const n = parts.reduce((s, p) => s + p.length, 0);
      const buf = new Uint8Array(n);
      let o = 0;
      for (const p of parts) { buf.set(p, o); o += p.length; }
      text += new TextDecoder("utf-8").decode(buf);
      parts.length = 0;
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) throw new Error(`Tokenizer.decode: id ${id} is outside the vocabulary of ${this.vocabSize}`);
      if (this.isSpecial(id)) {
        if (opts.keepSpecial) { flush(); text += this.tokenString(id); }
        continue;
      }
      parts.push(this.bytesOf[id]);
    }
    flush();
    return text;
  }

  /** A readable form of one token, for tables: specials as <eos>, others as their text (invalid UTF-8 as bytes). */
  tokenString(id: number): string {
    if (id === PAD) return "<pad>";
    if (id === BOS) return "<bos>";
    if (id === EOS) return "<eos>";
    const bytes = this.bytesOf[id];
    if (!bytes) throw new Error(`Tokenizer.tokenString: id ${id} is outside the vocabulary of ${this.vocabSize}`);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return Array.from(bytes, (b) => `<0x${b.toString(16).padStart(2, "0")}>`).join("");
    }
  }

  toJSON(): TokenizerJSON {
    return {
      format: "rlhf-course-bpe", version: 1, kind: this.kind, vocab_size: this.vocabSize,
      specials: { pad: PAD, bos: BOS, eos: EOS }, merges: this.merges.map(([a, b]) => [a, b]),
    };
  }

  static fromJSON(j: TokenizerJSON): Tokenizer {
    if (j?.format !== "rlhf-course-bpe" || j.version !== 1) throw new Error(`Tokenizer.fromJSON: not a course tokenizer (format ${j?.format}, version ${j?.version})`);
    if (j.specials.pad !== PAD || j.specials.bos !== BOS || j.specials.eos !== EOS) throw new Error("Tokenizer.fromJSON: unexpected special token ids");
    const t = new Tokenizer(j.kind, j.merges);
    if (t.vocabSize !== j.vocab_size) throw new Error(`Tokenizer.fromJSON: vocab_size ${j.vocab_size} but ${t.vocabSize} tokens were rebuilt`);
    return t;
  }
}

export interface TrainTokenizerOptions {
  kind: TokenizerKind;
  /** Total vocabulary including the 256 bytes and 3 specials (bpe); ignored for char (always 259). */
  vocab_size: number;
}

/**
 * Learns a tokenizer from text (pass a sample: ~1-2 MB is plenty). Deterministic: ties between equally frequent
 * pairs go to the smaller pair key. Stops early (with fewer merges) if no pair occurs at least twice.
 */
export function trainTokenizer(text: string, opts: TrainTokenizerOptions): Tokenizer {
  if (opts.kind === "char") return new Tokenizer("char", []);
  if (!(Number.isInteger(opts.vocab_size) && opts.vocab_size >= FIRST_MERGE && opts.vocab_size <= 65535)) {
    throw new Error(`tokenizer.vocab_size must be an integer in [${FIRST_MERGE}, 65535] (256 bytes + 3 specials + merges), got ${opts.vocab_size}`);
  }
  const nMerges = opts.vocab_size - FIRST_MERGE;

  // 1. Distinct words and their counts.
  const counts = new Map<string, number>();
  for (const w of pretokenize(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words: number[][] = [];
  const freq: number[] = [];
  for (const [w, c] of counts) { words.push(Array.from(utf8.encode(w))); freq.push(c); }

  // 2. Pair counts, and which words hold each pair (may go stale; re-checked when used).
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: number) => {
    const t = words[wi], c = freq[wi] * sign;
    for (let i = 0; i < t.length - 1; i++) {
      const k = pairKey(t[i], t[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + c);
      if (sign > 0) {
        let s = where.get(k);
        if (!s) where.set(k, (s = new Set()));
        s.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1);

  // 3. Merge the most frequent pair, nMerges times.
  const merges: [number, number][] = [];
  const bar = progress("tokenizer: BPE merges", nMerges);
  for (let r = 0; r < nMerges; r++) {
    bar.tick();
    let bestKey = -1, bestCount = 1;
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && bestKey >= 0 && k < bestKey)) { bestKey = k; bestCount = c; }
    }
    if (bestKey < 0) break; // nothing occurs twice: more merges would only memorise
    const a = Math.floor(bestKey / 65536), b = bestKey % 65536;
    const id = FIRST_MERGE + r;
    merges.push([a, b]);
    for (const wi of where.get(bestKey) ?? []) {
      const t = words[wi];
      let has = false;
      for (let i = 0; i < t.length - 1; i++) if (t[i] === a && t[i + 1] === b) { has = true; break; }
      if (!has) continue;
      addPairs(wi, -1);
      const merged: number[] = [];
      for (let i = 0; i < t.length; i++) {
        if (i < t.length - 1 && t[i] === a && t[i + 1] === b) { merged.push(id); i++; }
        else merged.push(t[i]);
      }
      words[wi] = merged;
      addPairs(wi, 1);
    }
    where.delete(bestKey);
    pairCount.delete(bestKey);
    for (const [k, c] of pairCount) if (c === 0) pairCount.delete(k);
  }
  bar.done();
  return new Tokenizer("bpe", merges);
}

/** Characters per token and tokens per text, for notebook 01's comparison of tokenizers. */
export function tokenizerStats(tok: Tokenizer, text: string): { chars: number; tokens: number; charsPerToken: number; bytesPerToken: number } {
  const tokens = tok.encode(text).length;
  const chars = [...text].length;
  const bytes = utf8.encode(text).length;
  return { chars, tokens, charsPerToken: chars / Math.max(1, tokens), bytesPerToken: bytes / Math.max(1, tokens) };
}
