// Exercises that check themselves. A notebook's exercise is a function the learner writes; its check cell hands that
// function to a check in lib/checks/, which runs it against the library on random inputs (random masks included) and
// prints one verdict line:
//
//   exercise 05.2 k3 estimator: PASS (agrees with lib/rl/kl klPerToken on 12 random masked batches)
//   exercise 05.2 k3 estimator: FAIL (row 1, token 3: yours 0.1312, lib 0.0841; ...)
//   exercise 05.2 k3 estimator: NOT DONE (replace notDone() in the exercise cell with your code)
//
// The stub of every exercise calls notDone(), which throws NotDone: the check reports NOT DONE instead of crashing
// the notebook, so a learner can run the whole notebook before doing any exercise. The notebook runner reads these
// lines: on the learner's notebooks every exercise must say NOT DONE, on the solution notebooks every one PASS.
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng";

/** Thrown by an exercise stub that the learner has not written yet. */
export class NotDone extends Error {
  constructor() {
    super("not done yet");
    this.name = "NotDone";
  }
}

/** The body of an unwritten exercise: `return notDone();` type-checks in any function. */
export function notDone(): never {
  throw new NotDone();
}

/** A check's finding that the learner's code disagrees with the library: the message says what and where. */
export class CheckFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckFailure";
  }
}

export type VerdictStatus = "PASS" | "FAIL" | "NOT DONE";

export interface Verdict {
  id: string; // "05.2": notebook 05, exercise 2
  title: string;
  status: VerdictStatus;
  detail: string;
}

/** The line a check prints; tools/run-notebooks.js parses it with VERDICT_PATTERN. */
export function formatVerdict(v: Verdict): string {
  return `exercise ${v.id} ${v.title}: ${v.status} (${v.detail})`;
}

export const VERDICT_PATTERN = /^exercise (\d\d[a-z]?\.\d+) .*?: (PASS|FAIL|NOT DONE) \(/;

/**
 * Runs one check and prints its verdict. `body` throws CheckFailure (or any error from the learner's code) to fail,
 * NotDone propagates from an unwritten stub, and a returned string is the PASS detail. Never throws: a notebook
 * keeps running whatever the learner wrote. Tensors the check makes are freed.
 */
export function check(id: string, title: string, body: () => string, print: (line: string) => void = console.log): Verdict {
  let v: Verdict;
  const before = tf.memory().numTensors;
  try {
    v = { id, title, status: "PASS", detail: body() };
  } catch (e) {
    if (e instanceof NotDone) v = { id, title, status: "NOT DONE", detail: "replace notDone() in the exercise cell with your code, then run it and this cell again" };
    else if (e instanceof CheckFailure) v = { id, title, status: "FAIL", detail: e.message };
    else v = { id, title, status: "FAIL", detail: `your code threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` };
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked > 0 && v.status === "PASS") v.detail += `; note: ${leaked} tensor(s) were not disposed (wrap the body in tf.tidy)`;
  print(formatVerdict(v));
  return v;
}

/** Flattens a number, array or tensor into numbers (a tensor is read, not disposed). */
function numbersOf(x: unknown, what: string): number[] {
  if (x instanceof tf.Tensor) return Array.from(x.dataSync());
  if (typeof x === "number") return [x];
  if (Array.isArray(x)) return (x.flat(Infinity) as unknown[]).map((v) => Number(v));
  throw new CheckFailure(`${what}: expected a number, an array or a tensor, got ${x === null ? "null" : typeof x}`);
}

function shapeOf(x: unknown): number[] {
  if (x instanceof tf.Tensor) return x.shape;
  const s: number[] = [];
  let v = x;
  while (Array.isArray(v)) {
    s.push(v.length);
    v = v[0];
  }
  return s;
}

/** "row 1, token 3" for a [B, T] index, "[i]" otherwise. */
function where(i: number, shape: number[], labels: string[]): string {
  if (shape.length <= 1) return `${labels[0] ?? "index"} ${i}`;
  const idx: number[] = [];
  let r = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(r % shape[d]);
    r = Math.floor(r / shape[d]);
  }
  return idx.map((k, d) => `${labels[d] ?? `axis ${d}`} ${k}`).join(", ");
}

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  /** Names of the axes for messages, e.g. ["row", "token"]. */
  labels?: string[];
  /** Compare only where this 0/1 array (same size) is 1; padded positions of a learner's output are then free. */
  mask?: ArrayLike<number>;
}

/**
 * Throws CheckFailure unless `yours` and `want` agree elementwise: same shape, and |a - b| <= atol + rtol |b| (NaN
 * never agrees). The message names the first positions that differ and how many do.
 */
export function assertClose(what: string, yours: unknown, want: unknown, o: CloseOptions = {}): void {
  const atol = o.atol ?? 1e-4;
  const rtol = o.rtol ?? 1e-3;
  const sy = shapeOf(yours);
  const sw = shapeOf(want);
  const a = numbersOf(yours, what);
  const b = numbersOf(want, what);
  if (a.length !== b.length || (sy.length > 0 && sw.length > 0 && sy.join(",") !== sw.join(","))) {
    throw new CheckFailure(`${what}: yours has shape [${sy}], expected [${sw}]`);
  }
  const bad: number[] = [];
  for (let i = 0; i < a.length; i++) {
    if (o.mask && o.mask[i] === 0) continue;
    if (!(Math.abs(a[i] - b[i]) <= atol + rtol * Math.abs(b[i]))) bad.push(i);
  }
  if (bad.length === 0) return;
  const labels = o.labels ?? (sw.length === 2 ? ["row", "token"] : ["index"]);
  const first = bad.slice(0, 3).map((i) => `${where(i, sw, labels)}: yours ${fmt(a[i])}, expected ${fmt(b[i])}`).join("; ");
  throw new CheckFailure(`${what}: ${bad.length} of ${o.mask ? Array.from(o.mask).filter((m) => m !== 0).length : a.length} values differ; ${first}`);
}

function fmt(x: number): string {
  return Number.isFinite(x) ? (Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(4) : x.toExponential(3)) : String(x);
}

/**
 * A right-padded 0/1 mask [B, T] in the course's convention (1 for real response tokens, 0 after): every row has
 * at least one real token, and some rows end early, so a function that ignores the mask is caught.
 */
export function randomMask(rng: Rng, b: number, t: number): number[][] {
  return Array.from({ length: b }, (_, i) => {
    const n = i === 0 ? t : 1 + rng.int(t); // row 0 full, the others of random length
    return Array.from({ length: t }, (_, j) => (j < n ? 1 : 0));
  });
}

/** A [B, T] array of normal draws; where mask is 0 the value is garbage on purpose (large), as in a real batch. */
export function randomMatrix(rng: Rng, b: number, t: number, mean = 0, std = 1, mask?: number[][]): number[][] {
  return Array.from({ length: b }, (_, i) => Array.from({ length: t }, (_, j) => (mask && mask[i][j] === 0 ? 7 + 3 * rng.next() : rng.normal(mean, std))));
}

/** The number in a learner's scalar (a number or a one-element tensor, which is disposed). */
export function scalarValue(x: tf.Tensor | number, what: string): number {
  if (typeof x === "number") return x;
  if (!(x instanceof tf.Tensor)) throw new CheckFailure(`${what}: expected a scalar tensor or a number, got ${typeof x}`);
  const size = x.size, shape = x.shape;
  const v = x.dataSync()[0];
  x.dispose();
  if (size !== 1) throw new CheckFailure(`${what}: expected a scalar, yours has shape [${shape}]`);
  return v;
}

/** Reveals a measured answer next to the learner's prediction ("predict, then run"). */
export function reveal(question: string, measured: string, prediction?: unknown, print: (line: string) => void = console.log): void {
  const said = prediction === undefined || prediction === null || prediction === "" ? "you made no prediction" : `you predicted: ${String(prediction)}`;
  print(`${question}\n  measured: ${measured}\n  ${said}`);
}
