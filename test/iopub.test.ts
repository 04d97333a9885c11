// lib/core/iopub: a real zeromq.js Publisher (the copy tslab loads) refuses a send while its every-512th deferred send is
// pending; the guarded one queues it and delivers every message, in order.
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { createRequire } from "node:module";
import { guardSend, isBusy, type SendingClass } from "../lib/core/iopub";

const zmq = createRequire(require.resolve("tslab/package.json"))("zeromq") as {
  Publisher: new (o?: object) => { bind(a: string): Promise<void>; send(m: unknown): Promise<void>; close(): void };
  Subscriber: new (o?: object) => { connect(a: string): void; subscribe(): void; receive(): Promise<Buffer[]>; close(): void };
};

const N = 1500; // three times zeromq.js's run of 512 synchronous sends

async function pair(Pub: typeof zmq.Publisher, name: string) {
  const pub = new Pub({ sendHighWaterMark: 0 });
  const sub = new zmq.Subscriber({ receiveHighWaterMark: 0 });
  const addr = `inproc://iopub-test-${name}`;
  await pub.bind(addr);
  sub.connect(addr);
  sub.subscribe();
  await new Promise((r) => setTimeout(r, 100)); // let the subscription reach the publisher
  return { pub, sub };
}

/** Sends N numbered messages with no await in between, as a training loop with a live chart does. */
function burst(pub: { send(m: unknown): Promise<void> }): { thrown: unknown; sent: number; done: Promise<unknown> } {
  const promises: Promise<void>[] = [];
  try {
    for (let i = 0; i < N; i++) promises.push(pub.send(String(i)));
  } catch (e) {
    return { thrown: e, sent: promises.length, done: Promise.allSettled(promises) };
  }
  return { thrown: undefined, sent: promises.length, done: Promise.all(promises) };
}

describe("guardSend on zeromq.js's Publisher", () => {
  it("unguarded, a burst of sends throws EBUSY after the deferred one (the trap)", async () => {
    const { pub, sub } = await pair(zmq.Publisher, "raw");
    const r = burst(pub);
    await r.done;
    pub.close();
    sub.close();
    assert.ok(isBusy(r.thrown), `expected "busy writing", got ${String(r.thrown)}`);
    assert.ok(r.sent > 500 && r.sent < N, `it throws after the 512-send run, at send ${r.sent}`);
  });

  it("guarded, the same burst is delivered whole and in order", async () => {
    class Guarded extends zmq.Publisher {}
    assert.equal(guardSend(Guarded as unknown as SendingClass), true);
    assert.equal(guardSend(Guarded as unknown as SendingClass), false, "a second guard is a no-op");
    const { pub, sub } = await pair(Guarded, "guarded");
    const r = burst(pub);
    assert.equal(r.thrown, undefined);
    await r.done;
    const got: string[] = [];
    for (let i = 0; i < N; i++) got.push((await sub.receive())[0].toString());
    pub.close();
    sub.close();
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => String(i)));
  });

  it("passes on errors that are not EBUSY", () => {
    class Failing { send(): Promise<void> { throw new Error("socket closed"); } }
    guardSend(Failing as unknown as SendingClass);
    assert.throws(() => new Failing().send(), /socket closed/);
  });
});
