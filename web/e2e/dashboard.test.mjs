// The dashboard in a real browser: first run (password, provider against the mock upstream,
// gateway key, CLI config), logout and login, every page rendered without console errors, a
// chat through the chat tester seen in the logs and analytics, and the Arabic layout (RTL).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { a11y, shot, startStack } from "./harness.mjs";

const PASSWORD = "correct horse battery staple";
let s;

before(async () => {
  s = await startStack();
});

after(async () => {
  await s?.stop();
});

function noProblems(where) {
  const found = s.problems.splice(0);
  assert.deepEqual(found, [], `console or page errors on ${where}`);
}

test("first run: password, provider (tested), key, CLI config", async () => {
  const { page } = s;
  await page.goto(s.gateway + "/");
  await page.getByTestId("onboarding-step-1").waitFor();
  await shot(page, "01-onboarding-password");
  await page.getByTestId("new-password").fill(PASSWORD);
  await page.getByTestId("repeat-password").fill(PASSWORD);
  await page.getByTestId("password-submit").click();

  await page.getByTestId("onboarding-step-2").waitFor();
  await page.getByTestId("provider-select").selectOption("openai");
  await page.getByTestId("connection-key").fill("sk-e2e-test-key");
  await page.getByTestId("connection-base-url").fill(`${s.mock}/v1`);
  await page.getByTestId("connection-test").click();
  await page.getByTestId("test-ok").waitFor().catch(async (e) => {
    await shot(page, "02-onboarding-provider-failed");
    throw new Error(`${e.message}\n${s.problems.join("\n")}`);
  });
  await shot(page, "02-onboarding-provider");
  await page.getByTestId("connection-save").click();
  await page.getByText("Provider connected.").waitFor();
  await page.getByTestId("onboarding-next").click();

  await page.getByTestId("onboarding-step-3").waitFor();
  await page.getByTestId("create-key").click();
  const key = (await page.getByTestId("created-key").textContent())?.trim() ?? "";
  assert.ok(key.length > 20, `a gateway key is shown once: ${key}`);
  await shot(page, "03-onboarding-key");
  await page.getByTestId("onboarding-next").click();

  await page.getByTestId("onboarding-step-4").waitFor();
  const config = await page.getByTestId("tool-config").textContent();
  assert.ok(config?.includes(key), "the CLI config carries the new key");
  assert.ok(config?.includes(s.gateway), "and the gateway's URL");
  await shot(page, "04-onboarding-tool");
  await page.getByTestId("onboarding-finish").click();
  await page.getByTestId("stat-requests").waitFor();
  noProblems("onboarding");

  // the key works against the gateway, and the connection reaches the mock
  const r = await fetch(`${s.gateway}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "hello from e2e" }] }),
  });
  assert.equal(r.status, 200, await r.clone().text());
});

test("logout, wrong password, login", async () => {
  const { page } = s;
  await page.getByTestId("logout").click();
  await page.getByTestId("login-password").waitFor();
  await page.getByTestId("login-password").fill("not the password");
  await page.getByTestId("login-submit").click();
  await page.getByText("Wrong password.").waitFor();
  s.problems.splice(0); // the refused login is a 401 the browser reports on its console
  await shot(page, "05-login");
  await page.getByTestId("login-password").fill(PASSWORD);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("stat-requests").waitFor();
  noProblems("login");
});

test("build a combo and try it", async () => {
  const { page } = s;
  await page.goto(s.gateway + "/combos");
  await page.getByTestId("combo-new").click();
  await page.getByTestId("combo-name").fill("e2e-combo");
  await page.getByTestId("combo-step-input").fill("openai/gpt-4o-mini");
  await page.getByTestId("combo-step-add").click();
  await page.getByTestId("combo-step-input").fill("openai/gpt-4o");
  await page.getByTestId("combo-step-add").click();
  assert.equal(await page.getByTestId("combo-step").count(), 2);
  // keyboard reorder: the second step moves up
  await page.getByTestId("combo-step-up").nth(1).click();
  const first = await page.getByTestId("combo-step-model").first().textContent();
  assert.match(first ?? "", /gpt-4o$/);
  await page.getByTestId("combo-save").click();
  await page.getByTestId("combo-saved").waitFor();
  await shot(page, "combo-builder");
  await page.getByTestId("combo-close").click();
  const row = page.locator('[data-testid="combo-row"][data-combo="e2e-combo"]');
  await row.waitFor();
  await row.getByTestId("combo-try").click();
  await page.getByTestId("combo-try-result").waitFor();
  assert.equal((await page.getByTestId("combo-try-status").textContent())?.trim(), "200");
  await shot(page, "combo-try");
  await page.keyboard.press("Escape");
  noProblems("combos");
});

test("create a key on the keys page", async () => {
  const { page } = s;
  await page.goto(s.gateway + "/keys");
  await page.getByTestId("key-create").click();
  await page.getByTestId("key-name-input").fill("ci laptop");
  await page.getByTestId("key-create-submit").click();
  const value = (await page.getByTestId("key-created-value").textContent())?.trim() ?? "";
  assert.ok(value.length > 20, `the new key is shown once: ${value}`);
  await shot(page, "keys-created");
  await page.getByTestId("key-created-done").click();
  await page.locator('[data-testid="key-row"][data-key-name="ci laptop"]').waitFor();
  noProblems("keys");
});

test("chat tester round trip, seen live, in the logs and in analytics", async () => {
  const { page, context } = s;
  // keep bodies, so the request detail shows every stage
  await page.goto(s.gateway + "/settings?tab=advanced");
  const bodies = page.getByTestId("settings-request_bodies");
  await bodies.waitFor();
  if (!(await bodies.isChecked())) await bodies.check();
  await page.getByTestId("settings-save-advanced").click();
  await page.getByTestId("settings-saved-advanced").waitFor();

  // a second tab watches the live monitor while the first sends
  const watcher = await context.newPage();
  await watcher.goto(s.gateway + "/translator");
  await watcher.getByRole("tab", { name: "Live monitor" }).click();
  await watcher.getByText("Waiting for requests").waitFor();

  await page.goto(s.gateway + "/translator");
  await page.getByRole("tab", { name: "Chat tester" }).click();
  await page.getByTestId("chat-format").selectOption("anthropic");
  await page.getByTestId("chat-model").fill("e2e-combo");
  await page.getByTestId("chat-prompt").fill("hello through the tester");
  await page.getByTestId("chat-send").click();
  await page.getByTestId("chat-answer").waitFor();
  assert.equal((await page.getByTestId("chat-answer").textContent())?.trim(), "echo: hello through the tester");
  const upstream = JSON.parse((await page.getByTestId("chat-upstream-request").first().textContent()) ?? "{}");
  assert.ok(Array.isArray(upstream.messages), "the translated request is shown");
  assert.ok((await page.getByTestId("chat-upstream-response").textContent())?.includes("chat.completion"), "the raw OpenAI answer is shown");
  assert.ok((await page.getByTestId("chat-client-response").textContent())?.includes('"type": "message"'), "the Anthropic-shaped answer is shown");
  await shot(page, "translator-chat");

  await watcher.getByTestId("live-monitor").getByText("e2e-combo").first().waitFor();
  await shot(watcher, "translator-live");
  await watcher.close();

  // the playground: auto-detected, rewritten
  await page.getByRole("tab", { name: "Playground" }).click();
  await page.getByTestId("playground-to").selectOption("gemini");
  await page.getByTestId("playground-run").click();
  await page.getByTestId("playground-output").waitFor();
  assert.ok((await page.getByTestId("playground-output").textContent())?.includes("contents"));
  await shot(page, "translator-playground");

  await page.goto(s.gateway + "/logs");
  await page.getByTestId("logs-table").getByText("e2e-combo").first().waitFor();
  await page.getByTestId("log-row").first().click();
  await page.getByTestId("log-detail").waitFor();
  // the Anthropic client's request, translated for the OpenAI upstream, and its raw answer
  await page.getByTestId("log-upstream-request-body").waitFor();
  assert.ok((await page.getByTestId("log-upstream-response-body").textContent())?.includes("chat.completion"));
  await shot(page, "logs-detail");
  await page.keyboard.press("Escape");

  await page.goto(s.gateway + "/analytics");
  await page.getByTestId("analytics-chart-requests").waitFor();
  await page.waitForLoadState("networkidle");
  await shot(page, "analytics");
  noProblems("translator, logs, analytics");
});

test("evals: the built-in set against a combo", async () => {
  const { page } = s;
  await page.goto(s.gateway + "/evals");
  await page.getByTestId("eval-targets").fill("e2e-combo, openai/gpt-4o-mini");
  await page.getByTestId("eval-run").click();
  await page.getByTestId("eval-results").waitFor();
  await page.getByText("done", { exact: true }).first().waitFor({ timeout: 60000 });
  const cells = await page.getByTestId("eval-results").locator("tbody tr").count();
  assert.equal(cells, 11, "a score row and ten cases");
  await shot(page, "evals-run");
  noProblems("evals");
});

test("endpoint page: a tool's config written on this machine, merged", async () => {
  const { page } = s;
  await page.goto(s.gateway + "/endpoint");
  await page.getByTestId("endpoint-key").fill("sk-omni-from-the-browser");
  await page.getByTestId("endpoint-model").fill("e2e-combo");
  await page.getByTestId("write-claude-code").click();
  await page.getByTestId("written-claude-code").waitFor();
  const file = JSON.parse(readFileSync(join(s.dir, "home", ".claude", "settings.json"), "utf8"));
  assert.equal(file.env.ANTHROPIC_AUTH_TOKEN, "sk-omni-from-the-browser");
  assert.equal(file.env.ANTHROPIC_MODEL, "e2e-combo");
  assert.equal(file.env.ANTHROPIC_BASE_URL, s.gateway);
  await shot(page, "endpoint-written");
  noProblems("endpoint");
});

const PAGES = ["/", "/endpoint", "/providers", "/combos", "/keys", "/analytics", "/costs", "/logs", "/status", "/translator", "/evals", "/settings"];

test("every page renders without errors and passes the accessibility checks", async () => {
  const { page } = s;
  const violations = [];
  for (const theme of ["light", "dark"]) {
    await page.evaluate((t) => localStorage.setItem("omniroute.theme", t), theme);
    for (const path of PAGES) {
      await page.goto(s.gateway + path);
      await page.locator("h1").first().waitFor();
      await page.waitForLoadState("networkidle");
      if (theme === "light") await shot(page, `page${path === "/" ? "-overview" : path.replace(/\//g, "-")}`);
      for (const v of await a11y(page)) violations.push(`${theme} ${path}: ${v}`);
      noProblems(`${path} (${theme})`);
    }
  }
  await page.evaluate(() => localStorage.removeItem("omniroute.theme"));
  assert.deepEqual(violations, [], "WCAG 2.1 A/AA (axe-core)");
});

test("Arabic: right-to-left layout, translated navigation", async () => {
  const { page } = s;
  await page.goto(s.gateway + "/");
  await page.getByTestId("lang-select").selectOption("ar");
  await page.waitForFunction(() => document.documentElement.dir === "rtl");
  assert.equal(await page.evaluate(() => document.documentElement.lang), "ar");
  await page.waitForLoadState("networkidle");
  const nav = await page.locator(".nav a").first().textContent();
  assert.notEqual(nav, "Overview", "the navigation is translated");
  // the sidebar sits on the right in RTL
  const box = await page.locator(".sidebar").boundingBox();
  assert.ok(box && box.x > 500, `sidebar on the right: x=${box?.x}`);
  await shot(page, "ar-overview");
  await page.getByTestId("lang-select").selectOption("en");
  await page.waitForFunction(() => document.documentElement.dir === "ltr");
  noProblems("arabic");
});

test("phone width and dark theme", async () => {
  const { page } = s;
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(s.gateway + "/");
  await page.getByTestId("theme-toggle").click();
  const theme = await page.evaluate(() => document.documentElement.dataset.theme);
  assert.ok(theme === "dark" || theme === "light");
  await shot(page, "phone-overview");
  await page.setViewportSize({ width: 1366, height: 900 });
  noProblems("phone");
});
