// Progress for long steps, on stderr (a CLI's stdout holds only results). Off until a CLI turns it on
// (setProgress(true)), so notebooks and tests stay quiet; lib code calls progress() either way.
//
//   const p = progress("rm: sampling pairs", batches);   p.tick();  ...  p.done();
// prints "rm: sampling pairs 3/12 (25%) 4.1 s, eta 12 s" at most once a second (in place on a terminal), and a
// final line with the total time. Steps shorter than `quietMs` (default 2 s) print nothing at all.


let enabled = false;

/** Turns progress lines on or off (tools/pipeline.ts and tools/generate.ts turn them on). */
export function setProgress(on: boolean): void {
  enabled = on;
}

/** One progress or log line on stderr, whatever the setting (CLIs log with it). */
export function progressLine(line: string): void {
  process.stderr.write(line + "\n");
}

export interface Progress {
  /** n more units done (default 1). */
  tick(n?: number): void;
  /** done units so far (for callbacks that report a running total). */
  update(done: number): void;
  /** The step is over: a closing line when any line was printed. */
  done(): void;
}

const fmt = (s: number) => (s < 60 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

/** A counter of `total` units of a step called `label`; see the header. */
export function progress(label: string, total: number, opts: { quietMs?: number; everyMs?: number } = {}): Progress {
  const t0 = Date.now();
  const quiet = opts.quietMs ?? 2000, every = opts.everyMs ?? 1000;
  let n = 0, last = t0, printed = false;
  const tty = !!process.stderr.isTTY;
  const line = (final: boolean) => {
    const el = (Date.now() - t0) / 1000;
    const eta = n > 0 && n < total ? `, eta ${fmt((el / n) * (total - n))}` : "";
    const text = final ? `${label}: ${n}/${total} in ${fmt(el)}` : `${label} ${n}/${total} (${Math.round((100 * n) / Math.max(1, total))}%) ${fmt(el)}${eta}`;
    process.stderr.write(tty ? `\r\x1b[K${text}${final ? "\n" : ""}` : `${text}\n`);
    printed = true;
  };
  const self: Progress = {
    update(d) {
      self.tick(d - n);
    },
    tick(k = 1) {
      n += k;
      const now = Date.now();
      if (!enabled || now - t0 < quiet || now - last < (tty ? every : every * 5)) return;
      last = now;
      line(false);
    },
    done() {
      if (enabled && printed) line(true);
    },
  };
  return self;
}

/** Called with each step's metrics row (and at eval steps with the eval figures too). */
export type StepCallback = (step: number, metrics: Record<string, number>) => void;

/** Where a stage's progress lines go: the caller's log, else the console (pass () => {} for silence). */
export type Log = (line: string) => void;
export const consoleLog: Log = (line) => console.log(line);
