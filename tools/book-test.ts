// The book (npm run book) in a real browser: every page of the site opened from file:// in headless chromium with
// the network cut off (every request that is not file: is aborted and counted: there must be none), and on each:
//   - no script error, no failed file request (a missing stylesheet, font or plotly.js);
//   - no raw TeX in the prose (text outside code, pre and KaTeX's output: no "$$", no \frac-like command, no $x$ pair),
//     no KaTeX error element;
//   - every chart drawn (each .rlhf-plot div holds an svg.main-svg);
//   - every code cell numbered (In [n]:, never In [ ]:);
//   - every internal link resolves: the file exists and, for #anchor, an element of that page has the id.
// Writes a viewport screenshot of each page to runs/browser/book/ and the counts to runs/browser/book-results.json.
//   node --import tsx tools/book-test.ts [book]        (CHROMIUM_PATH, default /usr/bin/chromium)
// Prints one PASS/FAIL line per page and `N passed, N failed`; exit 0 when every page passed.
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(__dirname, "..");
const OUT = path.join(ROOT, "runs", "browser");
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

function htmlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...htmlFiles(f));
    else if (e.name.endsWith(".html")) out.push(f);
  }
  return out.sort();
}

interface PageReport {
  ids: string[];
  links: string[];
  plots: number;
  drawn: number;
  prompts: string[];
  rawTex: string[];
  katexErrors: number;
  equations: number;
}

async function main(): Promise<number> {
  const bookDir = path.resolve(ROOT, process.argv[2] ?? "book");
  if (!fs.existsSync(path.join(bookDir, "index.html"))) {
    console.error(`[book-test] no ${path.relative(ROOT, bookDir)}/index.html: build the book first (npm run book)`);
    return 1;
  }
  if (!fs.existsSync(chromiumPath)) {
    console.error(`[book-test] no chromium at ${chromiumPath} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
    return 1;
  }
  const shots = path.join(OUT, "book");
  fs.rmSync(shots, { recursive: true, force: true });
  fs.mkdirSync(shots, { recursive: true });
  const files = htmlFiles(bookDir);
  const t0 = Date.now();
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--no-first-run"] });
  const reports = new Map<string, PageReport>();
  const problems = new Map<string, string[]>();
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    for (const file of files) {
      const rel = path.relative(bookDir, file);
      const bad: string[] = [];
      problems.set(rel, bad);
      const page = await context.newPage();
      let blocked = 0;
      await page.route("**/*", (r) => (r.request().url().startsWith("file:") ? r.continue() : (blocked++, bad.push(`network request ${r.request().url().slice(0, 120)}`), r.abort())));
      page.on("pageerror", (e) => bad.push(`script error: ${e.message.split("\n")[0]}`));
      page.on("requestfailed", (r) => {
        if (r.url().startsWith("file:")) bad.push(`failed to load ${path.relative(bookDir, fileURLToPath(r.url()))}`);
      });
      await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
      const plots = await page.locator(".rlhf-plot").count();
      if (plots > 0) {
        await page
          .waitForFunction(() => Array.from(document.querySelectorAll(".rlhf-plot")).every((el) => el.querySelector("svg.main-svg")), undefined, { timeout: 30_000, polling: 200 })
          .catch(() => undefined);
      }
      await page.evaluate(() => document.fonts.ready);
      const r = await page.evaluate((): PageReport => {
        const prose = document.body.cloneNode(true) as HTMLElement;
        for (const el of Array.from(prose.querySelectorAll("pre, code, script, style, .katex, .output.html"))) el.remove();
        const text = prose.textContent ?? "";
        const rawTex: string[] = [];
        for (const re of [/\$\$[\s\S]{0,40}/g, /\\(?:[a-zA-Z]{2,}|[(){}[\]])[\s\S]{0,30}/g, /\$[^\s$][^$\n]{0,80}?[^\s$\\]\$/g]) {
          for (const m of text.matchAll(re)) rawTex.push(m[0].replace(/\s+/g, " "));
        }
        return {
          ids: Array.from(document.querySelectorAll("[id]")).map((e) => e.id),
          links: Array.from(document.querySelectorAll("a[href], link[href], script[src], img[src]")).map((e) => e.getAttribute("href") ?? e.getAttribute("src") ?? ""),
          plots: document.querySelectorAll(".rlhf-plot").length,
          drawn: Array.from(document.querySelectorAll(".rlhf-plot")).filter((el) => el.querySelector("svg.main-svg")).length,
          prompts: Array.from(document.querySelectorAll(".input > .prompt")).map((e) => (e.textContent ?? "").replace(/\s+/g, " ")),
          rawTex,
          katexErrors: document.querySelectorAll(".katex-error").length,
          equations: document.querySelectorAll(".katex").length,
        };
      });
      reports.set(rel, r);
      if (r.drawn < r.plots) bad.push(`${r.plots - r.drawn} of ${r.plots} charts not drawn (no svg.main-svg)`);
      if (r.rawTex.length) bad.push(`raw TeX in the prose: ${r.rawTex.slice(0, 3).map((t) => JSON.stringify(t)).join(", ")}`);
      if (r.katexErrors) bad.push(`${r.katexErrors} KaTeX error element(s)`);
      const unnumbered = r.prompts.filter((p) => !/^In \[\d+\]:$/.test(p));
      if (unnumbered.length) bad.push(`${unnumbered.length} code cell(s) without an execution number: ${unnumbered[0]}`);
      await page.screenshot({ path: path.join(shots, rel.replace(/[\\/]/g, "__").replace(/\.html$/, ".png")) });
      await page.close();
      if (blocked) bad.push(`${blocked} network request(s) blocked: the page needs a network`);
    }
  } finally {
    await browser.close();
  }
  // links, once every page's ids are known
  for (const [rel, r] of reports) {
    for (const href of r.links) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//")) continue;
      const hash = href.indexOf("#");
      const target = hash >= 0 ? href.slice(0, hash) : href;
      const anchor = hash >= 0 ? decodeURIComponent(href.slice(hash + 1)) : "";
      const abs = target === "" ? path.join(bookDir, rel) : path.resolve(path.dirname(path.join(bookDir, rel)), decodeURI(target));
      const relTarget = path.relative(bookDir, abs);
      if (relTarget.startsWith("..") || !fs.existsSync(abs)) {
        problems.get(rel)!.push(`link ${href}: no such file`);
        continue;
      }
      if (anchor && !reports.get(relTarget)?.ids.includes(anchor)) problems.get(rel)!.push(`link ${href}: ${relTarget} has no element with id "${anchor}"`);
    }
  }
  let passed = 0;
  let failed = 0;
  for (const [rel, r] of reports) {
    const bad = problems.get(rel)!;
    if (bad.length) failed++;
    else passed++;
    console.log(`[book-test] ${bad.length ? "FAIL" : "PASS"} ${rel}: ${r.drawn}/${r.plots} charts drawn, ${r.equations} equations, ${r.prompts.length} code cells, ${r.links.length} links`);
    for (const b of bad.slice(0, 8)) console.log(`     ${b}`);
  }
  const summary = { passed, failed, pages: reports.size, seconds: (Date.now() - t0) / 1000 };
  fs.writeFileSync(path.join(OUT, "book-results.json"), JSON.stringify(summary, null, 1) + "\n");
  console.log(`[book-test] ${reports.size} pages offline from file:// in ${summary.seconds.toFixed(1)} s; screenshots in ${path.relative(ROOT, shots)}/`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`[book-test] FAIL: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
