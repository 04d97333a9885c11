// lib/core/progress.ts: silent unless a CLI turns it on; lines with a count, a percentage and an ETA on stderr only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { progress, setProgress } from "../lib/core/progress";

function capture(fn: () => void): string {
  const orig = process.stderr.write.bind(process.stderr);
  let out = "";
  (process.stderr as unknown as { write: (s: string) => boolean }).write = (s: string) => ((out += s), true);
  try {
    fn();
  } finally {
    (process.stderr as unknown as { write: typeof orig }).write = orig;
  }
  return out;
}

test("off by default; when on, prints count, percentage, ETA and a closing line", () => {
  setProgress(false);
  assert.equal(capture(() => { const p = progress("x", 4, { quietMs: 0, everyMs: 0 }); p.tick(); p.done(); }), "");
  setProgress(true);
  try {
    const out = capture(() => {
      const p = progress("sampling", 4, { quietMs: 0, everyMs: 0 });
      p.tick();
      p.update(3);
      p.tick();
      p.done();
    });
    assert.match(out, /sampling 1\/4 \(25%\) [\d.]+ s, eta [\d.]+ s/);
    assert.match(out, /sampling 3\/4 \(75%\)/);
    assert.match(out, /sampling: 4\/4 in [\d.]+ s/);
  } finally {
    setProgress(false);
  }
});
