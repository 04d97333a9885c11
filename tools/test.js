#!/usr/bin/env node
// `npm test`: everything a fresh clone must pass, in order, with one closing line `N passed, N failed`.
//   1. set-up (tools/setup.js: node_modules, native backend, .venv, kernel; seconds when already done)
//   2. strict type check of lib, test, tools, types (tsc --noEmit)
//   3. unit tests: node --test over test/*.test.ts (each test counts)
//   4. the committed notebooks: generated from their sources, no outputs committed (tools/nb.js check)
//   5. every notebooks/*.ipynb executed with RLHF_CONFIG=config/smoke.yaml (tools/run-notebooks.js; each counts)
//   6. the browser test (tools/browser-test.ts) when chromium is installed, else "skipped: no chromium"
//   7. the book: `npm run book` of 00_setup and 06_gae on config/smoke.yaml into runs/book-smoke/site (from the
//      executed copies of step 5 when it ran them, else it executes them), then every page of it in headless chromium
//      (tools/book-test.ts: offline, charts drawn, no raw TeX, links resolve; each page counts) when chromium is
//      installed, else "browser check skipped: no chromium"
// Options: --skip-setup, --only=<typecheck|unit|nbcheck|notebooks|browser|book>[,...], and notebook paths to run only those.
// Exit status: 0 when nothing failed.
"use strict";

const fs = require("fs");
const path = require("path");
const cp = require("child_process");

const ROOT = path.resolve(__dirname, "..");
const USAGE = `usage: npm test -- [--skip-setup] [--only=<typecheck|unit|nbcheck|notebooks|browser|book>[,...]] [notebooks/<name>.ipynb ...]
  --skip-setup  do not run tools/setup.js first
  --only        run only these steps
  --help        this text
exit codes: 0 nothing failed; 1 something failed; 2 bad arguments`;
let parsed;
try {
  parsed = require("util").parseArgs({
    args: process.argv.slice(2),
    options: { "skip-setup": { type: "boolean" }, only: { type: "string" }, help: { type: "boolean", short: "h" } },
    strict: true,
    allowPositionals: true,
  });
} catch (e) {
  console.error(`test: ${e.message}\n${USAGE}`);
  process.exit(2);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const STEPS = ["typecheck", "unit", "nbcheck", "notebooks", "browser", "book"];
const BOOK_NOTEBOOKS = ["00_setup", "06_gae"]; // equations, charts and exercises, in well under a minute on smoke
const only = (parsed.values.only || "").split(",").filter(Boolean);
const notebookArgs = parsed.positionals.filter((a) => a.endsWith(".ipynb"));
const unknownSteps = only.filter((s) => !STEPS.includes(s));
const strayArgs = parsed.positionals.filter((a) => !a.endsWith(".ipynb"));
if (unknownSteps.length || strayArgs.length) {
  console.error(`test: ${unknownSteps.length ? `unknown step(s) ${unknownSteps.join(", ")} in --only; expected ${STEPS.join(", ")}` : `unexpected argument(s) ${strayArgs.join(" ")}; expected notebook paths (.ipynb)`}\n${USAGE}`);
  process.exit(2);
}
const args = parsed.values["skip-setup"] ? ["--skip-setup"] : [];
const want = (step) => only.length === 0 || only.includes(step);

const results = []; // {step, passed, failed, seconds, note}
let passed = 0;
let failed = 0;
let notebookResults = []; // step 5's, which the book step reuses

function header(title) {
  console.log(`\n=== ${title} ${"=".repeat(Math.max(0, 100 - title.length))}`);
}
function record(step, p, f, t0, note = "") {
  passed += p;
  failed += f;
  results.push({ step, passed: p, failed: f, seconds: (Date.now() - t0) / 1000, note });
}
/** Runs a command with its output streamed; returns its exit status. */
function runInherit(cmd, argv, opts = {}) {
  const r = cp.spawnSync(cmd, argv, { cwd: ROOT, stdio: "inherit", env: { ...process.env, ...(opts.env || {}) }, timeout: opts.timeoutMs });
  if (r.error) console.error(String(r.error));
  return r.status === null ? 1 : r.status;
}

function findChromium() {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  return candidates.find((c) => c && fs.existsSync(c));
}

async function main() {
  const t00 = Date.now();
  if (!args.includes("--skip-setup")) {
    header("set-up");
    const t0 = Date.now();
    const code = runInherit(process.execPath, [path.join(__dirname, "setup.js")]);
    record("setup", code === 0 ? 1 : 0, code === 0 ? 0 : 1, t0);
    if (code !== 0) return finish(t00); // nothing else can run without it
  }

  if (want("typecheck")) {
    header("type check (tsc --noEmit, strict)");
    const t0 = Date.now();
    const code = runInherit(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", "."]);
    if (code === 0) console.log("tsc: no errors");
    record("typecheck", code === 0 ? 1 : 0, code === 0 ? 0 : 1, t0);
  }

  if (want("unit")) {
    header("unit tests (node --test test/*.test.ts)");
    const t0 = Date.now();
    const files = fs.existsSync(path.join(ROOT, "test"))
      ? fs.readdirSync(path.join(ROOT, "test")).filter((f) => f.endsWith(".test.ts")).sort().map((f) => path.join("test", f))
      : [];
    if (files.length === 0) {
      console.log("no test/*.test.ts files");
      record("unit", 0, 0, t0, "no test files");
    } else {
      // Human-readable spec output on the console, TAP to a file for the counts.
      const tap = path.join(ROOT, "runs", "unit-tests.tap");
      fs.mkdirSync(path.dirname(tap), { recursive: true });
      fs.rmSync(tap, { force: true });
      const code = runInherit(
        process.execPath,
        ["--import", "tsx", "--test", "--test-reporter=spec", "--test-reporter-destination=stdout", "--test-reporter=tap", `--test-reporter-destination=${tap}`, ...files],
        { timeoutMs: 30 * 60 * 1000 },
      );
      const text = fs.existsSync(tap) ? fs.readFileSync(tap, "utf8") : "";
      const count = (k) => Number((new RegExp(`^# ${k} (\\d+)`, "m").exec(text) || [])[1] || 0);
      let p = count("pass");
      let f = count("fail") + count("cancelled");
      if (code !== 0 && f === 0) f = 1; // the runner itself failed (crash, timeout): never report success
      console.log(`unit tests: ${p} passed, ${f} failed, ${count("skipped")} skipped, ${count("todo")} todo (${files.length} files)`);
      record("unit", p, f, t0, `${files.length} files`);
    }
  }

  if (want("nbcheck")) {
    header("committed notebooks (tools/nb.js check)");
    const t0 = Date.now();
    const code = runInherit(process.execPath, [path.join(__dirname, "nb.js"), "check"]);
    record("nbcheck", code === 0 ? 1 : 0, code === 0 ? 0 : 1, t0);
  }

  if (want("notebooks")) {
    header("notebooks (nbconvert, RLHF_CONFIG=config/smoke.yaml)");
    const t0 = Date.now();
    const { runNotebooks } = require("./run-notebooks.js");
    try {
      const rs = await runNotebooks([...notebookArgs, "--config", process.env.RLHF_CONFIG || "config/smoke.yaml"]);
      notebookResults = rs;
      const f = rs.filter((r) => !r.ok).length;
      record("notebooks", rs.length - f, f, t0, rs.map((r) => `${r.name} ${r.seconds.toFixed(0)}s`).join(", "));
    } catch (e) {
      console.error(e.message);
      record("notebooks", 0, 1, t0, e.message);
    }
  }

  if (want("browser")) {
    header("browser test (JupyterLab in headless chromium)");
    const t0 = Date.now();
    const chromium = findChromium();
    if (!chromium) {
      console.log("skipped: no chromium (install it: apt-get install -y chromium; .ci/run does)");
      results.push({ step: "browser", passed: 0, failed: 0, seconds: 0, note: "skipped: no chromium" });
    } else {
      const code = runInherit(process.execPath, ["--import", "tsx", path.join(__dirname, "browser-test.ts")], {
        env: { CHROMIUM_PATH: chromium },
        timeoutMs: 10 * 60 * 1000,
      });
      record("browser", code === 0 ? 1 : 0, code === 0 ? 0 : 1, t0);
    }
  }

  if (want("book")) {
    header(`book (npm run book: ${BOOK_NOTEBOOKS.join(", ")} on the smoke config, every page in headless chromium)`);
    const t0 = Date.now();
    const config = process.env.RLHF_CONFIG || "config/smoke.yaml";
    // step 5 ran both versions of each notebook just now: build from those copies instead of executing them again
    const ranHere = BOOK_NOTEBOOKS.every((n) =>
      [false, true].every((sol) => notebookResults.some((r) => r.ok && r.name === n && r.file.includes(`${path.sep}solutions${path.sep}`) === sol)),
    );
    const site = path.join("runs", "book-smoke", "site");
    const code = runInherit(
      process.execPath,
      ["--import", "tsx", path.join(__dirname, "book.ts"), "--notebooks", BOOK_NOTEBOOKS.join(","), "--config", config, "--out", site, ...(ranHere ? ["--from", "runs/notebooks"] : [])],
      { timeoutMs: 10 * 60 * 1000 },
    );
    let p = code === 0 ? 1 : 0;
    let f = code === 0 ? 0 : 1;
    let note = ranHere ? "built from step 5's executed notebooks" : "notebooks executed (or reused) by the book";
    const chromium = findChromium();
    if (code === 0 && !chromium) {
      console.log("browser check skipped: no chromium (install it: apt-get install -y chromium; .ci/run does)");
      note += "; browser check skipped: no chromium";
    } else if (code === 0) {
      const resultsFile = path.join(ROOT, "runs", "browser", "book-results.json");
      fs.rmSync(resultsFile, { force: true });
      const c = runInherit(process.execPath, ["--import", "tsx", path.join(__dirname, "book-test.ts"), site], { env: { CHROMIUM_PATH: chromium }, timeoutMs: 10 * 60 * 1000 });
      let r;
      try {
        r = JSON.parse(fs.readFileSync(resultsFile, "utf8"));
      } catch {
        r = { passed: 0, failed: 1 };
      }
      p += r.passed;
      f += r.failed || (c !== 0 ? 1 : 0); // the checker itself failed: never report success
      note += `; ${r.passed + r.failed} pages in chromium`;
    }
    record("book", p, f, t0, note);
  }
  finish(t00);
}

function finish(t00) {
  header("summary");
  for (const r of results) {
    console.log(`${r.step.padEnd(10)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed  ${r.seconds.toFixed(1).padStart(7)} s  ${r.note}`);
  }
  console.log(`total ${((Date.now() - t00) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  failed++;
  finish(Date.now());
});
