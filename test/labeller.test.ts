import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../lib/core/backend";
import { Labeller, goldScore, labellerCeiling } from "../lib/reward/labeller";
import { Rng } from "../lib/core/rng";

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

before(async () => {
  await initBackend(); // the labeller uses no tensors; every test file starts the same way
});

describe("goldScore (VADER compound)", () => {
  it("scores known sentences", () => {
    assert.equal(goldScore("this is great!"), 0.6588);
    assert.equal(goldScore("the table is in the room"), 0);
    assert.ok(goldScore("this movie was terrible and boring") < -0.5);
    assert.ok(goldScore("not good") < 0, "VADER handles negation");
  });
});

describe("Labeller", () => {
  it("prob = sigmoid(beta * (goldA - goldB)), symmetric, 0.5 on a tie, hard with beta = Infinity", () => {
    const l = new Labeller(10, 1);
    assert.ok(Math.abs(l.prob(0.5, 0.3) - 0.8807971) < 1e-7); // sigmoid(2)
    assert.ok(Math.abs(l.prob(0.5, 0.3) + l.prob(0.3, 0.5) - 1) < 1e-12);
    assert.equal(l.prob(0.2, 0.2), 0.5);
    const hard = new Labeller(Infinity, 1);
    assert.deepEqual([hard.prob(0.1, 0), hard.prob(0, 0.1), hard.prob(0.1, 0.1)], [1, 0, 0.5]);
    assert.throws(() => new Labeller(-1, 1), /beta must be >= 0/);
  });

  it("is deterministic for a seed, and different seeds give different labels", () => {
    const draw = (seed: number) => {
      const l = new Labeller(5, seed);
      return Array.from({ length: 500 }, (_, i) => l.label(Math.sin(i), Math.cos(i)));
    };
    assert.deepEqual(draw(42), draw(42));
    const fromStream = new Labeller(5, new Rng(42)); // a stream of the run's generator works the same way
    assert.deepEqual(Array.from({ length: 500 }, (_, i) => fromStream.label(Math.sin(i), Math.cos(i))), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
  });

  it("its preference rate matches sigmoid(beta * delta) over many draws", () => {
    const beta = 5;
    const n = 20000;
    const l = new Labeller(beta, 2024);
    for (const delta of [0, 0.05, 0.2, -0.3, 1]) {
      let ones = 0;
      for (let i = 0; i < n; i++) ones += l.label(0.1 + delta, 0.1);
      const p = sigmoid(beta * delta);
      const tol = 4 * Math.sqrt((p * (1 - p)) / n) + 1e-9; // 4 standard errors
      assert.ok(Math.abs(ones / n - p) <= tol, `delta ${delta}: rate ${ones / n} vs p ${p} (tol ${tol})`);
    }
  });
});

describe("labellerCeiling", () => {
  it("is the mean of max(p, 1 - p)", () => {
    assert.ok(Math.abs(labellerCeiling([0.9, 0.2, 0.5]) - (0.9 + 0.8 + 0.5) / 3) < 1e-12);
    assert.equal(labellerCeiling([1, 0]), 1);
    assert.throws(() => labellerCeiling([]), /no pairs/);
  });

  it("equals the accuracy of the best predictor (pick the likelier label) over many labelled pairs", () => {
    const l = new Labeller(10, 7);
    const golds = Array.from({ length: 20000 }, (_, i) => [Math.sin(i * 1.3), Math.sin(i * 0.7 + 1)] as const);
    const probs = golds.map(([a, b]) => l.prob(a, b));
    let correct = 0;
    golds.forEach(([a, b], i) => {
      const label = l.label(a, b);
      const guess = probs[i] > 0.5 ? 1 : probs[i] < 0.5 ? 0 : 0.5; // a tie scores half either way
      correct += guess === 0.5 ? 0.5 : guess === label ? 1 : 0;
    });
    const ceiling = labellerCeiling(probs);
    // the accuracy's standard error is below sqrt(0.25 / 20000) = 0.0035: 0.015 is over 4 of them
    assert.ok(Math.abs(correct / golds.length - ceiling) < 0.015, `accuracy ${correct / golds.length} vs ceiling ${ceiling}`);
  });
});
