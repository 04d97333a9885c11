#!/usr/bin/env node
// Sets up everything the course needs inside the repository, and nothing outside it:
//   1. node_modules from package-lock.json (`npm ci --ignore-scripts`; install scripts are handled below, one by one)
//   2. the native TensorFlow.js backend (@tensorflow/tfjs-node): the standard libtensorflow download when the network
//      allows it, else libtensorflow from the `tensorflow-cpu` PyPI wheel, then a local node-gyp build; verified by
//      loading it in a child process. When it cannot be built the course runs on wasm, and this script says so.
//   3. .venv/ with requirements.txt (JupyterLab, nbconvert, plotly's JupyterLab renderer)
//   4. the tslab kernel registered inside .venv (absolute path to this checkout's tslab), with its environment
//   5. JupyterLab settings overrides (the "Jupyter news" popup off) inside .venv
//
// It is plain Node (it runs before node_modules exists) and idempotent: every step writes a stamp under .cache/ keyed
// on what it depends on (lockfile hash, requirements hash, Node ABI, the checkout's absolute path), so a second run
// only checks stamps and takes well under a second.
//
// Usage: node tools/setup.js [--gpu] [--force-native] [--quiet]
//   --gpu           also build @tensorflow/tfjs-node-gpu (needs internet, Linux x86_64, CUDA 11.2 + cuDNN 8.1; it
//                   downloads libtensorflow 2.9.1 GPU, several hundred MB). lib/core/backend.ts uses it when it loads.
//   --force-native  retry the native build even if a previous attempt failed with the same inputs.
// Environment: PYTHON=<python3 executable> to choose the interpreter that creates .venv.
"use strict";

const fs = require("fs");
const path = require("path");
const cp = require("child_process");
const crypto = require("crypto");
const os = require("os");

const ROOT = path.resolve(__dirname, "..");
const CACHE = path.join(ROOT, ".cache");
const VENV = path.join(ROOT, ".venv");
const VENV_BIN = path.join(VENV, process.platform === "win32" ? "Scripts" : "bin");
const TFJS_NODE = path.join(ROOT, "node_modules", "@tensorflow", "tfjs-node");
const TFJS_NODE_GPU = path.join(ROOT, "node_modules", "@tensorflow", "tfjs-node-gpu");
const TF_WHEEL = { name: "tensorflow-cpu", version: "2.21.0" };
// Environment every kernel and child process of the course gets. TF_CPP_MIN_LOG_LEVEL must be set before
// libtensorflow is loaded (it is read once, at load), so it goes into the kernelspec, not into process.env later.
const KERNEL_ENV = { TF_CPP_MIN_LOG_LEVEL: "2" };

const USAGE = `usage: npm run setup -- [--gpu] [--force-native] [--quiet]
  --gpu           opt into the CUDA backend (@tensorflow/tfjs-node-gpu)
  --force-native  retry the native TensorFlow build after a failure
  --quiet         only warnings and errors
  --help          this text
exit codes: 0 ready; 1 a step failed (the message says how to fix it); 2 bad arguments`;
// Node's own parser (no dependency: this runs before node_modules exists); unknown flags are refused.
let parsed;
try {
  parsed = require("util").parseArgs({
    args: process.argv.slice(2),
    options: { gpu: { type: "boolean" }, "force-native": { type: "boolean" }, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
    allowPositionals: false,
  });
} catch (e) {
  console.error(`setup: ${e.message}\n${USAGE}`);
  process.exit(2);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const args = new Set(Object.keys(parsed.values).filter((k) => parsed.values[k]).map((k) => `--${k}`));
const quiet = args.has("--quiet");
const t0 = Date.now();

function log(msg) {
  if (!quiet) console.log(`[setup] ${msg}`);
}
function warn(msg) {
  console.error(`[setup] ${msg}`);
}
function loud(lines) {
  const bar = "!".repeat(100);
  console.error([bar, ...lines.map((l) => `!! ${l}`), bar].join("\n"));
}
function die(msg, fix) {
  console.error(`[setup] FAILED: ${msg}`);
  if (fix) console.error(`[setup] fix: ${fix}`);
  process.exit(1);
}
function secs(t) {
  return `${((Date.now() - t) / 1000).toFixed(1)} s`;
}
function sha(...parts) {
  const h = crypto.createHash("sha256");
  for (const p of parts) h.update(String(p)).update("\0");
  return h.digest("hex").slice(0, 16);
}
function fileHash(f) {
  return fs.existsSync(f) ? sha(fs.readFileSync(f)) : "none";
}
function readJson(f) {
  try {
    return JSON.parse(fs.readFileSync(f, "utf8"));
  } catch {
    return undefined;
  }
}
function writeJson(f, v) {
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, JSON.stringify(v, null, 2) + "\n");
}
function stamp(name) {
  return readJson(path.join(CACHE, `${name}.json`)) || {};
}
function setStamp(name, v) {
  writeJson(path.join(CACHE, `${name}.json`), { ...v, at: new Date().toISOString() });
}
/** Runs a command; output is captured and shown only on failure (pip and npm are chatty). */
function run(cmd, argv, opts = {}) {
  const r = cp.spawnSync(cmd, argv, {
    cwd: opts.cwd || ROOT,
    env: { ...process.env, ...(opts.env || {}) },
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    timeout: opts.timeoutMs,
    stdio: opts.inherit ? "inherit" : "pipe",
  });
  const out = `${r.stdout || ""}${r.stderr || ""}`;
  return { ok: r.status === 0, status: r.status, out, error: r.error };
}
function tail(s, n = 25) {
  return s
    .split("\n")
    .filter((l) => !/Location 'file:.*' is ignored/.test(l)) // this machine's pip config is noisy
    .slice(-n)
    .join("\n");
}
function npmCmd() {
  return process.platform === "win32" ? "npm.cmd" : "npm";
}

// ---------------------------------------------------------------------------------------------------------------
// 1. node_modules
// ---------------------------------------------------------------------------------------------------------------

/** Returns why node_modules does not match package-lock.json, or undefined when it does. Reads each package.json. */
function nodeModulesMismatch() {
  const lock = readJson(path.join(ROOT, "package-lock.json"));
  if (!lock || !lock.packages) return "package-lock.json missing or unreadable";
  if (!fs.existsSync(path.join(ROOT, "node_modules"))) return "node_modules missing";
  for (const [key, meta] of Object.entries(lock.packages)) {
    if (!key.startsWith("node_modules/") || meta.link) continue;
    const pj = readJson(path.join(ROOT, key, "package.json"));
    if (!pj) {
      if (meta.optional) continue; // platform-specific optional packages (e.g. esbuild's other platforms)
      return `${key} missing`;
    }
    if (meta.version && pj.version !== meta.version) return `${key} is ${pj.version}, lockfile says ${meta.version}`;
  }
  return undefined;
}

function ensureNodeModules() {
  const t = Date.now();
  const key = sha(fileHash(path.join(ROOT, "package-lock.json")), fileHash(path.join(ROOT, "package.json")), ROOT);
  const s = stamp("npm");
  if (s.key === key && fs.existsSync(path.join(ROOT, "node_modules", ".package-lock.json"))) {
    log("node_modules: up to date (stamp)");
    return false;
  }
  const why = nodeModulesMismatch();
  if (!why) {
    setStamp("npm", { key });
    log(`node_modules: matches package-lock.json (${secs(t)})`);
    return false;
  }
  // --ignore-scripts: the only install scripts in the tree are tfjs-node(-gpu) (downloads libtensorflow: handled in
  // step 2), zeromq (tslab's; ships prebuilt binaries for linux/darwin x64/arm64, its script only builds from source
  // when they are missing), esbuild (its binary comes from the @esbuild/<platform> optional package) and core-js
  // (a banner).
  log(`node_modules: ${why}; running npm ci --ignore-scripts ...`);
  let r = run(npmCmd(), ["ci", "--ignore-scripts", "--no-audit", "--no-fund"]);
  if (!r.ok) {
    warn(`npm ci failed, trying npm install --ignore-scripts:\n${tail(r.out)}`);
    r = run(npmCmd(), ["install", "--ignore-scripts", "--no-audit", "--no-fund"]);
    if (!r.ok) die(`npm install failed:\n${tail(r.out)}`, "check network access to the npm registry, then rerun");
  }
  const still = nodeModulesMismatch();
  if (still) die(`node_modules still does not match the lockfile: ${still}`, "rm -rf node_modules && npm start");
  ensureZeromq();
  setStamp("npm", { key });
  log(`node_modules: installed (${secs(t)})`);
  return true;
}

/** tslab talks to Jupyter over zeromq; its prebuilt addon must exist for this platform, else build it. */
function ensureZeromq() {
  const dir = path.join(ROOT, "node_modules", "zeromq");
  if (!fs.existsSync(dir)) return;
  const r = run(process.execPath, ["-e", "require('zeromq')"], { cwd: ROOT, timeoutMs: 60000 });
  if (r.ok) return;
  warn("zeromq's prebuilt binary does not load here; building it (npm rebuild zeromq) ...");
  const b = run(npmCmd(), ["rebuild", "zeromq"], { env: nodedirEnv() });
  if (!b.ok) die(`zeromq build failed:\n${tail(b.out)}`, "install cmake and a C++ compiler, then rerun");
}

// ---------------------------------------------------------------------------------------------------------------
// 2. native TensorFlow.js backend
// ---------------------------------------------------------------------------------------------------------------

/** node-gyp needs Node's headers; without a nodedir it tries to download them, which fails offline. */
function nodedirEnv() {
  const env = {};
  const configured = process.env.npm_config_nodedir;
  if (!configured && fs.existsSync(path.join("/usr", "include", "node", "node_api.h"))) {
    env.npm_config_nodedir = "/usr";
  }
  return env;
}

/** Where node-pre-gyp puts the addon: the highest N-API version both the package and this Node support. */
function bindingPath(pkgDir) {
  const pj = readJson(path.join(pkgDir, "package.json")) || {};
  const wanted = ((pj.binary && pj.binary.napi_versions) || [8]).filter((v) => v <= Number(process.versions.napi));
  return path.join(pkgDir, "lib", `napi-v${Math.max(...wanted)}`, "tfjs_binding.node");
}

/** Loads the package in a fresh process (a failed native load can abort a process) and returns TF_Version. */
function verifyNative(pkg) {
  const code =
    `const tf=require(${JSON.stringify(pkg)});` +
    `const v=tf.backend().binding.TF_Version;` +
    `const x=tf.tensor([1,2,3]);const g=tf.grad(a=>a.square().sum())(x).dataSync();` +
    `if(g[2]!==6)throw new Error('gradient check failed');console.log('TF_VERSION='+v)`;
  const r = run(process.execPath, ["-e", code], { env: KERNEL_ENV, timeoutMs: 120000 });
  const m = /TF_VERSION=(\S+)/.exec(r.out);
  return r.ok && m ? { ok: true, version: m[1] } : { ok: false, error: tail(r.out, 8) || String(r.error) };
}

/** A short probe: can we reach the host tfjs-node downloads libtensorflow from? (2.5 s budget) */
function canReachGoogleStorage() {
  const code =
    "const https=require('https');" +
    "const req=https.request({host:'storage.googleapis.com',method:'HEAD',path:'/',timeout:2500},r=>{process.exit(0)});" +
    "req.on('timeout',()=>process.exit(1));req.on('error',()=>process.exit(1));req.end();";
  const r = run(process.execPath, ["-e", code], { timeoutMs: 4000 });
  return r.ok;
}

function python() {
  if (process.env.PYTHON) return process.env.PYTHON;
  for (const c of ["python3", "python"]) {
    const r = run(c, ["--version"]);
    if (r.ok) return c;
  }
  return undefined;
}

/**
 * The offline route (environment.md): the PyPI wheel tensorflow-cpu==2.21.0 contains libtensorflow_cc.so.2 (it exports the
 * whole TF C and eager C API the binding calls), libtensorflow_framework.so.2 and the headers. The whole
 * tensorflow/include tree is needed: c_api.h includes xla/tsl/... . Extracted once into .cache/, linked into deps/.
 */
function layoutLibtensorflowFromWheel(pkgDir) {
  const py = python();
  if (!py) throw new Error("python3 not found (needed to fetch the tensorflow-cpu wheel)");
  const wheels = path.join(CACHE, "wheels");
  const extracted = path.join(CACHE, `libtensorflow-${TF_WHEEL.version}`);
  const done = path.join(extracted, ".complete");
  if (!fs.existsSync(done)) {
    let whl = fs.existsSync(wheels) && fs.readdirSync(wheels).find((f) => f.startsWith("tensorflow_cpu-" + TF_WHEEL.version));
    if (!whl) {
      const t = Date.now();
      log(`native: downloading the ${TF_WHEEL.name}==${TF_WHEEL.version} wheel (~250 MB) into .cache/wheels ...`);
      const r = run(py, ["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", wheels, `${TF_WHEEL.name}==${TF_WHEEL.version}`]);
      if (!r.ok) throw new Error(`pip download failed:\n${tail(r.out, 10)}`);
      whl = fs.readdirSync(wheels).find((f) => f.startsWith("tensorflow_cpu-" + TF_WHEEL.version));
      if (!whl) throw new Error("pip download did not produce a tensorflow_cpu wheel");
      log(`native: wheel downloaded (${secs(t)})`);
    }
    const t = Date.now();
    fs.rmSync(extracted, { recursive: true, force: true });
    const script = [
      "import sys, zipfile, os, shutil",
      "whl, out = sys.argv[1], sys.argv[2]",
      "libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}",
      "n = 0",
      "with zipfile.ZipFile(whl) as z:",
      "    for info in z.infolist():",
      "        name = info.filename",
      "        if name in libs: dest = os.path.join(out, 'lib', os.path.basename(name))",
      "        elif name.startswith('tensorflow/include/') and not name.endswith('/'): dest = os.path.join(out, 'include', name[len('tensorflow/include/'):])",
      "        else: continue",
      "        os.makedirs(os.path.dirname(dest), exist_ok=True)",
      "        with z.open(info) as src, open(dest, 'wb') as dst: shutil.copyfileobj(src, dst, 1 << 20)",
      "        n += 1",
      "missing = [l for l in libs if not os.path.exists(os.path.join(out, 'lib', os.path.basename(l)))]",
      "if missing: sys.exit('wheel lacks ' + ', '.join(missing))",
      "print(n)",
    ].join("\n");
    const r = run(py, ["-c", script, path.join(wheels, whl), extracted]);
    if (!r.ok) throw new Error(`extracting the wheel failed:\n${tail(r.out, 10)}`);
    fs.writeFileSync(done, whl + "\n");
    log(`native: extracted libtensorflow ${TF_WHEEL.version} and headers (${r.out.trim()} files, ${secs(t)})`);
  }
  // deps/ layout expected by tfjs-node's binding.gyp and install.js (which skips its download when
  // deps/lib/libtensorflow.so.2.9.1 exists). Symlinks into .cache/, so `npm ci` wiping node_modules costs nothing.
  const deps = path.join(pkgDir, "deps");
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(path.join(deps, "lib"), { recursive: true });
  fs.symlinkSync(path.join(extracted, "include"), path.join(deps, "include"), "dir");
  const links = {
    "libtensorflow_cc.so.2": path.join(extracted, "lib", "libtensorflow_cc.so.2"),
    "libtensorflow_framework.so.2": path.join(extracted, "lib", "libtensorflow_framework.so.2"),
    "libtensorflow.so": "libtensorflow_cc.so.2",
    "libtensorflow.so.2.9.1": "libtensorflow_cc.so.2",
    "libtensorflow_framework.so": "libtensorflow_framework.so.2",
    "libtensorflow_framework.so.2.9.1": "libtensorflow_framework.so.2",
  };
  for (const [name, target] of Object.entries(links)) fs.symlinkSync(target, path.join(deps, "lib", name));
}

/** Runs the package's own install script (download when needed, then node-pre-gyp / node-gyp build). */
function npmRebuild(pkgName) {
  const r = run(npmCmd(), ["rebuild", pkgName, "--ignore-scripts=false", "--foreground-scripts"], {
    env: nodedirEnv(),
    timeoutMs: 15 * 60 * 1000,
  });
  if (!r.ok) throw new Error(`npm rebuild ${pkgName} failed:\n${tail(r.out, 15)}`);
}

function ensureNative(nodeModulesChanged) {
  const t = Date.now();
  if (!fs.existsSync(TFJS_NODE)) {
    loud([
      "@tensorflow/tfjs-node is not installed, so the course will run on the wasm backend (~10x slower).",
      "Fix: rm -rf node_modules .cache/npm.json && npm run setup",
    ]);
    return { ok: false };
  }
  const key = sha(fileHash(path.join(ROOT, "package-lock.json")), process.versions.napi, process.arch, ROOT);
  const s = stamp("native");
  const binding = bindingPath(TFJS_NODE);
  const libOk = fs.existsSync(path.join(TFJS_NODE, "deps", "lib", "libtensorflow.so"));
  if (!nodeModulesChanged && s.key === key && s.ok && fs.existsSync(binding) && libOk) {
    log(`native: tfjs-node built against libtensorflow ${s.version} (${s.route}) (stamp)`);
    return s;
  }
  if (!nodeModulesChanged && s.key === key && s.ok === false && !args.has("--force-native")) {
    loud([
      `The native TensorFlow backend failed to build earlier (${s.error ? s.error.split("\n")[0] : "see above"}).`,
      "The course runs on the wasm backend (~10x slower). Retry: npm run setup -- --force-native",
    ]);
    return s;
  }
  // Already built and loading (e.g. a checkout set up by hand)? Then only record it.
  if (fs.existsSync(binding) && libOk) {
    const v = verifyNative("@tensorflow/tfjs-node");
    if (v.ok) {
      const route = s.route || "existing build";
      setStamp("native", { key, ok: true, version: v.version, route });
      log(`native: tfjs-node loads, libtensorflow ${v.version} (${secs(t)})`);
      return { ok: true, version: v.version, route };
    }
  }
  let route;
  const errors = [];
  try {
    const have291 = fs.existsSync(path.join(TFJS_NODE, "deps", "lib", "libtensorflow.so.2.9.1"));
    if (!have291 && canReachGoogleStorage()) {
      route = "standard download of libtensorflow 2.9.1";
      log(`native: network reachable, ${route} + build ...`);
      try {
        npmRebuild("@tensorflow/tfjs-node");
      } catch (e) {
        errors.push(e.message);
        route = undefined;
      }
    }
    if (!route || !verifyNative("@tensorflow/tfjs-node").ok) {
      route = `libtensorflow ${TF_WHEEL.version} from the ${TF_WHEEL.name} PyPI wheel`;
      log(`native: offline route: ${route} + local node-gyp build ...`);
      layoutLibtensorflowFromWheel(TFJS_NODE);
      const tb = Date.now();
      npmRebuild("@tensorflow/tfjs-node");
      log(`native: binding compiled (${secs(tb)})`);
    }
  } catch (e) {
    errors.push(e.message);
  }
  const v = verifyNative("@tensorflow/tfjs-node");
  if (v.ok) {
    setStamp("native", { key, ok: true, version: v.version, route });
    log(`native: tfjs-node works, libtensorflow ${v.version} via ${route} (${secs(t)})`);
    return { ok: true, version: v.version, route };
  }
  const error = [...errors, v.error].filter(Boolean).join("\n");
  setStamp("native", { key, ok: false, error });
  loud([
    "The native TensorFlow backend (@tensorflow/tfjs-node) could not be built or loaded.",
    "The course will run on the WASM backend instead: it works, but training is ~10x slower.",
    ...error.split("\n").slice(-12),
    "Retry after fixing the cause: npm run setup -- --force-native   (environment.md, 'Troubleshooting')",
  ]);
  return { ok: false, error };
}

/** Opt-in GPU build (--gpu): tfjs-node-gpu downloads libtensorflow 2.9.1 GPU; there is no offline route. */
function ensureGpu() {
  if (!args.has("--gpu")) return;
  const t = Date.now();
  if (!fs.existsSync(TFJS_NODE_GPU)) {
    warn("--gpu: @tensorflow/tfjs-node-gpu is not in node_modules (it is an optional dependency): skipped");
    return;
  }
  if (!canReachGoogleStorage()) {
    loud(["--gpu: storage.googleapis.com is unreachable; tfjs-node-gpu needs to download libtensorflow 2.9.1 GPU.", "No offline route exists for the GPU build (environment.md)."]);
    return;
  }
  try {
    npmRebuild("@tensorflow/tfjs-node-gpu");
    const v = verifyNative("@tensorflow/tfjs-node-gpu");
    if (!v.ok) throw new Error(v.error);
    setStamp("gpu", { ok: true, version: v.version });
    log(`gpu: tfjs-node-gpu built, libtensorflow ${v.version} (${secs(t)}); select it with TFJS_BACKEND=tensorflow-gpu`);
  } catch (e) {
    setStamp("gpu", { ok: false, error: e.message });
    loud(["--gpu: building tfjs-node-gpu failed (it needs CUDA 11.2 and cuDNN 8.1):", ...e.message.split("\n").slice(-10)]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 3-5. Python side: .venv, kernel, JupyterLab settings
// ---------------------------------------------------------------------------------------------------------------

function ensureVenv() {
  const t = Date.now();
  const py = python();
  if (!py) die("python3 not found", "install Python 3.9+ (with venv and pip), or set PYTHON=/path/to/python3");
  const key = sha(fileHash(path.join(ROOT, "requirements.txt")), ROOT);
  const s = stamp("venv");
  const jupyter = path.join(VENV_BIN, "jupyter");
  if (s.key === key && fs.existsSync(jupyter) && fs.existsSync(path.join(VENV_BIN, "python"))) {
    log("venv: up to date (stamp)");
    return;
  }
  if (!fs.existsSync(path.join(VENV_BIN, "python"))) {
    log(`venv: creating .venv with ${py} ...`);
    const r = run(py, ["-m", "venv", VENV]);
    if (!r.ok) die(`python -m venv failed:\n${tail(r.out)}`, "install the venv module (Debian: apt-get install python3-venv)");
  }
  log("venv: pip install -r requirements.txt ...");
  const r = run(path.join(VENV_BIN, "python"), ["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", "requirements.txt"]);
  if (!r.ok) die(`pip install failed:\n${tail(r.out)}`, "check access to PyPI, then rerun (rm -rf .venv for a clean start)");
  setStamp("venv", { key });
  log(`venv: ready (${secs(t)})`);
}

function ensureKernel() {
  const t = Date.now();
  const tslabBin = path.join(ROOT, "node_modules", ".bin", "tslab");
  const kernelDir = path.join(VENV, "share", "jupyter", "kernels", "tslab");
  const kernelJson = path.join(kernelDir, "kernel.json");
  const spec = readJson(kernelJson);
  const envOk = (k) => k && Object.entries(KERNEL_ENV).every(([n, v]) => k.env && k.env[n] === v);
  if (spec && spec.argv && spec.argv[0] === tslabBin && envOk(spec)) {
    log("kernel: tslab registered in .venv");
    return;
  }
  const r = run(process.execPath, [
    path.join(ROOT, "node_modules", "tslab", "bin", "tslab"),
    "install",
    `--python=${path.join(VENV_BIN, "python")}`,
    "--sys-prefix",
    `--binary=${tslabBin}`,
  ]);
  if (!r.ok) die(`tslab install failed:\n${tail(r.out)}`, "rm -rf .venv .cache/venv.json && npm run setup");
  // Add the kernel's environment to both kernelspecs (tslab's installer has no option for it).
  for (const name of ["tslab", "jslab"]) {
    const f = path.join(VENV, "share", "jupyter", "kernels", name, "kernel.json");
    const k = readJson(f);
    if (!k) continue;
    k.env = { ...(k.env || {}), ...KERNEL_ENV };
    writeJson(f, k);
  }
  if (!envOk(readJson(kernelJson))) die("tslab kernelspec was not written to .venv", "rm -rf .venv && npm run setup");
  log(`kernel: tslab registered in .venv -> ${path.relative(ROOT, tslabBin)} (${secs(t)})`);
}

function ensureLabSettings() {
  const f = path.join(VENV, "share", "jupyter", "lab", "settings", "overrides.json");
  const cur = readJson(f) || {};
  const want = { "@jupyterlab/apputils-extension:notification": { fetchNews: "false", checkForUpdates: false } };
  const merged = { ...cur };
  let changed = false;
  for (const [plugin, settings] of Object.entries(want)) {
    merged[plugin] = { ...(cur[plugin] || {}) };
    for (const [k, v] of Object.entries(settings)) {
      if (merged[plugin][k] !== v) {
        merged[plugin][k] = v;
        changed = true;
      }
    }
  }
  if (changed) writeJson(f, merged);
}

/** notebooks/lib -> ../lib: tslab's TypeScript rootDir is the notebook folder, so `../lib` imports fail. */
function ensureNotebookLibLink() {
  const link = path.join(ROOT, "notebooks", "lib");
  let st;
  try {
    st = fs.lstatSync(link);
  } catch {
    st = undefined;
  }
  if (st && st.isSymbolicLink() && fs.readlinkSync(link) === path.join("..", "lib")) return;
  if (st && !st.isSymbolicLink() && st.isDirectory()) return; // someone copied lib in: leave it
  if (st) fs.rmSync(link, { force: true });
  fs.symlinkSync(path.join("..", "lib"), link, "dir");
  log("notebooks/lib -> ../lib link created");
}

function main() {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 20) die(`Node ${process.versions.node} is too old`, "install Node 20 or newer");
  fs.mkdirSync(CACHE, { recursive: true });
  const changed = ensureNodeModules();
  const native = ensureNative(changed);
  ensureGpu();
  ensureVenv();
  ensureKernel();
  ensureLabSettings();
  ensureNotebookLibLink();
  const backend = native.ok ? `tensorflow (libtensorflow ${native.version})` : "wasm (native build failed, see above)";
  log(`done in ${secs(t0)}; backend: ${backend}`);
}

main();
