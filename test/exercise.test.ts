// The exercise machinery (lib/notebook/exercise.ts, tools/nb.js variants, the runner's verdict scan) and the checks of
// lib/checks/: every check must PASS the library's own answer, FAIL a plausible wrong answer, and say NOT DONE for
// an untouched stub. A check that passes a wrong answer cannot teach anything.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertClose, check, CheckFailure, formatVerdict, notDone, randomMask, VERDICT_PATTERN } from "../lib/notebook/exercise";
import { Rng } from "../lib/core/rng";
import { checkGae, GaeExercise } from "../lib/notebook/checks/nb06";
import { assertCheckDiscriminates } from "./helpers";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nbgen = require("../tools/nb.js") as {
  parseSource(text: string, file?: string): { kind: string; text: string }[];
  variant(cells: { kind: string; text: string }[], which: string, file?: string): { cells: { kind: string; text: string }[]; ids: string[] };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runner = require("../tools/run-notebooks.js") as { scanVerdicts(nb: unknown): string[] };

const quiet = () => {};

describe("lib/notebook/exercise", () => {
  it("check() turns NotDone, CheckFailure and a thrown error into verdicts, and never throws", () => {
    assert.equal(check("00.1", "t", () => notDone(), quiet).status, "NOT DONE");
    const f = check("00.1", "t", () => { throw new CheckFailure("row 1 differs"); }, quiet);
    assert.equal(f.status, "FAIL");
    assert.match(f.detail, /row 1 differs/);
    const e = check("00.1", "t", () => { throw new TypeError("x is undefined"); }, quiet);
    assert.equal(e.status, "FAIL");
    assert.match(e.detail, /TypeError: x is undefined/);
    assert.equal(check("00.1", "t", () => "fine", quiet).status, "PASS");
  });

  it("verdict lines match the pattern the runner parses", () => {
    for (const status of ["PASS", "FAIL", "NOT DONE"] as const) {
      const m = VERDICT_PATTERN.exec(formatVerdict({ id: "05.2", title: "k3 estimator", status, detail: "d" }));
      assert.ok(m);
      assert.deepEqual([m[1], m[2]], ["05.2", status]);
    }
  });

  it("assertClose names the position and the values, respects the mask, and refuses NaN and wrong shapes", () => {
    assert.throws(() => assertClose("adv", [[1, 2, 3], [4, 5, 6]], [[1, 2, 3], [4, 9, 6]]), /1 of 6 values differ; row 1, token 1: yours 5\.0000, expected 9\.0000/);
    assertClose("adv", [[1, 2, 99]], [[1, 2, 3]], { mask: [1, 1, 0] });
    assert.throws(() => assertClose("x", [NaN], [0]), CheckFailure);
    assert.throws(() => assertClose("x", [[1, 2]], [[1], [2]]), /shape \[1,2\], expected \[2,1\]/);
    const t = tf.tensor2d([[1, 2]]);
    assertClose("tensor", t, [[1, 2]]);
    t.dispose();
  });

  it("randomMask is right-padded with at least one real token per row", () => {
    const m = randomMask(new Rng(3), 20, 7);
    for (const row of m) {
      assert.ok(row[0] === 1);
      for (let j = 1; j < row.length; j++) assert.ok(row[j] <= row[j - 1]);
    }
    assert.ok(m.some((row) => row[6] === 0), "some rows end early");
  });
});

describe("tools/nb.js exercise variants", () => {
  const src = "%% code\nfunction f() {\n  //! stub 03.1\n  return notDone();\n  //! solution\n  return 42;\n  //! end\n}\n%% md\ntext";
  it("the learner's notebook keeps the stub, the solution notebook the answer, both list the ids", () => {
    const cells = nbgen.parseSource(src);
    const l = nbgen.variant(cells, "learner");
    const s = nbgen.variant(cells, "solution");
    assert.deepEqual(l.ids, ["03.1"]);
    assert.equal(l.cells[0].text, "function f() {\n  return notDone();\n}");
    assert.equal(s.cells[0].text, "function f() {\n  return 42;\n}");
    assert.equal(s.cells[1].text, "text");
  });
  it("the solution notebook, one folder deeper, links to the repository one level further up", () => {
    const cells = nbgen.parseSource("%% md\nsee [the glossary](../docs/glossary.md)\n%% code\n//! stub 01.1\nx\n//! solution\ny\n//! end");
    assert.equal(nbgen.variant(cells, "learner").cells[0].text, "see [the glossary](../docs/glossary.md)");
    assert.equal(nbgen.variant(cells, "solution").cells[0].text, "see [the glossary](../../docs/glossary.md)");
  });
  it("refuses unbalanced markers, naming the file and the exercise", () => {
    assert.throws(() => nbgen.variant(nbgen.parseSource("%% code\n//! stub 01.1\nx"), "learner", "a.nb"), /a\.nb: exercise 01\.1 is not closed/);
    assert.throws(() => nbgen.variant(nbgen.parseSource("%% code\n//! solution\nx\n//! end"), "learner", "a.nb"), /a\.nb: "\/\/! solution" without/);
    assert.throws(() => nbgen.variant(nbgen.parseSource("%% code\n//! stub 01.1\n//! solution\n//! end\n//! stub 01.1\n//! solution\n//! end"), "learner", "a.nb"), /01\.1 appears twice/);
  });
});

describe("tools/run-notebooks.js verdict scan", () => {
  const nb = (variant: string, lines: string[]) => ({
    metadata: { rlhf_course: { variant, exercises: ["06.1", "06.2"] } },
    cells: [{ cell_type: "code", outputs: lines.map((text) => ({ output_type: "stream", text })) }],
  });
  it("learner notebooks need NOT DONE from every check, solution notebooks PASS", () => {
    const nd = (id: string) => `exercise ${id} x: NOT DONE (stub)\n`;
    const ok = (id: string) => `exercise ${id} x: PASS (fine)\n`;
    assert.deepEqual(runner.scanVerdicts(nb("learner", [nd("06.1"), nd("06.2")])), []);
    assert.deepEqual(runner.scanVerdicts(nb("solution", [ok("06.1"), ok("06.2")])), []);
    assert.match(runner.scanVerdicts(nb("solution", [ok("06.1"), "exercise 06.2 x: FAIL (row 0)\n"])).join(), /06\.2: FAIL in the solution notebook, expected PASS/);
    assert.match(runner.scanVerdicts(nb("learner", [nd("06.1")])).join(), /06\.2: no verdict printed/);
    assert.match(runner.scanVerdicts(nb("learner", [ok("06.1"), nd("06.2")])).join(), /06\.1: PASS in the learner notebook, expected NOT DONE/);
  });
});

describe("lib/notebook/checks/nb06", () => {
  const right: GaeExercise = (r, v, m, gamma, lambda) => r.map((row, i) => {
    const adv = row.map(() => 0);
    let nv = 0, na = 0;
    for (let t = row.length - 1; t >= 0; t--) {
      if (m[i][t] === 0) continue;
      adv[t] = row[t] + gamma * nv - v[i][t] + gamma * lambda * na;
      nv = v[i][t];
      na = adv[t];
    }
    return adv;
  });
  it("06.1 GAE: passes the recursion, fails a mask-blind one and one without the lambda", () => {
    assertCheckDiscriminates(checkGae, right, {
      "ignores the mask": (r, v, _m, gamma, lambda) => right(r, v, r.map((row) => row.map(() => 1)), gamma, lambda),
      "forgets lambda": (r, v, m, gamma) => right(r, v, m, gamma, 1),
      "bootstraps from padding": (r, v, m, gamma, lambda) => r.map((row, i) => {
        const adv = row.map(() => 0);
        let na = 0;
        for (let t = row.length - 1; t >= 0; t--) {
          if (m[i][t] === 0) continue;
          const nv = t + 1 < row.length ? v[i][t + 1] : 0;
          adv[t] = row[t] + gamma * nv - v[i][t] + gamma * lambda * na;
          na = adv[t];
        }
        return adv;
      }),
    }, () => notDone());
  });
});
