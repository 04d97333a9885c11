// Chooses the fastest TensorFlow.js backend that loads, and reports why each faster one was skipped.
// Every entry point (a notebook's first cell, a CLI, a test's `before` hook) awaits initBackend() before any tensor.
//
// Order (a tiny GPT step, vocab 96 x d 128 x 2 layers, batch 32, on 2 cores; environment.md has the table):
//   tensorflow-gpu  @tensorflow/tfjs-node-gpu: only when asked for (TFJS_BACKEND=tensorflow-gpu) or when it was built
//                   (`npm run setup -- --gpu`) and an NVIDIA driver is visible. Needs libtensorflow 2.9.1 GPU.
//   tensorflow      @tensorflow/tfjs-node, native libtensorflow on the CPU          ~65 ms/step
//   wasm            @tensorflow/tfjs-backend-wasm (SIMD) with two fixes below         ~600 ms/step
//   cpu             pure JavaScript                                                  ~9,400 ms/step
// TFJS_BACKEND=<tensorflow-gpu|tensorflow|wasm|cpu> forces one; if it cannot start, initBackend throws.
//
// Both native packages register a backend named "tensorflow"; only one of them may be loaded in a process, so the
// GPU one is tried first and the CPU one only if the GPU one was not loaded.
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { guardKernelSends } from "./iopub";

export type BackendName = "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu";
export const BACKEND_ORDER: readonly BackendName[] = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"];

export interface BackendReport {
  /** The backend in use, by the names above ("tensorflow-gpu" when the native GPU package is active). */
  active: BackendName;
  /** Why it is the active one: the fastest that loaded, or forced by TFJS_BACKEND. */
  why: string;
  /** Every faster backend that was not used, with the reason. */
  skipped: { name: BackendName; reason: string }[];
  tfjsVersion: string;
  /** Version of the native TensorFlow C library, when a native backend is active (2.21.0 on the wheel route). */
  libtensorflow?: string;
  /** Workarounds installed for the active backend (wasm: the kernels and fast paths below). */
  patches: string[];
}

let report: BackendReport | undefined;

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0].slice(0, 300);
}

function packageDir(pkg: string): string | undefined {
  try {
    return path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return undefined;
  }
}

/** The addon node-pre-gyp builds; its absence means the package was installed with scripts ignored and never built. */
function nativeAddonBuilt(dir: string): boolean {
  const libDir = path.join(dir, "lib");
  return fs.existsSync(libDir) && fs.readdirSync(libDir).some((d) => fs.existsSync(path.join(libDir, d, "tfjs_binding.node")));
}

function nvidiaDriverVisible(): boolean {
  return fs.existsSync("/proc/driver/nvidia/version") || fs.existsSync("/dev/nvidia0");
}

/** Loads a native package (which registers and selects the "tensorflow" backend); returns why it failed, if it did. */
async function tryNative(pkg: string): Promise<string | undefined> {
  const dir = packageDir(pkg);
  if (!dir) return `${pkg} is not installed`;
  if (!nativeAddonBuilt(dir)) return `${pkg} is installed but its native addon was never built (run: npm run setup${pkg.endsWith("-gpu") ? " -- --gpu" : " -- --force-native"})`;
  try {
    require(pkg);
  } catch (e) {
    return `${pkg} failed to load: ${firstLine(e)}`;
  }
  if (!(await tf.setBackend("tensorflow"))) return `${pkg} loaded but setBackend("tensorflow") returned false`;
  return undefined;
}

async function tryWasm(): Promise<string | undefined> {
  try {
    require("@tensorflow/tfjs-backend-wasm");
  } catch (e) {
    return `@tensorflow/tfjs-backend-wasm failed to load: ${firstLine(e)}`;
  }
  try {
    // setBackend returns false (and tf.getBackend() may still name the failed backend): check the boolean.
    if (!(await tf.setBackend("wasm"))) return 'setBackend("wasm") returned false';
  } catch (e) {
    return `wasm failed to initialise: ${firstLine(e)}`;
  }
  return undefined;
}

async function tryBackend(name: BackendName, forced: boolean): Promise<string | undefined> {
  switch (name) {
    case "tensorflow-gpu":
      if (!forced) {
        const dir = packageDir("@tensorflow/tfjs-node-gpu");
        if (!dir || !nativeAddonBuilt(dir)) return "not built (opt in on a CUDA 11.2 / cuDNN 8.1 machine: npm run setup -- --gpu)";
        if (!nvidiaDriverVisible()) return "built, but no NVIDIA driver is visible (/proc/driver/nvidia/version missing)";
      }
      return tryNative("@tensorflow/tfjs-node-gpu");
    case "tensorflow":
      return tryNative("@tensorflow/tfjs-node");
    case "wasm":
      return tryWasm();
    case "cpu":
      return (await tf.setBackend("cpu")) ? undefined : 'setBackend("cpu") returned false';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// wasm fixes: both are installed only when wasm is the active backend.
// ---------------------------------------------------------------------------------------------------------------

type KernelArgs = Parameters<tf.KernelFunc>[0];
type WasmBackendLike = {
  readSync(dataId: unknown): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: ArrayLike<number>): tf.TensorInfo;
  disposeData(dataId: unknown): boolean;
};

/**
 * wasm has no UnsortedSegmentSum kernel, and the gradient of tf.gather (embedding lookups, picking the log-prob of
 * the sampled token) calls it. This JS kernel computes out[ids[i], ...] += x[i, ...]; it runs once per gather in the
 * backward pass on small tensors, so JS speed is fine.
 */
function registerWasmUnsortedSegmentSum(): boolean {
  if (tf.getKernel("UnsortedSegmentSum", "wasm") !== undefined) return false; // a later tfjs has its own
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }: KernelArgs) => {
      const b = backend as unknown as WasmBackendLike;
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
      const xs = b.readSync(x.dataId);
      const ids = b.readSync(segmentIds.dataId);
      const inner = ids.length === 0 ? 0 : xs.length / ids.length;
      const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
      const out = x.dtype === "int32" ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue; // TensorFlow drops out-of-range ids
        for (let j = 0; j < inner; j++) out[s * inner + j] += xs[i * inner + j];
      }
      return b.makeOutput(outShape, x.dtype, undefined, out);
    },
  });
  return true;
}

/**
 * wasm BatchMatMul is fast (~29 GFLOP/s) only without transposes (3.4 with b transposed, ~1.0 with a transposed), and
 * matMul's gradient uses the transposed forms. Wrapping the kernel so it transposes explicitly (O(n^2)) and multiplies
 * untransposed (O(n^3)) cut a training step from 1.8 s to 0.6 s. Forward attention (q k^T) benefits too.
 */
function wrapWasmMatMul(): boolean {
  const orig = tf.getKernel("BatchMatMul", "wasm");
  const transpose = tf.getKernel("Transpose", "wasm");
  if (!orig || !transpose) return false;
  const swapLast = (t: tf.TensorInfo, backend: KernelArgs["backend"]): tf.TensorInfo => {
    const r = t.shape.length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    return transpose.kernelFunc({ inputs: { x: t }, backend, attrs: { perm } }) as tf.TensorInfo;
  };
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    ...orig,
    kernelFunc: (args: KernelArgs) => {
      const attrs = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
      if (!attrs.transposeA && !attrs.transposeB) return orig.kernelFunc(args);
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const temps: tf.TensorInfo[] = [];
      const a2 = attrs.transposeA ? (temps.push(swapLast(a, args.backend)), temps[temps.length - 1]) : a;
      const b2 = attrs.transposeB ? (temps.push(swapLast(b, args.backend)), temps[temps.length - 1]) : b;
      const out = orig.kernelFunc({
        ...args,
        inputs: { a: a2, b: b2 },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
      for (const t of temps) (args.backend as unknown as WasmBackendLike).disposeData(t.dataId);
      return out;
    },
  });
  return true;
}

function patchWasm(): string[] {
  const patches: string[] = [];
  if (registerWasmUnsortedSegmentSum()) patches.push("UnsortedSegmentSum JS kernel (gradient of tf.gather)");
  if (wrapWasmMatMul()) patches.push("BatchMatMul transposes explicitly, multiplies untransposed (~3x faster backward)");
  return patches;
}

function silenceTensorFlowLogs(): void {
  // libtensorflow reads TF_CPP_MIN_LOG_LEVEL when it first logs; the kernelspec and tools set it before start, this
  // covers plain `node` entry points (it must happen before the native package is required).
  process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";
}

/** Initialise once per process; later calls return the first report. */
export async function initBackend(): Promise<BackendReport> {
  if (report) return report;
  guardKernelSends(); // in a notebook (every one calls this first), before its cells print: see lib/core/iopub.ts
  silenceTensorFlowLogs();
  const forcedRaw = process.env.TFJS_BACKEND?.trim();
  const skipped: BackendReport["skipped"] = [];
  let active: BackendName | undefined;
  let why = "";
  if (forcedRaw) {
    if (!BACKEND_ORDER.includes(forcedRaw as BackendName)) {
      throw new Error(`TFJS_BACKEND=${forcedRaw} is not a backend; allowed: ${BACKEND_ORDER.join(", ")}`);
    }
    const forced = forcedRaw as BackendName;
    const err = await tryBackend(forced, true);
    if (err) throw new Error(`TFJS_BACKEND=${forced} could not be started: ${err}`);
    active = forced;
    why = `forced by TFJS_BACKEND=${forced}`;
    for (const name of BACKEND_ORDER.slice(0, BACKEND_ORDER.indexOf(forced))) {
      skipped.push({ name, reason: `not tried: TFJS_BACKEND=${forced}` });
    }
  } else {
    for (const name of BACKEND_ORDER) {
      const err = await tryBackend(name, false);
      if (!err) {
        active = name;
        why = skipped.length === 0 ? "the fastest backend" : "the fastest backend that loaded";
        break;
      }
      skipped.push({ name, reason: err });
    }
    if (!active) throw new Error(`no TensorFlow.js backend could be started: ${JSON.stringify(skipped)}`);
  }
  await tf.ready();
  const patches = active === "wasm" ? patchWasm() : [];
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  report = { active, why, skipped, tfjsVersion: tf.version.tfjs, libtensorflow: binding?.TF_Version, patches };
  if (active === "wasm" || active === "cpu") {
    // Loud on purpose: a learner should know training will be slow, and why.
    console.warn(
      `[backend] WARNING: running on "${active}", 10-100x slower than the native backend. ` +
        `Skipped: ${skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")}`,
    );
  }
  return report;
}

/** The report of the backend initialised in this process (undefined before initBackend). */
export function backendReport(): BackendReport | undefined {
  return report;
}

/** A few human-readable lines for a notebook's first cell or a CLI banner. */
export function formatBackendReport(r: BackendReport): string {
  const lines = [
    `backend: ${r.active}${r.libtensorflow ? ` (libtensorflow ${r.libtensorflow})` : ""}, tfjs ${r.tfjsVersion}: ${r.why}`,
  ];
  for (const s of r.skipped) lines.push(`  skipped ${s.name}: ${s.reason}`);
  for (const p of r.patches) lines.push(`  patch: ${p}`);
  return lines.join("\n");
}
