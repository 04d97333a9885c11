// lib/core/metrics: row logging and merging, CSV text and round trip, atomic writes, the danfojs DataFrame (and that
// loading danfojs leaves the backend alone), run folders and summaries.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/core/backend";
import { atomicWrite, loadDanfo, MetricsLog, readSummary, runDir, writeSummary } from "../lib/core/metrics";

let tmp: string;
before(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "metrics-test-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The log used by several tests: a train row, an eval value joining it, a NaN, a gap. */
function sample(): MetricsLog {
  const log = new MetricsLog("pretrain");
  log.log(0, { loss: 2.5 });
  log.log(0, { lr: 0.001 }); // same step: completes row 0
  log.log(10, { loss: NaN, lr: undefined }); // undefined = not logged
  log.log(20, { val_loss: 1 / 3, lr: null });
  return log;
}

describe("MetricsLog", () => {
  it("merges a step's values into one row; missing values are null", () => {
    const log = sample();
    assert.equal(log.length, 3);
    assert.deepEqual(log.columns, ["step", "loss", "lr", "val_loss"]);
    assert.deepEqual(log.rows(), [
      { step: 0, loss: 2.5, lr: 0.001, val_loss: null },
      { step: 10, loss: NaN, lr: null, val_loss: null },
      { step: 20, loss: null, lr: null, val_loss: 1 / 3 },
    ]);
    assert.deepEqual(log.column("loss"), [2.5, NaN, null]);
    assert.deepEqual(log.column("step"), [0, 10, 20]);
    assert.deepEqual(log.series("loss"), { x: [0, 10], y: [2.5, NaN] });
    assert.deepEqual(log.series("val_loss"), { x: [20], y: [1 / 3] });
    assert.equal(log.last("lr"), 0.001);
    assert.equal(log.last("nothing"), undefined);
  });

  it("refuses decreasing steps, a value logged twice at a step, and a metric named step", () => {
    const log = sample();
    assert.throws(() => log.log(5, { loss: 1 }), /step 5 logged after step 20; steps must not decrease/);
    assert.throws(() => log.log(20, { val_loss: 0.1 }), /step 20 already has val_loss/);
    assert.throws(() => log.log(30, { step: 1 }), /"step" is the row key/);
    assert.throws(() => log.log(NaN, { loss: 1 }), /step must be a finite number/);
  });

  it("writes the CSV text exactly: empty cell = not logged, NaN kept, shortest round-trip numbers", () => {
    assert.equal(sample().toCsvString(), "step,loss,lr,val_loss\n0,2.5,0.001,\n10,NaN,,\n20,,,0.3333333333333333\n");
  });

  it("toCsv writes atomically and readCsv reads the same rows back", () => {
    const file = path.join(tmp, "runs", "pretrain", "metrics.csv");
    const log = sample();
    log.toCsv(file);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ["metrics.csv"]); // no temp file left behind
    const back = MetricsLog.readCsv(file);
    assert.equal(back.stage, "pretrain");
    assert.deepEqual(back.columns, log.columns);
    assert.deepEqual(back.rows(), log.rows());
    assert.throws(() => MetricsLog.fromCsvString("step,loss\n1,abc\n", "x", "m.csv"), /m\.csv:2: "abc" is not a number/);
    assert.throws(() => MetricsLog.fromCsvString("loss\n1\n", "x", "m.csv"), /first column must be "step"/);
  });

  it("formatRow prints a console line, skipping missing values", () => {
    assert.equal(MetricsLog.formatRow({ step: 100, loss: 3.21054, lr: 0.0019, kl: null, tiny: 1e-5 }), "step 100 | loss 3.2105 | lr 0.0019 | tiny 1.000e-5");
  });
});

describe("atomicWrite", () => {
  it("replaces the content, and a failed write leaves the old file and no temporary", () => {
    const file = path.join(tmp, "a", "x.json");
    atomicWrite(file, "old");
    atomicWrite(file, "new");
    assert.equal(fs.readFileSync(file, "utf8"), "new");
    // Renaming a file onto a non-empty directory fails: the write must throw and clean up after itself.
    const dirTarget = path.join(tmp, "a", "d");
    fs.mkdirSync(path.join(dirTarget, "inner"), { recursive: true });
    assert.throws(() => atomicWrite(dirTarget, "content"));
    assert.deepEqual(fs.readdirSync(path.join(tmp, "a")).sort(), ["d", "x.json"]);
    assert.equal(fs.readFileSync(file, "utf8"), "new");
  });
});

describe("danfojs", () => {
  it("toDataFrame gives the rows with NaN for missing values, and loading danfojs keeps the backend", () => {
    const backend = tf.getBackend();
    const df = sample().toDataFrame();
    assert.equal(tf.getBackend(), backend);
    assert.deepEqual(df.shape, [3, 4]);
    assert.deepEqual(df.columns, ["step", "loss", "lr", "val_loss"]);
    assert.deepEqual(df.values, [
      [0, 2.5, 0.001, NaN],
      [10, NaN, NaN, NaN],
      [20, NaN, NaN, 1 / 3],
    ]);
    assert.equal(new MetricsLog("empty").toDataFrame().shape[0], 0);
  });

  it("uses the project's single tfjs-core and reads the CSV toCsv wrote", async () => {
    const dfd = loadDanfo();
    const danfoDir = path.dirname(require.resolve("danfojs-node/package.json"));
    const coreFromDanfo = require.resolve("@tensorflow/tfjs-core", { paths: [danfoDir] });
    assert.equal(coreFromDanfo, require.resolve("@tensorflow/tfjs-core"));
    const file = path.join(tmp, "csv", "metrics.csv");
    sample().toCsv(file);
    const df = await dfd.readCSV(file);
    assert.deepEqual(df.columns, ["step", "loss", "lr", "val_loss"]);
    assert.deepEqual(df.column("step").values, [0, 10, 20]);
    assert.equal(df.column("lr").values[0], 0.001);
  });
});

describe("run folders and summaries", () => {
  it("runDir creates <paths.runs>/<stage>; writeSummary/readSummary round-trip atomically", () => {
    const dir = runDir({ paths: { runs: path.join(tmp, "runs-abs") } }, "sft");
    assert.equal(dir, path.join(tmp, "runs-abs", "sft"));
    assert.ok(fs.statSync(dir).isDirectory());
    assert.equal(readSummary(dir), undefined);
    const summary = { val_loss_before: 3.5, val_loss_after: 2.25, seconds: 12.5 };
    const file = writeSummary(dir, summary);
    assert.equal(file, path.join(dir, "summary.json"));
    assert.deepEqual(readSummary(dir), summary);
    assert.deepEqual(fs.readdirSync(dir), ["summary.json"]);
  });
});
