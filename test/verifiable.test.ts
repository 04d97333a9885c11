// The verifiable task of notebook 11: prompt and answer format, the parser, the exact and the gameable reward, the
// problem generators (train and held-out disjoint), and the RewardFns the PPO loop calls.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { Rng } from "../lib/core/rng";
import { encodeQueries, encodeResponses } from "../lib/lm/rollout";
import { Tokenizer } from "../lib/lm/tokenizer";
import {
  carryCount, digitCountReward, exactMatchReward, heldOutProblems, parseCompletion, parsePrompt, problemAnswer, problemKey, problemPrompt,
  sampleProblem, trainProblems, verifiableRewardFns,
} from "../lib/reward/verifiable";

before(async () => {
  await initBackend();
});

describe("reversed-digit addition", () => {
  it("writes the operands zero-padded and the sum least significant digit first", () => {
    const p = { a: 42, b: 317, digits: 3 };
    assert.equal(problemPrompt(p), "042+317=");
    assert.equal(problemAnswer(p), "953"); // 359 reversed
    assert.equal(problemAnswer({ a: 999, b: 1, digits: 3 }), "0001"); // 1000: the carry makes a fourth digit
    assert.equal(problemAnswer({ a: 0, b: 0, digits: 2 }), "0");
    assert.deepEqual(parsePrompt("042+317="), p);
    for (const bad of ["42+317=", "042+317", "042-317=", "a42+317=", " 042+317="]) assert.equal(parsePrompt(bad), null, bad);
  });

  it("parses digits followed by EOS, and nothing else", () => {
    assert.equal(parseCompletion("953", true), "953");
    assert.equal(parseCompletion("953", false), null, "no EOS within the budget");
    for (const bad of ["", " 953", "953 ", "95x", "-953", "9 53"]) assert.equal(parseCompletion(bad, true), null, JSON.stringify(bad));
  });

  it("rewards exactly the answer: not the unreversed sum, not an extra zero, not without EOS", () => {
    assert.equal(exactMatchReward("042+317=", "953", true), 1);
    assert.equal(exactMatchReward("042+317=", "359", true), 0);
    assert.equal(exactMatchReward("042+317=", "9530", true), 0, "0359 is 359 as a number, but not the answer's text");
    assert.equal(exactMatchReward("042+317=", "953", false), 0);
    assert.equal(exactMatchReward("999+001=", "0001", true), 1);
    assert.throws(() => exactMatchReward("hello", "1", true), /not an addition prompt/);
  });

  it("the digit-count reward pays the bonus for any parsed answer of the right length", () => {
    assert.equal(digitCountReward("042+317=", "953", true, 0.5), 1.5);
    assert.equal(digitCountReward("042+317=", "111", true, 0.5), 0.5, "wrong, right length");
    assert.equal(digitCountReward("042+317=", "1111", true, 0.5), 0);
    assert.equal(digitCountReward("042+317=", "111", false, 0.5), 0, "no EOS: does not parse");
  });

  it("counts carries column by column", () => {
    assert.equal(carryCount({ a: 123, b: 456, digits: 3 }), 0);
    assert.equal(carryCount({ a: 999, b: 1, digits: 3 }), 3);
    assert.equal(carryCount({ a: 15, b: 5, digits: 2 }), 1);
    assert.equal(carryCount({ a: 50, b: 50, digits: 2 }), 1);
  });

  it("held-out problems are distinct and reproducible, and training draws never hit them", () => {
    const test = heldOutProblems(500, [2], 9);
    assert.equal(new Set(test.map(problemKey)).size, 500);
    assert.deepEqual(heldOutProblems(500, [2], 9), test);
    assert.notDeepEqual(heldOutProblems(500, [2], 10), test);
    const keys = new Set(test.map(problemKey));
    // 2 digits: 10,000 problems, 5% of them held out; 20,000 draws would hit one ~1,000 times if nothing rejected them
    const train = trainProblems(20000, [2], new Rng(1), keys);
    assert.equal(train.filter((p) => keys.has(problemKey(p))).length, 0);
    assert.ok(train.every((p) => p.digits === 2 && p.a < 100 && p.b < 100 && p.a >= 0 && p.b >= 0));
    assert.throws(() => heldOutProblems(60, [1], 1), /too few for training/);
    assert.throws(() => sampleProblem(0, new Rng(1)), /digits must be/);
  });
});

describe("verifiableRewardFns", () => {
  const tok = new Tokenizer("char", []);
  const batch = (prompts: string[], texts: string[], eos: boolean[]) => {
    const q = encodeQueries(tok, prompts);
    const rows = texts.map((t, i) => encodeResponses(tok, [t], 6, eos[i]));
    const responses = tf.concat(rows.map((r) => r.responses)) as tf.Tensor2D, mask = tf.concat(rows.map((r) => r.mask)) as tf.Tensor2D;
    tf.dispose(rows.flatMap((r) => [r.responses, r.mask]));
    return { ...q, responses, mask };
  };

  it("scores the decoded completions exactly, reads EOS from the tokens, and records what it saw", () => {
    const prompts = ["042+317=", "042+317=", "042+317=", "500+500="];
    const texts = ["953", "953", "111", "0001"];
    const b = batch(prompts, texts, [true, false, true, true]);
    const exact = verifiableRewardFns(tok);
    const r = exact.proxy(b);
    assert.deepEqual(Array.from(r.dataSync()), [1, 0, 0, 1]);
    assert.deepEqual(exact.last!.parsed, [true, false, true, true]);
    assert.deepEqual(exact.last!.rightLength, [true, false, true, true]);
    assert.deepEqual(exact.gold(prompts, texts), [1, 0, 0, 1], "the same batch: gold reuses the exact rewards with their EOS flags");
    assert.deepEqual(exact.gold(["042+317="], ["953"]), [1], "other texts are checked on their own");
    const gameable = verifiableRewardFns(tok, "digit_count", 0.5);
    const g = gameable.proxy(b);
    assert.deepEqual(Array.from(g.dataSync()), [1.5, 0, 0.5, 1.5]);
    assert.deepEqual(gameable.gold(prompts, texts), [1, 0, 0, 1], "gold is the exact reward whatever the proxy");
    tf.dispose([r, g, b.queries, b.queryMask, b.responses, b.mask]);
  });
});
