// Swagger UI in a real browser (Debian's Chromium, driven by
// playwright-core): open /api/docs, authorize with a token from signup,
// "Try it out" on GET /api/products/my, and see 200 rendered, with no
// resource loaded from outside the service.
//
// Usage: node browser/swagger-ui.mjs BASE_URL [SCREENSHOT.png]

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { chromium } from "playwright-core";

const [baseUrl, screenshot] = process.argv.slice(2);
if (!baseUrl) throw new Error("usage: swagger-ui.mjs BASE_URL [SCREENSHOT]");
const origin = new URL(baseUrl).origin;

const name = `ui_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
const signup = await fetch(`${baseUrl}/api/auth/signup`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ username: name, email: `${name}@example.com`, password: `browser ${randomUUID()}` }),
});
assert.equal(signup.status, 201);
const { access_token: token } = await signup.json();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage();
  const foreign = [];
  const pageErrors = [];
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith("data:") && !url.startsWith("blob:")) {
      foreign.push(url);
    }
  });
  page.on("pageerror", (error) => pageErrors.push(String(error)));

  // 1. Open the docs.
  await page.goto(`${baseUrl}/api/docs`, { waitUntil: "load" });
  await page.waitForSelector("#operations-Products-listMyProducts");

  // 2. Authorize: paste the access token into the accessToken scheme.
  await page.click("button.authorize");
  const scheme = page.locator(".modal-ux .auth-container").filter({ hasText: "accessToken" });
  await scheme.locator("input").fill(token);
  await scheme.locator("button.authorize").click();
  await page.locator(".modal-ux button.btn-done").first().click();

  // 3. Try it out on GET /api/products/my.
  const operation = page.locator("#operations-Products-listMyProducts");
  await operation.locator(".opblock-summary").click();
  await operation.locator("button.try-out__btn").click();
  await operation.locator("button.execute").click();
  const status = operation.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor();
  assert.equal((await status.innerText()).trim(), "200");
  const body = await operation.locator(".live-responses-table .microlight").first().innerText();
  assert.match(body, /"items"/);
  if (screenshot) await operation.screenshot({ path: screenshot });

  // 4. Everything came from the service itself.
  assert.deepEqual(foreign, [], "resources from outside the service");
  assert.deepEqual(pageErrors, [], "page errors");
  console.log(`Swagger UI at ${baseUrl}: authorized, GET /api/products/my -> 200, no outside resources`);
} finally {
  await browser.close();
}
