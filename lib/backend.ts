// Chooses the fastest TensorFlow.js backend that loads and reports why faster ones were skipped.
// Every entry point (notebook first cell, CLI, test) awaits initBackend() before making tensors.
import * as tf from "@tensorflow/tfjs";

export type BackendName = "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu";

export interface BackendReport {
  active: string;
  skipped: { name: BackendName; reason: string }[];
  tfjsVersion: string;
  libtensorflow?: string;
}

let report: BackendReport | undefined;

function tryNative(pkg: string): string | undefined {
  try {
    require(pkg);
    return undefined;
  } catch (e) {
    return (e as Error).message.split("\n")[0];
  }
}

/** Initialise once per process; later calls return the first report. */
export async function initBackend(): Promise<BackendReport> {
  if (report) return report;
  process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";
  const skipped: BackendReport["skipped"] = [];
  const forced = process.env.TFJS_BACKEND;
  if (!forced || forced === "tensorflow") {
    const err = tryNative("@tensorflow/tfjs-node");
    if (err === undefined && (await tf.setBackend("tensorflow"))) {
      // fallthrough to report
    } else {
      skipped.push({ name: "tensorflow", reason: err ?? "setBackend('tensorflow') returned false" });
      if (!(await tf.setBackend("cpu"))) throw new Error("no TensorFlow.js backend could be initialised");
    }
  } else if (!(await tf.setBackend(forced))) {
    throw new Error(`TFJS_BACKEND=${forced}: setBackend returned false`);
  }
  await tf.ready();
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  report = { active: tf.getBackend(), skipped, tfjsVersion: tf.version.tfjs, libtensorflow: binding?.TF_Version };
  return report;
}
