// A character n-gram language model with interpolated Kneser-Ney smoothing (Kneser & Ney 1995; Chen & Goodman 1998):
// how surprising a text is, character by character, to a model of plain English. It is the "is this natural text?"
// part of the natural gold (natural-gold.ts). Pure TypeScript, deterministic, no tensors: counts in open-addressing
// hash tables keyed by the n-gram's code, so scoring a review sentence takes a few microseconds per character.
//
// Texts are folded to lower-case printable ASCII (anything else becomes one "other" symbol) and scored as whole
// sentences: the context starts with order-1 boundary symbols and the end of the sentence is predicted too, so a text
// cut off mid-clause pays for the unlikely end.

/** Symbols: 1 = boundary (start/end of a sentence), 2 = any character outside printable ASCII, 3.. = ' ' .. '~'. */
export const NGRAM_BOUNDARY = 1;
const OTHER = 2;
/** The alphabet's size: boundary, other, and the 95 printable ASCII characters (upper-case ones are folded away). */
export const NGRAM_ALPHABET = 97;
// Each symbol takes 7 bits of a code; codes stay exact in a double up to 7 symbols (49 bits < 2^53).
const BASE = 128;
const MAX_ORDER = 7;

/** The symbol of one character code: lower-cased printable ASCII, or OTHER. */
function symbolOf(code: number): number {
  if (code >= 65 && code <= 90) code += 32;
  return code >= 32 && code <= 126 ? code - 29 : OTHER;
}

/** The symbols of a text, folded as the model reads it (no boundaries). */
export function ngramSymbols(text: string): number[] {
  const out = new Array<number>(text.length);
  for (let i = 0; i < text.length; i++) out[i] = symbolOf(text.charCodeAt(i));
  return out;
}

/**
 * A map from an integer code (< 2^53) to a count, with open addressing and linear probing: several times smaller
 * and faster than a Map<number, number> whose keys do not fit a small integer.
 */
class CodeTable {
  private keys: Float64Array;
  private vals: Float64Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1 << 16) {
    let cap = 1;
    while (cap < capacity) cap <<= 1;
    this.keys = new Float64Array(cap).fill(-1);
    this.vals = new Float64Array(cap);
    this.mask = cap - 1;
  }

  private slot(key: number): number {
    // mix the low and high 32 bits of the code: codes differ mostly in their low symbols
    const lo = key >>> 0, hi = Math.floor(key / 4294967296) >>> 0;
    let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    let i = h & this.mask;
    while (this.keys[i] !== -1 && this.keys[i] !== key) i = (i + 1) & this.mask;
    return i;
  }

  get(key: number): number {
    const i = this.slot(key);
    return this.keys[i] === key ? this.vals[i] : 0;
  }

  /** Adds delta to key's value; returns the value before. */
  add(key: number, delta: number): number {
    let i = this.slot(key);
    if (this.keys[i] !== key) {
      if ((this.size + 1) * 2 > this.keys.length) {
        this.grow();
        i = this.slot(key);
      }
      this.keys[i] = key;
      this.size++;
    }
    const before = this.vals[i];
    this.vals[i] = before + delta;
    return before;
  }

  forEach(fn: (key: number, value: number) => void): void {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== -1) fn(this.keys[i], this.vals[i]);
  }

  private grow(): void {
    const oldK = this.keys, oldV = this.vals;
    this.keys = new Float64Array(oldK.length * 2).fill(-1);
    this.vals = new Float64Array(oldK.length * 2);
    this.mask = this.keys.length - 1;
    for (let i = 0; i < oldK.length; i++) {
      if (oldK[i] === -1) continue;
      const j = this.slot(oldK[i]);
      this.keys[j] = oldK[i];
      this.vals[j] = oldV[i];
    }
  }
}

/** What a trained model reports about itself. */
export interface CharNgramStats {
  order: number;
  /** characters of training text (boundaries not counted) */
  chars: number;
  sentences: number;
  /** the discount of each order, 1..order (index 0 = unigrams) */
  discounts: number[];
  /** distinct n-grams of each order */
  types: number[];
}

/**
 * Interpolated Kneser-Ney over characters. The highest order uses raw counts; each lower order uses continuation
 * counts (how many distinct characters precede the n-gram), the unigram level is interpolated with the uniform
 * distribution over NGRAM_ALPHABET, so every symbol, seen or not, has a probability and they sum to 1 in any context.
 * One absolute discount per order, D = n1 / (n1 + 2 n2) (Chen & Goodman 1998), n1 and n2 the numbers of n-grams of
 * that order whose (continuation) count is 1 and 2.
 */
export class CharNgramModel {
  readonly order: number;
  /** count of each n-gram, by code: raw counts at the highest order, continuation counts below */
  private readonly grams = new CodeTable(1 << 20);
  /** per context code: the sum of its n-grams' counts, and how many distinct characters follow it */
  private readonly ctxTotal = new CodeTable(1 << 19);
  private readonly ctxTypes = new CodeTable(1 << 19);
  private readonly discount: Float64Array;
  private chars = 0;
  private sentences = 0;
  private readonly typesPerOrder: number[];

  /** Trains on sentences (each scored from a fresh context to its end). order: 2..7. */
  constructor(sentences: Iterable<string>, order = 6) {
    if (!(Number.isInteger(order) && order >= 2 && order <= MAX_ORDER)) throw new Error(`CharNgramModel: order must be an integer in 2..${MAX_ORDER}, got ${order}`);
    this.order = order;
    for (const s of sentences) this.count(s);
    if (this.sentences === 0) throw new Error("CharNgramModel: no training text");
    // discounts and context statistics, one pass over the n-gram table
    const n1 = new Array<number>(order + 1).fill(0), n2 = new Array<number>(order + 1).fill(0);
    this.typesPerOrder = new Array<number>(order).fill(0);
    this.grams.forEach((code, c) => {
      const k = codeLength(code);
      this.typesPerOrder[k - 1]++;
      if (c === 1) n1[k]++;
      else if (c === 2) n2[k]++;
      const ctx = Math.floor(code / BASE);
      this.ctxTotal.add(ctx * 8 + k, c); // the context's code alone does not say its order when it is empty
      this.ctxTypes.add(ctx * 8 + k, 1);
    });
    this.discount = new Float64Array(order + 1);
    for (let k = 1; k <= order; k++) {
      const d = n1[k] + 2 * n2[k] > 0 ? n1[k] / (n1[k] + 2 * n2[k]) : 0.5;
      this.discount[k] = Math.min(Math.max(d, 0.05), 0.95);
    }
  }

  private count(sentence: string): void {
    const n = this.order;
    const sym = ngramSymbols(sentence);
    sym.push(NGRAM_BOUNDARY);
    // history of the last n-1 symbols, most recent last, padded with boundaries
    const hist = new Array<number>(n - 1).fill(NGRAM_BOUNDARY);
    for (const s of sym) {
      // code of the k-gram ending here: s + BASE * (previous symbol) + BASE^2 * ... (most recent symbol lowest)
      // cascade: the top order counts every occurrence; a lower order counts a new left context of it, i.e. a
      // (k+1)-gram seen for the first time
      const codes = new Array<number>(n + 1);
      let code = s, mult = BASE;
      codes[1] = code;
      for (let k = 2; k <= n; k++) {
        code += hist[n - k] * mult;
        mult *= BASE;
        codes[k] = code;
      }
      for (let k = n; k >= 1; k--) {
        const before = this.grams.add(codes[k], 1);
        if (before !== 0) break;
      }
      hist.shift();
      hist.push(s);
    }
    this.chars += sentence.length;
    this.sentences++;
  }

  /** P(symbol | the preceding symbols), from hist: the last order-1 symbols, most recent last. */
  private prob(hist: ArrayLike<number>, s: number): number {
    const n = this.order;
    let p = 1 / NGRAM_ALPHABET;
    let ctx = 0, mult = 1;
    for (let k = 1; k <= n; k++) {
      if (k > 1) {
        ctx += hist[n - k] * mult;
        mult *= BASE;
      }
      const key = ctx * 8 + k;
      const total = this.ctxTotal.get(key);
      if (total === 0) break; // an unseen context: no longer one was seen either
      const c = this.grams.get(s + ctx * BASE);
      const d = this.discount[k];
      p = Math.max(c - d, 0) / total + (d * this.ctxTypes.get(key) / total) * p;
    }
    return p;
  }

  /** P(next symbol | text so far) for every symbol of the alphabet (index = symbol; index 0 unused, 0). */
  distribution(prefix: string): Float64Array {
    const hist = this.history(ngramSymbols(prefix));
    const out = new Float64Array(NGRAM_ALPHABET + 1);
    for (let s = 1; s <= NGRAM_ALPHABET; s++) out[s] = this.prob(hist, s);
    return out;
  }

  private history(sym: number[]): number[] {
    const hist = new Array<number>(this.order - 1).fill(NGRAM_BOUNDARY);
    for (const s of sym) {
      hist.shift();
      hist.push(s);
    }
    return hist;
  }

  /**
   * The surprisal, in bits, of each character of the text and, last, of the sentence ending there
   * (length text.length + 1).
   */
  surprisals(text: string): Float64Array {
    const sym = ngramSymbols(text);
    sym.push(NGRAM_BOUNDARY);
    const n = this.order;
    const hist = new Int32Array(n - 1).fill(NGRAM_BOUNDARY);
    const out = new Float64Array(sym.length);
    for (let i = 0; i < sym.length; i++) {
      out[i] = -Math.log2(this.prob(hist, sym[i]));
      hist.copyWithin(0, 1);
      if (n > 1) hist[n - 2] = sym[i];
    }
    return out;
  }

  /**
   * The cost, in bits, of ending the sentence after the text: the end itself, or a full stop and then the end,
   * whichever is likelier (review sentences often leave the full stop out). One pass over the text.
   */
  endBits(text: string): number {
    const hist = Int32Array.from(this.history(ngramSymbols(text)));
    const direct = -Math.log2(this.prob(hist, NGRAM_BOUNDARY));
    const stop = symbolOf(46); // "."
    const pStop = this.prob(hist, stop);
    hist.copyWithin(0, 1);
    hist[this.order - 2] = stop;
    return Math.min(direct, -Math.log2(pStop * this.prob(hist, NGRAM_BOUNDARY)));
  }

  /** Mean bits per character of the text as a sentence, its end included (so "" costs the end alone). */
  bitsPerChar(text: string): number {
    const s = this.surprisals(text);
    let sum = 0;
    for (const v of s) sum += v;
    return sum / s.length;
  }

  /** log2 P(text as a whole sentence, end included). */
  log2Prob(text: string): number {
    let sum = 0;
    for (const v of this.surprisals(text)) sum -= v;
    return sum;
  }

  stats(): CharNgramStats {
    return {
      order: this.order, chars: this.chars, sentences: this.sentences,
      discounts: Array.from(this.discount.subarray(1)), types: this.typesPerOrder.slice(),
    };
  }
}

/** How many symbols a code holds (symbols are never 0, so the length is the number of base-128 digits). */
function codeLength(code: number): number {
  let k = 0;
  while (code > 0) {
    code = Math.floor(code / BASE);
    k++;
  }
  return k;
}

/**
 * Sentences of running text: one paragraph a line, cut after ".", "!" or "?" (and a closing quote) before a space.
 * Good enough to teach the model where English sentences end.
 */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    for (const s of line.split(/(?<=[.!?]["')]?)\s+(?=["'(]?[A-Z0-9])/)) {
      const t = s.trim();
      if (t.length > 0) out.push(t);
    }
  }
  return out;
}
