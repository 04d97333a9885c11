#!/usr/bin/env node
// Executes notebooks with nbconvert's ExecutePreprocessor (the tslab kernel from .venv) and fails on any error.
//
//   node tools/run-notebooks.js [notebooks/x.ipynb ...] [--config config/smoke.yaml] [--timeout 600] [--out runs/notebooks]
//
// - Default: every notebooks/*.ipynb in name order, with RLHF_CONFIG=config/smoke.yaml (unless RLHF_CONFIG is set).
// - The committed notebooks are never modified: each executed copy is written to runs/notebooks/<name>.ipynb, also
//   when a cell fails (so the failing output can be read), and is what `npm run export` turns into HTML.
// - nbconvert alone misses errors raised in callbacks and unhandled promise rejections: tslab prints them as
//   `UncaughtException:` / `UnhandledPromiseRejection:` text and the cell still "succeeds". So every output is scanned
//   for error outputs and for those markers, and so is the late output of a cell that already finished (a callback
//   firing between two cells), which nbclient drops and the executor below prints to stderr.
// - Each notebook gets a wall-clock timeout (default 600 s; RLHF_NOTEBOOK_TIMEOUT or --timeout); its kernel and
//   nbconvert are killed by process group when it runs out.
// - Exercises (lib/notebook/exercise.ts): a notebook whose metadata lists exercises (rlhf_course.exercises, written by
//   tools/nb.js) must print exactly one verdict line for each: NOT DONE in the learner's notebooks/<name>.ipynb (the
//   stubs run without crashing), PASS in notebooks/solutions/<name>.ipynb (the worked answers satisfy their checks).
// Prints one line per notebook (PASS/FAIL, seconds, the first problem) and returns the results to tools/test.js.
"use strict";

const fs = require("fs");
const path = require("path");
const cp = require("child_process");

const ROOT = path.resolve(__dirname, "..");
const VENV_PY = path.join(ROOT, ".venv", "bin", "python");
const ERROR_MARKERS = ["UncaughtException:", "UnhandledPromiseRejection:"];

// The executor: nbconvert's documented way to run a notebook and keep the outputs even when a cell raises.
const EXECUTOR = `
import sys, json, nbformat
from nbconvert.preprocessors import ExecutePreprocessor
from nbclient.exceptions import CellExecutionComplete
from nbclient.util import ensure_async

class Executor(ExecutePreprocessor):
    # tslab keeps writing a finished cell's late output (a callback firing after the cell returned) under that cell's
    # message id; nbclient, already waiting on the next cell, drops it. Same loop as nbclient 0.11's, but such stray
    # output is printed to stderr, where the Node side scans it.
    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return
            elif msg["msg_type"] in ("stream", "error"):
                c = msg["content"]
                text = c.get("text") or (str(c.get("ename")) + ": " + str(c.get("evalue")))
                sys.stderr.write("LATE OUTPUT of an earlier cell: " + text + "\\n")

    # The kernel runs in its own session (jupyter_client starts it so), out of reach of a process-group kill: tell the
    # Node side its pid so a timed-out run can stop it too.
    async def async_start_new_kernel(self, **kwargs):
        await super().async_start_new_kernel(**kwargs)
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        if pid:
            sys.stderr.write("KERNEL_PID %d\\n" % pid)
            sys.stderr.flush()

src, out, timeout, cwd = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
nb = nbformat.read(src, as_version=4)
ep = Executor(timeout=timeout, kernel_name="tslab")
status = "ok"
try:
    ep.preprocess(nb, {"metadata": {"path": cwd}})
except Exception as e:  # CellExecutionError, CellTimeoutError, DeadKernelError ...
    lines = [l for l in str(e).strip().splitlines() if l.strip() and set(l.strip()) != {"-"}]
    # a timeout's message starts with what happened; an execution error's ends with the exception
    line = (lines[0] if type(e).__name__ == "CellTimeoutError" else lines[-1]) if lines else ""
    status = type(e).__name__ + (": " + line[:500] if line else "")
finally:
    nbformat.write(nb, out)
print("EXECUTOR_STATUS " + json.dumps(status))
`;

function outputText(o) {
  const parts = [];
  if (o.text) parts.push(Array.isArray(o.text) ? o.text.join("") : o.text);
  if (o.data && o.data["text/plain"]) {
    const t = o.data["text/plain"];
    parts.push(Array.isArray(t) ? t.join("") : t);
  }
  if (o.output_type === "error") parts.push(`${o.ename}: ${o.evalue}`);
  return parts.join("\n");
}

/** Problems found in an executed notebook: error outputs and tslab's async error markers, with the cell number. */
function scanNotebook(nb) {
  const problems = [];
  let codeIndex = 0;
  for (const cell of nb.cells || []) {
    if (cell.cell_type !== "code") continue;
    codeIndex++;
    for (const o of cell.outputs || []) {
      const text = outputText(o);
      if (o.output_type === "error") {
        problems.push(`code cell ${codeIndex}: ${o.ename}: ${String(o.evalue).split("\n")[0].slice(0, 300)}`);
        continue;
      }
      for (const marker of ERROR_MARKERS) {
        const i = text.indexOf(marker);
        if (i >= 0) problems.push(`code cell ${codeIndex}: ${text.slice(i, i + 300).split("\n").slice(0, 2).join(" ")}`);
      }
    }
  }
  return problems;
}

// Keep in step with lib/notebook/exercise.ts VERDICT_PATTERN (this file is plain JS and cannot import it).
const VERDICT = /^exercise (\d\d[a-z]?\.\d+) .*?: (PASS|FAIL|NOT DONE) \(/;

/** Problems with the exercise verdicts: each listed exercise prints one verdict, the one its variant expects. */
function scanVerdicts(nb) {
  const meta = nb.metadata && nb.metadata.rlhf_course;
  if (!meta || !Array.isArray(meta.exercises)) return [];
  const want = meta.variant === "solution" ? "PASS" : "NOT DONE";
  const seen = new Map();
  for (const cell of nb.cells || []) {
    if (cell.cell_type !== "code") continue;
    for (const o of cell.outputs || []) {
      for (const line of outputText(o).split("\n")) {
        const m = VERDICT.exec(line);
        if (m) seen.set(m[1], [...(seen.get(m[1]) || []), { status: m[2], line }]);
      }
    }
  }
  const problems = [];
  for (const id of meta.exercises) {
    const vs = seen.get(id) || [];
    if (vs.length === 0) problems.push(`exercise ${id}: no verdict printed (its check cell did not run or printed nothing)`);
    else if (vs.length > 1) problems.push(`exercise ${id}: ${vs.length} verdicts printed, expected one`);
    else if (vs[0].status !== want) problems.push(`exercise ${id}: ${vs[0].status} in the ${meta.variant} notebook, expected ${want}: ${vs[0].line.slice(0, 300)}`);
  }
  for (const id of seen.keys()) if (!meta.exercises.includes(id)) problems.push(`exercise ${id}: a verdict for an exercise the notebook's metadata does not list`);
  return problems;
}

/** Counts charts (plotly outputs) so a caller can check that a notebook drew something. */
function countCharts(nb) {
  let n = 0;
  for (const cell of nb.cells || []) for (const o of cell.outputs || []) if (o.data && o.data["application/vnd.plotly.v1+json"]) n++;
  return n;
}

function killGroup(child, kernelPid) {
  for (const pid of [-child.pid, kernelPid, kernelPid && -kernelPid]) {
    if (!pid) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
}
const kernelPidOf = (log) => Number((/KERNEL_PID (\d+)/.exec(log) || [])[1]) || undefined;

/**
 * True when the kernel never answered, so no cell ran. tslab starts reading its sockets before their binds finish;
 * on a loaded machine a read can land during a bind, zeromq.js refuses it ("Socket is blocked by a bind or unbind
 * operation"), that socket's loop dies unseen and nbclient gives up after 60 s ("Kernel didn't respond").
 */
function kernelNeverStarted(status, nb, timedOut) {
  const ranNoCell = !nb || (nb.cells || []).every((c) => c.cell_type !== "code" || (c.outputs || []).length === 0);
  return !timedOut && ranNoCell && /Kernel didn't respond/.test(String(status));
}

/**
 * Runs one notebook; resolves to {name, ok, seconds, problems, charts, output, retried}. A kernel that never started
 * (kernelNeverStarted) gets one more try, with a fresh kernel; `retried` says why.
 */
async function runNotebook(file, opts) {
  const first = await runNotebookOnce(file, opts);
  if (first.ok || !first.startupFailure) return first;
  const second = await runNotebookOnce(file, opts);
  return { ...second, seconds: first.seconds + second.seconds, retried: `the kernel did not start the first time (${first.problems[0]})` };
}

function runNotebookOnce(file, opts) {
  const name = path.basename(file, ".ipynb");
  const isSolution = path.basename(path.dirname(path.resolve(file))) === "solutions";
  const outDir = path.resolve(ROOT, opts.out, isSolution ? "solutions" : "");
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, `${name}.ipynb`);
  fs.rmSync(out, { force: true });
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = cp.spawn(VENV_PY, ["-c", EXECUTOR, file, out, String(opts.timeout), path.dirname(path.resolve(file))], {
      cwd: ROOT,
      env: { ...process.env, RLHF_CONFIG: opts.config, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL || "2", JUPYTER_PLATFORM_DIRS: "1", JUPYTER_RUNTIME_DIR: process.env.JUPYTER_RUNTIME_DIR || path.join(ROOT, ".cache", "jupyter-runtime") },
      detached: true, // its own process group: the kernel is killed with it on timeout
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, kernelPidOf(log));
    }, opts.timeout * 1000 + 30000); // the executor's own cell timeout fires first; this is the backstop
    child.on("close", (code) => {
      clearTimeout(timer);
      if (timedOut || code !== 0) killGroup(child, kernelPidOf(log)); // a kernel that outlived its client
      const seconds = (Date.now() - t0) / 1000;
      const problems = [];
      const m = /EXECUTOR_STATUS (.*)/.exec(log);
      const status = m ? JSON.parse(m[1]) : undefined;
      if (timedOut) problems.push(`timed out after ${opts.timeout} s`);
      let nb;
      try {
        nb = JSON.parse(fs.readFileSync(out, "utf8"));
      } catch {
        problems.push(`no executed notebook was written (exit ${code}): ${log.trim().split("\n").slice(-5).join(" | ")}`);
      }
      if (nb) problems.push(...scanNotebook(nb), ...scanVerdicts(nb));
      // An error raised in a callback after its cell finished arrives as that cell's late output, which nbclient drops;
      // the executor prints it to its stderr (and a kernel may print to its own stderr, inherited): scan that too.
      for (const marker of ERROR_MARKERS) {
        let i = log.indexOf(marker);
        while (i >= 0) {
          problems.push(`late output (after its cell finished): ${log.slice(i, i + 300).split("\n").slice(0, 2).join(" ")}`);
          i = log.indexOf(marker, i + 1);
        }
      }
      // the executor's own verdict first (a dead kernel explains the missing verdicts that follow)
      if (status && status !== "ok" && !timedOut) {
        // tslab writes an error it could not attach to a cell ("unexpected error: ...") to the kernel's stderr
        const i = log.indexOf("unexpected error");
        problems.unshift(i >= 0 ? `${status} | kernel: ${log.slice(i, i + 400).split("\n").slice(0, 4).join(" ")}` : status);
      }
      if (!status && !timedOut && code !== 0 && problems.length === 0) problems.push(`executor exited ${code}: ${log.trim().split("\n").slice(-3).join(" | ")}`);
      const startupFailure = kernelNeverStarted(status, nb, timedOut);
      resolve({ name, file, ok: problems.length === 0, seconds, problems, charts: nb ? countCharts(nb) : 0, output: out, startupFailure });
    });
  });
}

/** The course's notebooks in order, then the solution notebooks (notebooks/solutions/). */
function listNotebooks() {
  const list = (dir) =>
    fs.existsSync(dir)
      ? fs.readdirSync(dir).filter((f) => f.endsWith(".ipynb") && !f.endsWith(".nbconvert.ipynb")).sort().map((f) => path.join(dir, f))
      : [];
  return [...list(path.join(ROOT, "notebooks")), ...list(path.join(ROOT, "notebooks", "solutions"))];
}

class UsageError extends Error {}
const USAGE = `usage: npm run test:notebooks -- [notebooks/<name>.ipynb ...] [--config <file>] [--timeout <s>] [--out <folder>]
  --config   RLHF_CONFIG for the notebooks (default: $RLHF_CONFIG, else config/smoke.yaml)
  --timeout  seconds per cell (default 600)
  --out      where the executed copies go (default runs/notebooks)
  --help     this text
exit codes: 0 every notebook ran; 1 a notebook failed; 2 bad arguments`;

function parseArgs(argv) {
  const opts = {
    files: [],
    config: process.env.RLHF_CONFIG || "config/smoke.yaml",
    timeout: Number(process.env.RLHF_NOTEBOOK_TIMEOUT || 600),
    out: "runs/notebooks",
  };
  const { values, positionals } = require("util").parseArgs({
    args: argv,
    options: { config: { type: "string" }, timeout: { type: "string" }, out: { type: "string" } },
    strict: true,
    allowPositionals: true,
  }); // throws on an unknown flag: the caller exits 2
  if (values.config !== undefined) opts.config = values.config;
  if (values.timeout !== undefined) opts.timeout = Number(values.timeout);
  if (values.out !== undefined) opts.out = values.out;
  if (!(opts.timeout > 0)) throw new UsageError(`--timeout must be a positive number of seconds, got ${values.timeout}`);
  for (const a of positionals) {
    if (!a.endsWith(".ipynb")) throw new UsageError(`unexpected argument ${a}; expected notebook files (.ipynb)`);
    opts.files.push(path.resolve(a));
  }
  if (!opts.files.length) opts.files = listNotebooks();
  return opts;
}

/** Runs the notebooks one after another (2 cores: running them in parallel only makes each slower). */
async function runNotebooks(argv = [], print = console.log) {
  const opts = parseArgs(argv);
  if (!fs.existsSync(VENV_PY)) throw new Error(".venv is missing: run `npm run setup` first");
  const results = [];
  for (const file of opts.files) {
    const r = await runNotebook(file, opts);
    results.push(r);
    const rel = path.relative(ROOT, file);
    print(`${r.ok ? "PASS" : "FAIL"} notebook ${rel} (${r.seconds.toFixed(1)} s, ${r.charts} chart${r.charts === 1 ? "" : "s"})`);
    if (r.retried) print(`     retried: ${r.retried}`);
    for (const p of r.problems.slice(0, 5)) print(`     ${p}`);
    if (!r.ok) print(`     executed copy with outputs: ${path.relative(ROOT, r.output)}`);
  }
  return results;
}

module.exports = { runNotebooks, runNotebook, scanNotebook, scanVerdicts, countCharts, kernelNeverStarted, ERROR_MARKERS };

if (require.main === module) {
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    console.log(USAGE);
    process.exit(0);
  }
  try {
    parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`test:notebooks: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  runNotebooks(process.argv.slice(2)).then(
    (results) => {
      const failed = results.filter((r) => !r.ok).length;
      console.log(`${results.length - failed} passed, ${failed} failed`);
      process.exit(failed ? 1 : 0);
    },
    (e) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
