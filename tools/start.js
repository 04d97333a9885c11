#!/usr/bin/env node
// `npm start`: launches JupyterLab from .venv, rooted at the repository, with tslab as the default kernel.
// (package.json runs tools/setup.js first, so everything is in place.) Extra arguments pass through to `jupyter lab`:
//   npm start -- --no-browser --port=8890 --ServerApp.token=abc
// Also: works as root (adds --allow-root), the "Jupyter news" popup is off (.venv/share/jupyter/lab/settings/
// overrides.json, written by setup), and the kernel environment (TF_CPP_MIN_LOG_LEVEL) comes from the kernelspec.
"use strict";

const fs = require("fs");
const path = require("path");
const cp = require("child_process");

const ROOT = path.resolve(__dirname, "..");
const jupyter = path.join(ROOT, ".venv", "bin", "jupyter");

/** The `jupyter lab` command line for this repository; exported for tools/browser-test.ts. */
function labArgs(extra = []) {
  const has = (flag) => extra.some((a) => a === flag || a.startsWith(flag + "="));
  const argv = ["lab", `--ServerApp.root_dir=${ROOT}`, "--MultiKernelManager.default_kernel_name=tslab"];
  if (process.getuid && process.getuid() === 0 && !has("--allow-root")) argv.push("--allow-root");
  if (!has("--ServerApp.default_url") && !has("--LabApp.default_url")) argv.push("--LabApp.default_url=/lab/tree/notebooks/00_setup.ipynb");
  return [...argv, ...extra];
}

function labEnv() {
  return {
    ...process.env,
    JUPYTER_PLATFORM_DIRS: "1", // silence jupyter_core's platformdirs deprecation warning
    // server info and kernel connection files inside the checkout, not in ~/.local/share/jupyter/runtime
    JUPYTER_RUNTIME_DIR: process.env.JUPYTER_RUNTIME_DIR || path.join(ROOT, ".cache", "jupyter-runtime"),
    TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL || "2",
  };
}

module.exports = { labArgs, labEnv, jupyter };

if (require.main === module) {
  // Every other argument belongs to `jupyter lab` (which validates its own); only --help is ours.
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    console.log(`usage: npm start [-- <jupyter lab options>]
  Sets up whatever is missing, then opens JupyterLab on notebooks/00_setup.ipynb with the tslab kernel.
  Options after -- go to \`jupyter lab\` unchanged, e.g. npm start -- --no-browser --port=8890 --ServerApp.token=abc
  (\`.venv/bin/jupyter lab --help\` lists them).
exit codes: JupyterLab's; 1 when JupyterLab is not installed (run npm run setup)`);
    process.exit(0);
  }
  if (!fs.existsSync(jupyter)) {
    console.error("JupyterLab is not installed in .venv: run `npm run setup` (npm start does it first).");
    process.exit(1);
  }
  const child = cp.spawn(jupyter, labArgs(process.argv.slice(2)), { cwd: ROOT, stdio: "inherit", env: labEnv() });
  // Ctrl+C reaches JupyterLab directly (same terminal process group): stay alive until it exits. Forward the rest.
  process.on("SIGINT", () => {});
  for (const sig of ["SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
