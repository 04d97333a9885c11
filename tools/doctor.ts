// `npm run doctor`: what is installed, whether the kernel is registered, and which TensorFlow.js backend runs.
// Prints a few readable lines, then ONE JSON line (for bug reports and scripts) with "active": "<backend>".
// Exits 1 when something is broken, with a one-line fix per problem.
import * as cp from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { BackendReport, formatBackendReport, initBackend } from "../lib";

const ROOT = path.resolve(__dirname, "..");
const VENV_PY = path.join(ROOT, ".venv", "bin", "python");
const problems: { what: string; fix: string }[] = [];

function cmd(command: string, args: string[]): string | undefined {
  const r = cp.spawnSync(command, args, { encoding: "utf8", timeout: 20_000 });
  return r.status === 0 ? `${r.stdout}${r.stderr}`.trim() : undefined;
}

function pythonPackages(): Record<string, string> | undefined {
  if (!fs.existsSync(VENV_PY)) return undefined;
  const code =
    "import json, importlib.metadata as m, sys\n" +
    "v = {p: m.version(p) for p in ['jupyterlab', 'nbconvert', 'nbclient', 'ipykernel', 'plotly']}\n" +
    "v['python'] = sys.version.split()[0]\nprint(json.dumps(v))";
  const out = cmd(VENV_PY, ["-c", code]);
  try {
    return out ? (JSON.parse(out.split("\n").pop() ?? "") as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}

function kernelStatus(): { registered: boolean; binary?: string; env?: Record<string, string> } {
  const spec = path.join(ROOT, ".venv", "share", "jupyter", "kernels", "tslab", "kernel.json");
  if (!fs.existsSync(spec)) return { registered: false };
  const k = JSON.parse(fs.readFileSync(spec, "utf8")) as { argv: string[]; env?: Record<string, string> };
  return { registered: true, binary: k.argv[0], env: k.env };
}

function pkgVersion(name: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), "utf8")) as { version: string }).version;
  } catch {
    return undefined;
  }
}

const USAGE = `usage: npm run doctor
  --help  this text
Prints versions, the kernel and the backend, then one JSON line.
exit codes: 0 all is well; 1 something is broken (one line per fix); 2 bad arguments`;

async function main(): Promise<void> {
  try {
    const { values } = parseArgs({ args: process.argv.slice(2), options: { help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
  } catch (e) {
    console.error(`doctor: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const py = pythonPackages();
  if (!py) problems.push({ what: ".venv with JupyterLab is missing or broken", fix: "rm -rf .venv .cache/venv.json && npm run setup" });

  const kernel = kernelStatus();
  const expectedBin = path.join(ROOT, "node_modules", ".bin", "tslab");
  if (!kernel.registered) problems.push({ what: "the tslab kernel is not registered in .venv", fix: "npm run setup" });
  else if (kernel.binary !== expectedBin || !fs.existsSync(expectedBin)) {
    problems.push({ what: `the tslab kernelspec points at ${kernel.binary}, not this checkout's ${expectedBin}`, fix: "npm run setup (re-registers it)" });
  }
  if (!fs.existsSync(path.join(ROOT, "notebooks", "lib"))) problems.push({ what: "notebooks/lib (-> ../lib) is missing", fix: "npm run setup" });

  let report: BackendReport | undefined;
  try {
    report = await initBackend();
  } catch (e) {
    problems.push({ what: `no TensorFlow.js backend starts: ${(e as Error).message}`, fix: "unset TFJS_BACKEND, then npm run setup -- --force-native" });
  }
  if (report && !process.env.TFJS_BACKEND && report.active !== "tensorflow" && report.active !== "tensorflow-gpu") {
    problems.push({ what: `running on ${report.active}, not the native backend (${report.skipped.find((s) => s.name === "tensorflow")?.reason ?? "?"})`, fix: "npm run setup -- --force-native (environment.md: Troubleshooting)" });
  }

  const chromium = ["/usr/bin/chromium", process.env.CHROMIUM_PATH].find((p) => p && fs.existsSync(p));
  const info = {
    node: process.version,
    npm: cmd(process.platform === "win32" ? "npm.cmd" : "npm", ["--version"])?.split("\n").pop(),
    python: py?.python ?? cmd("python3", ["--version"])?.replace("Python ", ""),
    jupyterlab: py?.jupyterlab,
    nbconvert: py?.nbconvert,
    nbclient: py?.nbclient,
    ipykernel: py?.ipykernel,
    plotly: py?.plotly,
    tslab: pkgVersion("tslab"),
    typescript: pkgVersion("typescript"),
    tfjs: tf.version.tfjs,
    kernel: { registered: kernel.registered, binary: kernel.binary, env: kernel.env },
    chromium: chromium ?? null,
    active: report?.active ?? null,
    backend: report ?? null,
    ok: problems.length === 0,
  };

  console.log(`node ${info.node}, npm ${info.npm}, python ${info.python}; jupyterlab ${info.jupyterlab}, nbconvert ${info.nbconvert}, plotly ${info.plotly}; tslab ${info.tslab}, tfjs ${info.tfjs}`);
  console.log(`kernel: ${kernel.registered ? `tslab registered in .venv -> ${kernel.binary}` : "NOT registered"}`);
  if (report) console.log(formatBackendReport(report));
  for (const p of problems) console.log(`PROBLEM: ${p.what}\n  fix: ${p.fix}`);
  // One line of JSON with a space after each colon, so `"active": "tensorflow"` can be grepped literally.
  console.log(JSON.stringify(info, null, 1).replace(/\n\s*/g, " "));
  process.exit(problems.length ? 1 : 0);
}

main().catch((e: unknown) => {
  console.error(`doctor crashed: ${(e as Error).stack ?? String(e)}`);
  console.error("fix: npm run setup");
  process.exit(1);
});
