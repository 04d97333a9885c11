// Seeded randomness for everything the course draws: weight init, batches, dropout seeds, sampling, labeller noise.
// One seed in the config reproduces a run. Math.random cannot be seeded, so we carry our own generator.
//
// Generator: mulberry32 (32-bit state, passes BigCrush's small-state tests, ~1 ns per draw) — tiny and readable.
// Streams: fork(label) derives an independent generator from this one's *seed* and a label, not from its current
// state, so adding a draw in one place (say, one more batch) never shifts what another stream (say, init) sees.

/** FNV-1a string hash mixed with a seed, then finalised with a murmur3-style avalanche. */
function hashSeed(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** Where a generator stands: enough to continue its sequence exactly (lib/train/resume.ts saves it). */
export interface RngState {
  seed: number;
  state: number;
  spareNormal: number | null;
}

export class Rng {
  /** The seed this stream started from (forks hash it with their label). */
  readonly seed: number;
  private state: number;
  private spareNormal: number | undefined;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    this.seed = Math.floor(seed) >>> 0;
    // Scramble so that nearby seeds (1, 2, 3) give unrelated sequences.
    this.state = hashSeed(this.seed, "rng");
  }

  /** Uniform float in [0, 1), 32 bits of resolution (mulberry32). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Gaussian draw (Box-Muller; the second value of each pair is kept for the next call). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== undefined) {
      const z = this.spareNormal;
      this.spareNormal = undefined;
      return mean + std * z;
    }
    let u = this.next();
    while (u <= 1e-12) u = this.next(); // log(0) guard
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** n Gaussian draws as a Float32Array (weight init). */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n)) throw new Error(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  intBetween(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** Fisher-Yates shuffle, in place; returns the same array. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** One element picked uniformly. */
  choice<T>(arr: readonly T[]): T {
    if (arr.length === 0) throw new Error("Rng.choice: empty array");
    return arr[this.int(arr.length)];
  }

  /**
   * Index drawn with probability proportional to weights[i] (weights need not sum to 1; negative or NaN weights are
   * an error, since they mean a bug upstream such as a softmax over -Infinity only).
   */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i];
      if (!(w >= 0)) throw new Error(`Rng.categorical: weight ${i} is ${w}; weights must be >= 0`);
      total += w;
    }
    if (!(total > 0)) throw new Error("Rng.categorical: all weights are zero");
    let u = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i];
      if (u < 0) return i;
    }
    // Rounding can leave u a hair above 0: return the last index with positive weight.
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i;
    return weights.length - 1;
  }

  /** An independent stream named by label; depends only on (this.seed, label). */
  fork(label: string): Rng {
    return new Rng(hashSeed(this.seed, label));
  }

  /** The stream's position, for a resumable checkpoint: setState(getState()) continues the same sequence. */
  getState(): RngState {
    return { seed: this.seed, state: this.state, spareNormal: this.spareNormal ?? null };
  }

  /** Continues from a saved position; refuses a state saved from another stream (a different seed or label). */
  setState(s: RngState): void {
    if (s?.seed !== this.seed || !Number.isInteger(s.state)) {
      throw new Error(`Rng.setState: the saved state belongs to stream seed ${s?.seed}, this stream's seed is ${this.seed}`);
    }
    this.state = s.state >>> 0;
    this.spareNormal = s.spareNormal ?? undefined;
  }

  /** A 32-bit integer seed, e.g. for tf.randomUniform or dropout. */
  nextSeed(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
}
