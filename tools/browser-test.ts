// `npm run test:browser`: the course as a learner sees it. Starts JupyterLab (the same command line as `npm start`)
// on a free loopback port, opens a notebook in headless Chromium (Debian `chromium` driven by npm `playwright-core`;
// `npx playwright install` cannot download browsers offline), runs all cells with the tslab kernel, checks that a
// plotly chart rendered (`svg.main-svg`) and that no cell printed an error, saves screenshots under runs/browser/,
// and stops JupyterLab (kernels through its API, then its process group). Then, when the notebook runner has left
// an executed copy in runs/notebooks/, exports it (tools/export-html.js) and checks the page draws its charts with
// the network cut off.
//   node --import tsx tools/browser-test.ts [notebooks/00_setup.ipynb] [--expect-text "tensors alive"]
// Environment: CHROMIUM_PATH (default /usr/bin/chromium), BROWSER_TEST_TIMEOUT seconds (default 300).
// JupyterLab runs with its own throw-away settings dir (autosave off), so the committed notebook is not rewritten;
// the test also checks the file's bytes are unchanged.
import * as cp from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import * as net from "node:net";
import * as path from "node:path";
import { chromium, type Page } from "playwright-core";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const start = require("./start.js") as { labArgs(extra: string[]): string[]; labEnv(): NodeJS.ProcessEnv; jupyter: string };

const ROOT = path.resolve(__dirname, "..");
const OUT = path.join(ROOT, "runs", "browser");
const USAGE = `usage: npm run test:browser -- [notebooks/<name>.ipynb] [--expect-text <text>]
  --expect-text  text a cell must print (default "tensors alive" for 00_setup)
  --help         this text
exit codes: 0 passed; 1 failed; 2 bad arguments`;
const cli = (() => {
  try {
    return parseArgs({ args: process.argv.slice(2), options: { "expect-text": { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: true });
  } catch (e) {
    console.error(`test:browser: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
})();
if (cli.values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (cli.positionals.length > 1 || cli.positionals.some((a) => !a.endsWith(".ipynb"))) {
  console.error(`test:browser: expected at most one notebook (.ipynb), got ${cli.positionals.join(" ")}\n${USAGE}`);
  process.exit(2);
}
const notebook = cli.positionals[0] ?? "notebooks/00_setup.ipynb";
const expectText = cli.values["expect-text"] ?? (notebook.endsWith("00_setup.ipynb") ? "tensors alive" : undefined);
const timeoutMs = Number(process.env.BROWSER_TEST_TIMEOUT ?? 300) * 1000;
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

function log(msg: string): void {
  console.log(`[browser] ${msg}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForServer(url: string, lab: cp.ChildProcess, ms: number): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (lab.exitCode !== null) throw new Error(`JupyterLab exited early with code ${lab.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`JupyterLab did not answer ${url} within ${ms / 1000} s`);
}

function killGroup(lab: cp.ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (lab.pid) process.kill(-lab.pid, signal);
  } catch {
    /* already gone */
  }
}

async function stopLab(lab: cp.ChildProcess, base?: string, token?: string): Promise<void> {
  // Kernels run in their own sessions (out of the server's process group): shut them down through the API first.
  if (base && token && lab.exitCode === null) {
    try {
      const kernels = (await (await fetch(`${base}/api/kernels?token=${token}`)).json()) as { id: string }[];
      await Promise.all(kernels.map((k) => fetch(`${base}/api/kernels/${k.id}?token=${token}`, { method: "DELETE" })));
    } catch {
      /* server already gone */
    }
  }
  killGroup(lab, "SIGTERM");
  const t0 = Date.now();
  while (lab.exitCode === null && lab.signalCode === null && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 200));
  killGroup(lab, "SIGKILL"); // kernels that ignored SIGTERM
}

/** Texts of outputs that signal a failure: error outputs, tslab's compile errors on stderr, async error markers. */
async function errorOutputs(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const bad: string[] = [];
    for (const el of Array.from(document.querySelectorAll(".jp-OutputArea-output"))) {
      const mime = el.getAttribute("data-mime-type") ?? "";
      const text = (el as HTMLElement).innerText ?? "";
      if (mime === "application/vnd.jupyter.error") bad.push(text.slice(0, 300));
      else if (/UncaughtException:|UnhandledPromiseRejection:/.test(text)) bad.push(text.slice(0, 300));
      else if (mime === "application/vnd.jupyter.stderr" && /\d+:\d+ - |Error:/.test(text)) bad.push(text.slice(0, 300));
    }
    return bad;
  });
}

async function main(): Promise<void> {
  if (!fs.existsSync(chromiumPath)) throw new Error(`no chromium at ${chromiumPath} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  if (!fs.existsSync(start.jupyter)) throw new Error(".venv is missing: run npm run setup");
  const nbFile = path.join(ROOT, notebook);
  const before = crypto.createHash("sha256").update(fs.readFileSync(nbFile)).digest("hex");
  const backup = fs.readFileSync(nbFile);
  fs.mkdirSync(OUT, { recursive: true });
  const settingsDir = path.join(OUT, "lab-settings");
  fs.rmSync(settingsDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(settingsDir, "@jupyterlab", "docmanager-extension"), { recursive: true });
  fs.writeFileSync(path.join(settingsDir, "@jupyterlab", "docmanager-extension", "plugin.jupyterlab-settings"), JSON.stringify({ autosave: false }));

  const port = await freePort();
  const token = crypto.randomBytes(12).toString("hex");
  const labLog = fs.openSync(path.join(OUT, "jupyterlab.log"), "w");
  const args = start.labArgs([
    "--no-browser",
    "--ServerApp.ip=127.0.0.1",
    `--port=${port}`,
    "--ServerApp.port_retries=0",
    `--ServerApp.token=${token}`,
    `--LabApp.user_settings_dir=${settingsDir}`,
    `--LabApp.workspaces_dir=${path.join(OUT, "lab-workspaces")}`,
    "--LabApp.expose_app_in_browser=True", // lets the test read the kernel's connection state
  ]);
  log(`starting JupyterLab on 127.0.0.1:${port}`);
  const lab = cp.spawn(start.jupyter, args, { cwd: ROOT, env: start.labEnv(), detached: true, stdio: ["ignore", labLog, labLog] });
  const t0 = Date.now();
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  let page: Page | undefined;
  try {
    await waitForServer(`http://127.0.0.1:${port}/api/kernelspecs?token=${token}`, lab, 90_000);
    const specs = (await (await fetch(`http://127.0.0.1:${port}/api/kernelspecs?token=${token}`)).json()) as { default: string; kernelspecs: Record<string, unknown> };
    if (!specs.kernelspecs.tslab) throw new Error(`tslab kernel not registered: ${Object.keys(specs.kernelspecs).join(", ")}`);
    log(`server up in ${((Date.now() - t0) / 1000).toFixed(1)} s; kernelspecs: ${Object.keys(specs.kernelspecs).join(", ")} (default ${specs.default})`);

    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(timeoutMs);
    const consoleErrors: string[] = [];
    page.on("pageerror", (e) => consoleErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/lab/tree/${notebook}?token=${token}`);
    await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout: 120_000 });
    // Kernel ready: connected AND idle. (The toolbar's indicator can say idle before the websocket is up, and cells
    // run then are silently lost.)
    await page.waitForFunction(
      () => {
        type K = { connectionStatus?: string; status?: string };
        type W = { sessionContext?: { session?: { kernel?: K } } };
        const app = (window as unknown as { jupyterapp?: { shell: { widgets(area: string): Iterable<W> } } }).jupyterapp;
        if (!app) return false;
        const nb = Array.from(app.shell.widgets("main")).find((w) => w.sessionContext);
        const k = nb?.sessionContext?.session?.kernel;
        return k?.connectionStatus === "connected" && k?.status === "idle";
      },
      undefined,
      { timeout: 180_000, polling: 500 },
    );
    log(`notebook open, kernel idle after ${((Date.now() - t0) / 1000).toFixed(1)} s; Run > Run All Cells`);
    await page.locator(".lm-MenuBar-itemLabel", { hasText: /^Run$/ }).click({ timeout: 15_000 });
    await page.locator(".lm-Menu-item", { has: page.locator(".lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }) }).click({ timeout: 15_000 });
    await page.waitForSelector('.jp-Notebook-ExecutionIndicator[data-status="busy"]', { timeout: 30_000 }).catch(() => undefined);

    await page.waitForSelector("svg.main-svg", { timeout: timeoutMs });
    log(`plotly chart rendered after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (expectText) {
      await page.waitForFunction((t) => Array.from(document.querySelectorAll(".jp-OutputArea-output")).some((e) => (e as HTMLElement).innerText.includes(t)), expectText, { timeout: timeoutMs });
      log(`last cell's output "${expectText}" appeared: all cells ran`);
    }
    // Let the kernel go idle (all cells done, last outputs flushed), then look at everything.
    await page.waitForSelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', { timeout: timeoutMs });
    const charts = await page.locator("svg.main-svg").count();
    const errors = await errorOutputs(page);

    const chart = page.locator(".jp-OutputArea-output:has(svg.main-svg)").first();
    await chart.scrollIntoViewIfNeeded();
    await page.waitForTimeout(500);
    const shot = path.join(OUT, `${path.basename(notebook, ".ipynb")}.png`);
    await page.screenshot({ path: shot });
    await chart.screenshot({ path: path.join(OUT, `${path.basename(notebook, ".ipynb")}-chart.png`) });
    log(`screenshots: ${path.relative(ROOT, shot)} and ...-chart.png; ${charts} plotly svg element(s)`);

    if (errors.length) throw new Error(`error output in the notebook:\n${errors.join("\n---\n")}`);
    if (charts < 1) throw new Error("no plotly chart rendered");
    if (consoleErrors.length) log(`page errors (not fatal): ${consoleErrors.slice(0, 3).join(" | ")}`);
  } catch (e) {
    if (page) {
      // What the learner would have seen, and which representation each output used.
      const shot = path.join(OUT, `${path.basename(notebook, ".ipynb")}-failure.png`);
      await page.screenshot({ path: shot }).catch(() => undefined);
      const mimes = await page
        .evaluate(() => Array.from(document.querySelectorAll(".jp-OutputArea-output")).map((el) => el.getAttribute("data-mime-type")))
        .catch(() => []);
      log(`failure screenshot: ${path.relative(ROOT, shot)}; output MIME types: ${mimes.join(", ")}`);
    }
    throw e;
  } finally {
    await browser?.close().catch(() => undefined);
    await stopLab(lab, `http://127.0.0.1:${port}`, token);
    fs.closeSync(labLog);
    const after = crypto.createHash("sha256").update(fs.readFileSync(nbFile)).digest("hex");
    if (after !== before) {
      fs.writeFileSync(nbFile, backup);
      throw new Error(`${notebook} was modified by JupyterLab during the test (restored)`);
    }
  }
  await checkExport();
  log(`PASS (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

/**
 * The exported HTML of the executed notebook (runs/notebooks/, written by the notebook runner) must draw its charts
 * with the network cut off: every non-file request is aborted.
 */
async function checkExport(): Promise<void> {
  const executed = path.join(ROOT, "runs", "notebooks", path.basename(notebook));
  if (!fs.existsSync(executed)) {
    log(`export check skipped: ${path.relative(ROOT, executed)} not found (npm run test:notebooks writes it)`);
    return;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { exportNotebook } = require("./export-html.js") as { exportNotebook(file: string, outDir: string): string };
  const html = exportNotebook(executed, path.join(ROOT, "exports"));
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    let blocked = 0;
    await page.route("**/*", (r) => (r.request().url().startsWith("file:") ? r.continue() : (blocked++, r.abort())));
    await page.goto(`file://${html}`);
    await page.waitForSelector(".rlhf-plot svg.main-svg", { timeout: 60_000 });
    const charts = await page.locator(".rlhf-plot .main-svg").count();
    const plot = page.locator(".rlhf-plot").first();
    await plot.scrollIntoViewIfNeeded();
    const shot = path.join(OUT, `${path.basename(notebook, ".ipynb")}-export.png`);
    await page.screenshot({ path: shot });
    log(`exported ${path.relative(ROOT, html)} draws its charts offline (${blocked} network requests blocked); ${path.relative(ROOT, shot)}`);
    if (charts < 1) throw new Error("exported HTML has no rendered chart");
  } finally {
    await browser.close();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`[browser] FAIL: ${e instanceof Error ? e.message : String(e)}`);
    console.error(`[browser] JupyterLab log: ${path.relative(ROOT, path.join(OUT, "jupyterlab.log"))}`);
    process.exit(1);
  },
);
