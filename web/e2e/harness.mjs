// End-to-end harness: a fresh gateway (own data dir, ephemeral port) in front of the in-repo
// mock upstream, and Debian's Chromium driven by playwright-core. Console errors and page errors
// are collected per page so a test can assert there were none.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const repo = resolve(new URL("../..", import.meta.url).pathname);
const bins = process.env.OMNIROUTE_BIN_DIR ?? join(repo, "target", "debug");
export const SHOTS = process.env.E2E_SCREENSHOTS ?? join(repo, "target", "e2e-screenshots");

/** Start a server that prints `listening on http://HOST:PORT` on its first stdout line. */
function startServer(name, argv, env) {
  return new Promise((ok, fail) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
    const lines = createInterface({ input: child.stdout });
    const errors = [];
    child.stderr.on("data", (d) => {
      errors.push(String(d));
      if (errors.length > 200) errors.shift();
    });
    const timer = setTimeout(() => fail(new Error(`${name} did not start: ${errors.join("")}`)), 20000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      const url = line.split(/\s+/).find((w) => w.startsWith("http://"));
      if (!url) {
        child.kill();
        fail(new Error(`${name}: unexpected first line ${line}`));
        return;
      }
      lines.on("line", () => {});
      ok({ url: url.replace(/\/$/, ""), child, stderr: errors });
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`${name} exited with ${code}: ${errors.join("")}`));
    });
  });
}

export function chromiumPath() {
  return process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
}

/** A gateway + mock + browser for one test file. */
export async function startStack({ env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "omniroute-e2e-"));
  mkdirSync(join(dir, "data"));
  // the gateway writes coding tools' configs under HOME: never the real one
  mkdirSync(join(dir, "home"));
  mkdirSync(SHOTS, { recursive: true });
  // the gateway's own settings come from the test, not from the environment it runs in
  const clean = { ...process.env, RUST_LOG: "warn", NO_OPEN: "1" };
  for (const k of ["REQUIRE_API_KEY", "HOSTNAME", "PORT", "OMNIROUTE_CONFIG", "OMNIROUTE_ADMIN_TOKEN", "DATA_DIR", "INITIAL_PASSWORD", "JWT_SECRET", "STORAGE_ENCRYPTION_KEY"]) delete clean[k];
  const mock = await startServer("mock-upstream", [join(bins, "mock-upstream"), "--port", "0", "--no-record"], clean);
  let gateway;
  try {
    gateway = await startServer(
      "omniroute",
      [join(bins, "omniroute"), "--no-open", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(dir, "data")],
      { ...clean, HOME: join(dir, "home"), ...env },
    );
  } catch (e) {
    mock.child.kill();
    throw e;
  }
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: "en-US" });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()} (${m.location().url || "?"})`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  // which request failed (the console line alone does not say)
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`http ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}${new URL(r.url()).search}`);
  });
  const stop = async () => {
    await browser.close().catch(() => {});
    gateway.child.kill("SIGTERM");
    mock.child.kill("SIGTERM");
    if (!process.env.E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  };
  return { dir, mock: mock.url, gateway: gateway.url, browser, context, page, problems, stop };
}

export async function shot(page, name) {
  await page.waitForTimeout(250);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const AXE = join(repo, "web", "node_modules", "axe-core", "axe.min.js");

/** WCAG 2 A/AA violations on the current page (axe-core), as readable lines. */
export async function a11y(page) {
  // evaluated through the devtools protocol: the page's CSP forbids injected script tags
  await page.evaluate(readFileSync(AXE, "utf8"));
  const found = await page.evaluate(async () => {
    // @ts-ignore: injected above
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
  });
  return found;
}
