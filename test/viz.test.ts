// lib/notebook/viz: figures, the HTML fallback, and the messages a live chart sends to a (fake) tslab kernel.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { figureHtml, inKernel, lineFigure, liveChart, show } from "../lib/notebook/viz";

type Msg = { data: Record<string, unknown>; transient: { display_id?: string } };

describe("viz outside a kernel", () => {
  it("show() and liveChart() draw nothing but record the data", () => {
    assert.equal(inKernel(), false);
    assert.equal(show(lineFigure({ title: "t", x: [1], series: { a: [1] } })), undefined);
    const c = liveChart({ title: "loss", series: ["loss", "val_loss"] });
    c.push(1, { loss: 2.5, other: 7 });
    c.push(2, { loss: 2.0, val_loss: 2.2 });
    c.push(3, { loss: Number.NaN });
    c.done();
    assert.deepEqual(c.data.x, [1, 2, 3]);
    assert.deepEqual(c.data.series, { loss: [2.5, 2.0, null], val_loss: [null, 2.2, null] });
    const fig = c.figure();
    assert.deepEqual(fig.data.map((t) => t.name), ["loss", "val_loss"]);
    assert.equal(fig.data[1].mode, "markers", "a series with one point is drawn as a marker, not an invisible line");
  });

  it("lineFigure puts rightAxis series on y2 and sets a log axis", () => {
    const f = lineFigure({ title: "r", x: [0, 1], series: { reward: [0, 1], kl: [0, 2] }, rightAxis: ["kl"], logY: true });
    assert.equal(f.data[1].yaxis, "y2");
    assert.equal(f.layout?.yaxis2?.automargin, true, "room for the right axis's labels and title");
    assert.equal(f.data[0].yaxis, undefined);
    assert.equal(f.layout?.yaxis?.type, "log");
    assert.equal(f.layout?.yaxis2?.overlaying, "y");
  });

  it("figureHtml cannot be broken out of its <script> by data", () => {
    const html = figureHtml(lineFigure({ title: "</script><script>alert(1)</script>", x: [1], series: { a: [1] } }), "p1");
    assert.equal(html.match(/<\/script>/g)?.length, 1, "only the closing tag of our own script");
    assert.match(html, /id="p1"/);
    assert.match(html, /window\.Plotly\.react/);
  });
});

describe("viz inside a (fake) tslab kernel", () => {
  const sent: { msg: Msg; update: boolean }[] = [];
  const fakeFile = path.join(path.sep, "fake", "node_modules", "tslab", "dist", "jupyter.js");
  before(() => {
    (globalThis as { __tslab__?: unknown }).__tslab__ = {};
    (require.cache as Record<string, unknown>)[fakeFile] = {
      exports: { lastWriteDisplayData: (msg: Msg, update: boolean) => sent.push({ msg, update }) },
    };
  });
  after(() => {
    delete (globalThis as { __tslab__?: unknown }).__tslab__;
    delete (require.cache as Record<string, unknown>)[fakeFile];
  });

  it("shows plotly JSON with an HTML fallback, then redraws in place under one display_id", () => {
    assert.equal(inKernel(), true);
    const c = liveChart({ title: "loss", series: ["loss"], every: 2, minIntervalMs: 0 });
    c.push(1, { loss: 3 }); // not due (every 2)
    c.push(2, { loss: 2 }); // due
    c.done();
    // initial draw, then (placeholder + chart) for the push at step 2 and for done()
    assert.equal(sent.length, 5);
    const id = sent[0].msg.transient.display_id;
    assert.ok(id);
    assert.ok(sent.every((s) => s.msg.transient.display_id === id));
    assert.deepEqual(sent.map((s) => s.update), [false, true, true, true, true]);
    assert.deepEqual(Object.keys(sent[0].msg.data).sort(), ["application/vnd.plotly.v1+json", "text/html", "text/plain"]);
    // The placeholder has a different MIME type, so JupyterLab replaces the plotly renderer (which ignores updates).
    assert.ok("image/svg+xml" in sent[1].msg.data && !("application/vnd.plotly.v1+json" in sent[1].msg.data));
    const last = sent[4].msg.data["application/vnd.plotly.v1+json"] as { data: { x: number[]; y: number[] }[] };
    assert.deepEqual(last.data[0].x, [1, 2]);
    assert.deepEqual(last.data[0].y, [3, 2]);
  });
});
