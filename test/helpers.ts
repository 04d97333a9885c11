// Shared by the tests. assertClose: element-wise closeness with the index in the message. assertCheckDiscriminates
// (the tests of lib/notebook/checks/): a check must pass the library's answer, fail each plausible wrong answer, and
// report an untouched stub as NOT DONE. The verdict is read from the line the check prints, as the notebook runner
// reads it.
import assert from "node:assert/strict";
import { VERDICT_PATTERN } from "../lib/notebook/exercise";

/** Runs a check with a capturing print and returns the status and the line it printed. */
function verdictOf<F>(run: (f: F, print: (l: string) => void) => void, f: F): { status: string; line: string } {
  const lines: string[] = [];
  run(f, (l) => lines.push(l));
  assert.equal(lines.length, 1, `a check prints exactly one verdict line, got ${lines.length}: ${lines.join(" | ")}`);
  const m = VERDICT_PATTERN.exec(lines[0]);
  assert.ok(m, `not a verdict line: ${lines[0]}`);
  return { status: m[2], line: lines[0] };
}

/** A check must pass the right answer, fail each wrong one, and report a stub as not done. */
export function assertCheckDiscriminates<F>(run: (f: F, print: (l: string) => void) => void, right: F, wrongs: Record<string, F>, stub: F): void {
  const r = verdictOf(run, right);
  assert.equal(r.status, "PASS", `the right answer must pass: ${r.line}`);
  for (const [name, w] of Object.entries(wrongs)) {
    const v = verdictOf(run, w);
    assert.equal(v.status, "FAIL", `the wrong answer "${name}" must fail, got: ${v.line}`);
  }
  assert.equal(verdictOf(run, stub).status, "NOT DONE");
}

/** Element-wise |actual - expected| <= tol, naming the first index that is not. */
export function assertClose(actual: ArrayLike<number>, expected: number[], tol = 1e-5): void {
  assert.equal(actual.length, expected.length, "length");
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `[${i}]: got ${actual[i]}, expected ${expected[i]} (tol ${tol})`);
  }
}
