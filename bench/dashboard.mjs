// Dashboard load benchmark: a release gateway with its embedded dashboard, Debian's Chromium
// (playwright-core), a cold browser cache per run. Measures, over N runs (median, max):
//   - login page: navigation start → the password field visible and enabled (interactive),
//     first contentful paint, bytes transferred and requests made;
//   - the overview after login (assets cached): navigation start → its stat cards rendered;
// and the embedded assets' total size raw / brotli / gzip.
// Usage: node bench/dashboard.mjs [runs]   (needs `cargo build --release -p omniroute` and
//        `npm ci` in web/; writes bench/results/dashboard.json)
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { createRequire } from "node:module";

const repo = resolve(new URL("..", import.meta.url).pathname);
const require = createRequire(join(repo, "web", "package.json"));
const { chromium } = require("playwright-core");
const runs = Number(process.argv[2] ?? 10);
const PASSWORD = "benchmark password 1";

function start(bin, args, env) {
  return new Promise((ok, fail) => {
    const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    createInterface({ input: child.stdout }).once("line", (line) => {
      const url = line.split(/\s+/).find((w) => w.startsWith("http://"));
      url ? ok({ child, url: url.replace(/\/$/, "") }) : fail(new Error(line));
    });
    child.on("exit", (c) => fail(new Error(`exited ${c}`)));
  });
}

function sizes() {
  const root = join(repo, "web", "dist");
  const t = { raw: 0, br: 0, gz: 0, files: 0 };
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith(".br")) t.br += statSync(p).size;
      else if (n.endsWith(".gz")) t.gz += statSync(p).size;
      else {
        t.raw += statSync(p).size;
        t.files += 1;
      }
    }
  };
  walk(root);
  return t;
}

const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const max = (xs) => Math.max(...xs);

const dir = mkdtempSync(join(tmpdir(), "omniroute-bench-dash-"));
const env = { ...process.env, RUST_LOG: "warn", HOME: dir, INITIAL_PASSWORD: "" };
delete env.INITIAL_PASSWORD;
delete env.OMNIROUTE_ADMIN_TOKEN;
const gw = await start(join(repo, "target", "release", "omniroute"), ["--no-open", "--port", "0", "--data-dir", join(dir, "data")], env);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
// set the password once (first run), so later visits meet the login page
{
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(gw.url + "/");
  await page.getByTestId("new-password").fill(PASSWORD);
  await page.getByTestId("repeat-password").fill(PASSWORD);
  await page.getByTestId("password-submit").click();
  await page.getByTestId("onboarding-step-2").waitFor();
  await ctx.close();
}
// the moment a selector appears, recorded in the page itself (Playwright's own waiting polls
// with growing intervals and would add up to half a second)
function marker(selector, name) {
  return `(() => {
    const seen = () => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (el && !el.disabled && el.getClientRects().length && !window[${JSON.stringify(name)}]) {
        window[${JSON.stringify(name)}] = performance.now();
      }
    };
    new MutationObserver(seen).observe(document, { subtree: true, childList: true, characterData: true });
  })();`;
}

const login = { interactive: [], fcp: [], bytes: [], requests: [] };
const overview = [];
for (let i = 0; i < runs; i++) {
  const ctx = await browser.newContext(); // cold cache
  await ctx.addInitScript(marker('[data-testid="login-password"]', "__loginReady"));
  await ctx.addInitScript(marker('[data-testid="stat-requests"] .value', "__overviewReady"));
  const page = await ctx.newPage();
  let bytes = 0;
  let requests = 0;
  page.on("response", async (r) => {
    requests += 1;
    const sz = await r.request().sizes().catch(() => null);
    if (sz) bytes += sz.responseBodySize + sz.responseHeadersSize;
  });
  await page.goto(gw.url + "/", { waitUntil: "commit" });
  await page.waitForFunction(() => window.__loginReady);
  const t = await page.evaluate(() => {
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    return { now: window.__loginReady, fcp: fcp ? fcp.startTime : NaN };
  });
  await page.waitForLoadState("networkidle");
  login.interactive.push(t.now);
  login.fcp.push(t.fcp);
  login.bytes.push(bytes);
  login.requests.push(requests);
  await page.getByTestId("login-password").fill(PASSWORD);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("stat-requests").waitFor();
  // a fresh navigation to the overview with the session (assets now cached in this context)
  await page.goto(gw.url + "/", { waitUntil: "commit" });
  await page.waitForFunction(() => window.__overviewReady);
  overview.push(await page.evaluate(() => window.__overviewReady));
  await ctx.close();
}
await browser.close();
gw.child.kill("SIGTERM");

const s = sizes();
const result = {
  runs,
  login_interactive_ms: { median: med(login.interactive), max: max(login.interactive) },
  login_first_contentful_paint_ms: { median: med(login.fcp), max: max(login.fcp) },
  login_transferred_kib: med(login.bytes) / 1024,
  login_requests: med(login.requests),
  overview_rendered_ms: { median: med(overview), max: max(overview) },
  assets_kib: { raw: s.raw / 1024, brotli: s.br / 1024, gzip: s.gz / 1024, files: s.files },
};
mkdirSync(join(repo, "bench", "results"), { recursive: true });
writeFileSync(join(repo, "bench", "results", "dashboard.json"), JSON.stringify(result, null, 2) + "\n");
console.log(JSON.stringify(result, null, 2));
