// Usage: node task-view.mjs <task view url with ?token=> <task id> <screenshot.png> [<dashboard screenshot.png> | --diff]
// Opens the token link (the silo exchanges it for a session cookie and redirects to the clean address), waits until
// the live feed lists the task, opens the task, waits for its subtasks, and saves a screenshot; then opens the Orleans
// dashboard and saves one of it. With --diff it waits instead for the task's changes (one section per domain) before
// the screenshot. Exit 0 and a JSON line with what was seen (the address after the redirect, the changes as shown,
// anything the Content-Security-Policy blocked); exit 1 with the reason.
import { chromium } from "playwright-core";

const [url, taskId, screenshot, last] = process.argv.slice(2);
const waitForDiff = last === "--diff";
const dashboardScreenshot = waitForDiff ? undefined : last;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const blocked = [];
  page.on("console", (message) => { if (/Content Security Policy/i.test(message.text())) blocked.push(message.text()); });
  await page.goto(url);
  const address = page.url();
  await page.waitForSelector(`tr[data-task="${taskId}"]`, { timeout: 20000 });
  const connection = await page.textContent("#connection");
  const row = await page.textContent(`tr[data-task="${taskId}"]`);
  await page.click(`tr[data-task="${taskId}"]`);
  await page.waitForSelector("#subtasks tr", { timeout: 20000 });
  await page.waitForFunction(() => document.querySelector("#log").textContent.length > 0, null, { timeout: 20000 });
  const subtasks = await page.$$eval("#subtasks tr", (rows) => rows.map((r) => r.innerText.replace(/\s+/g, " ").trim()));
  const log = await page.textContent("#log");
  let diff = null;
  if (waitForDiff) {
    await page.waitForFunction(() => document.querySelectorAll("#diff section.domain-diff").length >= 2, null, { timeout: 20000 });
    diff = await page.$$eval("#diff section.domain-diff", (sections) => sections.map((s) => ({
      domain: s.dataset.domain,
      text: s.innerText,
      added: [...s.querySelectorAll("pre.patch .add")].filter((e) => e.checkVisibility()).map((e) => e.textContent.trimEnd()),
      conflicts: [...s.querySelectorAll("details.file.conflict summary")].map((e) => e.innerText),
    })));
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  let dashboard = null;
  if (dashboardScreenshot) {
    await page.goto(new URL("dashboard/", url).toString());
    await page.waitForFunction(() => /silo/i.test(document.body.innerText), null, { timeout: 20000 });
    await page.waitForTimeout(2000); // the dashboard fills its charts from its first counters poll
    dashboard = (await page.innerText("body")).slice(0, 2000);
    await page.screenshot({ path: dashboardScreenshot, fullPage: true });
  }
  console.log(JSON.stringify({ address, connection, row: row.replace(/\s+/g, " ").trim(), subtasks, log, dashboard, diff, blocked }));
} catch (error) {
  console.error(`task view check failed: ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
