// The notebook runner (tools/run-notebooks.js) and generator (tools/nb.js): the runner must fail a notebook on error
// outputs AND on tslab's async error markers, which nbconvert alone lets through; the generator must produce valid
// nbformat 4.5 with the tslab kernel and no outputs.
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const runner = require("../tools/run-notebooks.js") as {
  scanNotebook(nb: unknown): string[];
  countCharts(nb: unknown): number;
  runNotebook(file: string, opts: { out: string; timeout: number; config: string }): Promise<{ ok: boolean; problems: string[]; charts: number }>;
  kernelNeverStarted(status: unknown, nb: unknown, timedOut: boolean): boolean;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nbgen = require("../tools/nb.js") as {
  parseSource(text: string, file?: string): { kind: string; text: string }[];
  toNotebook(cells: { kind: string; text: string }[], name: string): {
    cells: { cell_type: string; id: string; source: string[]; outputs?: unknown[] }[];
    metadata: { kernelspec: { name: string } };
    nbformat: number;
    nbformat_minor: number;
  };
};

const ROOT = path.resolve(__dirname, "..");
const codeCell = (outputs: unknown[]) => ({ cell_type: "code", source: [], outputs });

describe("scanNotebook", () => {
  it("passes a notebook with only stream and display outputs", () => {
    const nb = {
      cells: [
        { cell_type: "markdown", source: ["UncaughtException: in markdown is not an output"] },
        codeCell([{ output_type: "stream", name: "stdout", text: ["loss 0.1\n"] }]),
        codeCell([{ output_type: "display_data", data: { "application/vnd.plotly.v1+json": {}, "text/plain": "fig" } }]),
      ],
    };
    assert.deepEqual(runner.scanNotebook(nb), []);
    assert.equal(runner.countCharts(nb), 1);
  });

  it("fails on an error output, naming the code cell", () => {
    const nb = { cells: [codeCell([]), codeCell([{ output_type: "error", ename: "TypeError", evalue: "x is undefined", traceback: [] }])] };
    assert.deepEqual(runner.scanNotebook(nb), ["code cell 2: TypeError: x is undefined"]);
  });

  it("fails on tslab's UncaughtException: and UnhandledPromiseRejection: text in streams", () => {
    const nb = {
      cells: [
        codeCell([{ output_type: "stream", name: "stderr", text: "UncaughtException: Error: boom\n    at Timeout._onTimeout" }]),
        codeCell([{ output_type: "stream", name: "stderr", text: ["ok\n", "UnhandledPromiseRejection: Error: late\n"] }]),
      ],
    };
    const problems = runner.scanNotebook(nb);
    assert.equal(problems.length, 2);
    assert.match(problems[0], /^code cell 1: UncaughtException: Error: boom/);
    assert.match(problems[1], /^code cell 2: UnhandledPromiseRejection: Error: late/);
  });
});

describe("kernelNeverStarted (the runner retries such a notebook once)", () => {
  const status = "RuntimeError: Kernel didn't respond in 60 seconds";
  it("is true when nbclient gave up on the kernel and no cell has an output", () => {
    assert.equal(runner.kernelNeverStarted(status, { cells: [codeCell([]), { cell_type: "markdown", source: [] }] }, false), true);
    assert.equal(runner.kernelNeverStarted(status, undefined, false), true);
  });
  it("is false once a cell ran, on a timeout, or for any other failure", () => {
    const ran = { cells: [codeCell([{ output_type: "stream", name: "stdout", text: "x" }]), codeCell([])] };
    assert.equal(runner.kernelNeverStarted(status, ran, false), false);
    assert.equal(runner.kernelNeverStarted(status, { cells: [codeCell([])] }, true), false);
    assert.equal(runner.kernelNeverStarted("CellExecutionError: boom", { cells: [codeCell([])] }, false), false);
    assert.equal(runner.kernelNeverStarted("ok", { cells: [codeCell([])] }, false), false);
  });
});

describe("tools/nb.js", () => {
  it("parses %% md / %% code cells, trims blank edges, ignores the preamble and unescapes \\%%", () => {
    const cells = nbgen.parseSource("author note\n%% md\n\n# Title\n\n%% code\nconst a = 1;\n\\%% not a marker\n\n%%\nb\n");
    assert.deepEqual(cells, [
      { kind: "md", text: "# Title" },
      { kind: "code", text: "const a = 1;\n%% not a marker" },
      { kind: "code", text: "b" },
    ]);
    assert.throws(() => nbgen.parseSource("%% python\nx", "f.nb"), /f\.nb:1: unknown cell kind "python"/);
  });

  it("refuses a control character in a cell, where a LaTeX \\frac or \\text lost its backslash", () => {
    assert.throws(() => nbgen.parseSource("%% md\nok\n$$\x0crac{a}{b}$$", "f.nb"), /f\.nb:3: control character U\+000c in a md cell at column 3/);
    // "\text" in an escaping string is a tab and "ext": the bug this guards against
    assert.throws(() => nbgen.parseSource("%% md\n$\text{x}$", "g.nb"), /g\.nb:2: control character U\+0009 in a md cell at column 2/);
    assert.throws(() => nbgen.parseSource("%% code\nconst s = \"\x08\";", "h.nb"), /h\.nb:2: control character U\+0008 in a code cell/);
    assert.equal(nbgen.parseSource("%% code\nif (x) {\n\treturn 1;\n}")[0].text, "if (x) {\n\treturn 1;\n}", "a tab indents code");
  });

  it("builds nbformat 4.5 for the tslab kernel with stable ids and no outputs", () => {
    const nb = nbgen.toNotebook([{ kind: "md", text: "# T\nline" }, { kind: "code", text: "1 + 1" }], "demo");
    assert.equal(nb.nbformat, 4);
    assert.equal(nb.nbformat_minor, 5);
    assert.equal(nb.metadata.kernelspec.name, "tslab");
    assert.deepEqual(nb.cells[0].source, ["# T\n", "line"]);
    assert.deepEqual(nb.cells[1].outputs, []);
    assert.equal(nb.cells[0].id, nbgen.toNotebook([{ kind: "md", text: "other" }], "demo").cells[0].id);
    assert.notEqual(nb.cells[0].id, nb.cells[1].id);
  });
});

describe("runNotebook (executes with the tslab kernel)", () => {
  it("fails a notebook whose error is thrown in a callback, which nbconvert alone reports as success", async () => {
    assert.ok(fs.existsSync(path.join(ROOT, ".venv", "bin", "python")), ".venv missing: run npm run setup");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nbrun-"));
    const file = path.join(dir, "async_error.ipynb");
    const nb = nbgen.toNotebook(
      [
        { kind: "code", text: 'console.log("config", process.env.RLHF_CONFIG);\nsetTimeout(() => { throw new Error("boom in a callback"); }, 10);' },
        { kind: "code", text: "await new Promise((r) => setTimeout(r, 300));\nconsole.log('second cell ran');" },
      ],
      "async_error",
    );
    fs.writeFileSync(file, JSON.stringify(nb));
    const r = await runner.runNotebook(file, { out: path.join(dir, "out"), timeout: 120, config: "config/smoke.yaml" });
    const executed = fs.readFileSync(path.join(dir, "out", "async_error.ipynb"), "utf8");
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(r.ok, false, "the runner must fail it");
    // Whether the timer fires while cell 1 or 2 runs or in between decides where tslab prints it (an output, or the
    // kernel's stderr); the runner must catch it in every case.
    assert.ok(r.problems.some((p) => /UncaughtException: .*boom in a callback/.test(p)), r.problems.join("\n"));
    assert.match(executed, /config config\/smoke\.yaml/, "RLHF_CONFIG reaches the kernel");
    assert.match(executed, /second cell ran/, "nbconvert itself carried on: the scan is what catches it");
  });

  it("keeps a cell alive through a burst of chart redraws and prints, which zeromq.js refuses unguarded (lib/core/iopub.ts)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nbrun-"));
    const file = path.join(dir, "burst.ipynb");
    // 300 redraws (two sends each) and 300 lines with no await: ~900 sends, past zeromq.js's run of 512.
    const code = [
      'import { liveChart } from "./lib/notebook/viz";',
      'const chart = liveChart({ title: "burst", series: ["y"], minIntervalMs: 0 });',
      "for (let i = 1; i <= 300; i++) { console.log(`step ${i}`); chart.push(i, { y: i }); }",
      "chart.done();",
      'console.log("burst survived");',
    ].join("\n");
    fs.writeFileSync(file, JSON.stringify(nbgen.toNotebook([{ kind: "code", text: code }], "burst")));
    fs.symlinkSync(path.join(ROOT, "lib"), path.join(dir, "lib"));
    const r = await runner.runNotebook(file, { out: path.join(dir, "out"), timeout: 120, config: "config/smoke.yaml" });
    const executed = JSON.parse(fs.readFileSync(path.join(dir, "out", "burst.ipynb"), "utf8")) as { cells: { outputs: { output_type: string; text?: string | string[]; data?: Record<string, unknown> }[] }[] };
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(r.ok, true, r.problems.join("\n"));
    const outs = executed.cells[0].outputs;
    const text = outs.filter((o) => o.output_type === "stream").map((o) => [o.text ?? ""].flat().join("")).join("");
    assert.match(text, /step 300\nburst survived/);
    assert.equal((text.match(/^step \d+$/gm) ?? []).length, 300, "no line was lost");
    const chart = outs.find((o) => o.data?.["application/vnd.plotly.v1+json"]);
    assert.ok(chart, "the chart's final state is a plotly figure, not the redraw placeholder");
    assert.match(String(chart.data!["text/plain"]), /y \(300 points\)/);
  });
});
