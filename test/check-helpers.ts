// Shared by the tests of lib/checks/: a check must pass the library's answer, fail each plausible wrong answer, and
// report an untouched stub as NOT DONE.
import assert from "node:assert/strict";

const quiet = () => {};

/** A check must pass the right answer, fail each wrong one, and report a stub as not done. */
export function assertCheckDiscriminates<F>(run: (f: F, print: (l: string) => void) => { status: string; detail: string }, right: F, wrongs: Record<string, F>, stub: F): void {
  const r = run(right, quiet);
  assert.equal(r.status, "PASS", `the right answer must pass: ${r.detail}`);
  for (const [name, w] of Object.entries(wrongs)) {
    const v = run(w, quiet);
    assert.equal(v.status, "FAIL", `the wrong answer "${name}" must fail, got ${v.status}: ${v.detail}`);
  }
  assert.equal(run(stub, quiet).status, "NOT DONE");
}

