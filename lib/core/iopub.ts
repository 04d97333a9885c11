// The kernel's output socket must never refuse a message.
//
// Everything a cell shows (console.log lines, charts, their redraws) leaves the tslab kernel as a message on one
// ZeroMQ PUB socket (Jupyter's "iopub"). tslab calls the socket's send() and does not wait for it. zeromq.js 6 allows
// one send in flight at a time, and every 512th send in a row it deliberately defers to the event loop (so a busy
// process cannot starve it). A send issued while that deferred one is pending throws
//   "Socket is busy writing; only one send operation may be in progress at any time"
// synchronously, inside whatever called console.log or redrew a chart. A long training cell with live charts sends a
// few hundred messages without yielding, so it dies that way after minutes of training; and the error itself is
// lost, because reporting it needs the same busy socket.
//
// guardKernelSends() wraps the PUB socket's send once per process: a send that finds the socket busy joins a queue,
// which is drained, in order, once the pending send has gone. Nothing changes while the socket is free.
import * as path from "node:path";

const GUARDED = Symbol("rlhf.iopub.guarded");

type Send = (this: object, msg: unknown) => Promise<void>;
interface Pending { msg: unknown; resolve: (p: Promise<void>) => void; reject: (e: unknown) => void }
// Per socket: its queue and its latest send (a WeakMap: zeromq's socket objects are not extensible).
interface State { queue: Pending[]; last?: Promise<void> }
export interface SendingClass { prototype: { send: Send; [GUARDED]?: true } }

/** zeromq.js's EBUSY on send (its message is the only stable mark across versions). */
export function isBusy(e: unknown): boolean {
  return e instanceof Error && /busy writing/i.test(e.message);
}

/**
 * Makes cls.prototype.send queue instead of throwing when the socket is busy. Returns false when it was already
 * guarded. Exported for the test, which guards a real zeromq Publisher outside any kernel.
 */
export function guardSend(cls: SendingClass): boolean {
  const proto = cls.prototype;
  if (proto[GUARDED]) return false;
  const send = proto.send;
  const states = new WeakMap<object, State>();
  const stateOf = (sock: object): State => {
    let st = states.get(sock);
    if (!st) states.set(sock, (st = { queue: [] }));
    return st;
  };

  const drain = (sock: object): void => {
    const st = stateOf(sock), q = st.queue;
    while (q.length > 0) {
      let p: Promise<void>;
      try {
        p = send.call(sock, q[0].msg);
      } catch (e) {
        if (isBusy(e)) return waitThenDrain(sock);
        q.shift()!.reject(e);
        continue;
      }
      st.last = p;
      q.shift()!.resolve(p);
    }
  };
  // After the pending send settles, one event-loop turn (setImmediate) lets zeromq finish its bookkeeping.
  const waitThenDrain = (sock: object): void => {
    const last = stateOf(sock).last ?? Promise.resolve();
    last.then(() => undefined, () => undefined).then(() => setImmediate(() => drain(sock)));
  };

  // Defined, not assigned: the native Socket's send is a read-only inherited property.
  const guarded = function (this: object, msg: unknown): Promise<void> {
    const st = stateOf(this), q = st.queue;
    if (q.length === 0) {
      try {
        const p = send.call(this, msg);
        st.last = p;
        return p;
      } catch (e) {
        if (!isBusy(e)) throw e;
      }
    }
    // Busy, or earlier messages still queued (order matters: a redraw must not overtake its placeholder).
    return new Promise<void>((resolve, reject) => {
      q.push({ msg, resolve: (p) => p.then(resolve, reject), reject });
      if (q.length === 1) waitThenDrain(this);
    });
  };
  Object.defineProperty(proto, "send", { value: guarded, writable: true, configurable: true });
  Object.defineProperty(proto, GUARDED, { value: true });
  return true;
}

let installed = false; // once a Publisher is guarded, later calls skip the scan of require's cache

/**
 * Guards the Publisher class of every zeromq.js copy this process has loaded (the kernel loads it before any cell
 * runs). Returns how many were newly guarded; outside a kernel, where no zeromq is loaded, 0.
 */
export function guardKernelSends(): number {
  if (installed) return 0;
  let n = 0;
  const marker = path.join("zeromq", "lib", "index.js");
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!file.endsWith(marker) || !mod) continue;
    const pub = (mod.exports as { Publisher?: SendingClass }).Publisher;
    if (pub && typeof pub.prototype?.send === "function" && guardSend(pub)) n++;
  }
  installed = n > 0;
  return n;
}
