// The guide's UI flow (guide/index.html on the guide's api.mjs) in headless
// Chromium, the page served by PAGE_URL from another origin than the mock's
// MOCK_URL (started with --polls 3, so each job is pending, processing, then
// completed on its 3rd poll). Asserts what a user sees: the status messages
// in order, the image loaded, a cancelled job shown cancelled, the history
// pages.

import { check, guard, main, withBrowser } from './common.mjs';

const MOCK = process.env.MOCK_URL;
const PAGE = process.env.PAGE_URL;
const TOKEN = 'guide-ui';
const WAIT = { timeout: 15000 }; // a ceiling for a slow CI machine, not a speed target

async function api(method, path, body) {
  const response = await fetch(`${MOCK}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.json();
}

main(() => withBrowser(async (context) => {
  check(new URL(PAGE).origin !== new URL(MOCK).origin, 'the page is served from another origin');
  const page = await context.newPage();
  const guards = guard(page, [new URL(MOCK).origin, new URL(PAGE).origin]);
  const query = new URLSearchParams({ api: `${MOCK}/api/v1`, token: TOKEN, interval: '100' });
  await page.goto(`${PAGE}/index.html?${query}`);
  await page.waitForSelector('body[data-ready="true"][data-loading="false"]', WAIT);
  const report = {};

  // Create a chat job and follow it to its image.
  await page.fill('#prompt', 'a red dress');
  await page.click('#go');
  await page.waitForSelector('#status[data-status="completed"]', WAIT);
  report.messages = await page.locator('#log li').allTextContents();
  const img = page.locator('#result');
  await img.waitFor({ state: 'visible', ...WAIT });
  await page.waitForFunction(() => document.getElementById('result').complete, null, WAIT);
  report.image = await img.evaluate((i) => ({ naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight, src: i.src }));

  // 22 more jobs stay pending (nobody polls them): 23 in all, 3 pages of 10.
  for (let i = 0; i < 22; i++) await api('POST', '/generate?chat=true', { prompt: `look ${i}` });
  await page.reload();
  await page.waitForSelector('body[data-ready="true"][data-loading="false"]', WAIT);

  // Cancel the newest pending job from its card.
  const newest = page.locator('.job-card').first();
  const id = Number(await newest.getAttribute('data-id'));
  await newest.locator('button', { hasText: 'Cancel Job' }).click();
  await page.waitForSelector(`.job-card[data-id="${id}"].status-cancelled`, WAIT);
  report.cancelled = {
    badge: await page.locator(`.job-card[data-id="${id}"] .status-badge`).textContent(),
    api: (await api('GET', `/jobs/${id}`)).status,
    cancel_button: await page.locator(`.job-card[data-id="${id}"] button`).count(),
  };

  // Page through the history.
  const pages = [];
  for (;;) {
    const label = await page.locator('#page').textContent();
    pages.push({ label, cards: await page.locator('.job-card').count() });
    if (await page.locator('#next').isDisabled()) break;
    const before = await page.getAttribute('body', 'data-page');
    await page.click('#next');
    await page.waitForSelector(`body[data-loading="false"]:not([data-page="${before}"])`, WAIT);
    check(pages.length < 10, 'the history ends');
  }
  report.pages = pages;
  guards.check();
  return report;
}));
