// The dashboard (/__admin/ui) in headless Chromium, against a running mock
// (MOCK_URL): no console errors and no request outside the mock; a job
// created over HTTP appears without a reload and follows its states; the
// complete/fail/cancel buttons change jobs as the admin API then reports;
// hostile payloads and errors stay text. With SCREENSHOTS=<dir>, it also
// saves the overview (light) and a job's detail (dark) there.

import { check, guard, main, withBrowser } from './common.mjs';

const MOCK = process.env.MOCK_URL;
const WAIT = { timeout: 10000 }; // a ceiling for a slow CI machine, not a speed target

async function http(method, path, { token, body, headers = {} } = {}) {
  const response = await fetch(`${MOCK}${path}`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(data)}`);
  return data;
}

const create = (prompt, headers = {}) =>
  http('POST', '/api/v1/generate?chat=true', { token: 'dash', body: { prompt }, headers }).then((r) => r.job_id);
const adminJob = (id) => http('GET', `/__admin/jobs/${id}`);
const row = (id) => `#jobs tbody tr[data-id="${id}"]`;

async function rowStatus(page, id, status) {
  await page.waitForSelector(`${row(id)}[data-status="${status}"]`, WAIT);
}

async function openJob(page, id) {
  await page.click(row(id));
  await page.waitForSelector(`#detail[data-job="${id}"]`, WAIT);
}

/** A job created over HTTP shows up live, then follows its polls. */
async function live(page, report) {
  const navigations = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations.push(f.url()); });
  const created = performance.now();
  const id = await create('a red dress', { 'X-Mock-Polls': '5' });
  await page.waitForSelector(`${row(id)}[data-status="pending"]`, WAIT);
  report.appeared_ms = Math.round(performance.now() - created);
  check(await page.getAttribute('body', 'data-link') === 'live', 'updates came by the event stream');
  const states = ['pending'];
  // X-Mock-Polls: 5: polls 1-2 pending, 3-4 processing, 5 completed.
  for (const [polls, status] of [[3, 'processing'], [2, 'completed']]) {
    for (let i = 0; i < polls; i++) await http('GET', `/api/v1/jobs/${id}`, { token: 'dash' });
    await rowStatus(page, id, status);
    states.push(status);
  }
  const thumb = await page.waitForSelector(`${row(id)} td.thumb img`, WAIT);
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, thumb, WAIT);
  report.thumbnail_width = await thumb.evaluate((img) => img.naturalWidth);
  check(navigations.length === 0, `no reload: ${navigations}`);
  report.live_states = states;
  return id;
}

/** The detail's buttons, each checked against the admin API afterwards. */
async function controls(page, report) {
  await page.click('#pause');
  await page.waitForSelector('#pause[data-paused="true"]', WAIT);
  check((await http('GET', '/__admin/queue')).paused === true, 'the pause button paused the queue');
  const [done, failed, cancelled] = [await create('complete me'), await create('fail me'), await create('cancel me')];
  await rowStatus(page, cancelled, 'pending');

  await openJob(page, done);
  await page.click('#complete');
  await rowStatus(page, done, 'completed');
  await page.waitForSelector('#detail-image:not([hidden])', WAIT);

  await openJob(page, failed);
  await page.fill('#fail-message', 'GPU out of memory');
  await page.click('#fail button[type="submit"]');
  await rowStatus(page, failed, 'failed');
  await page.waitForFunction(() => document.getElementById('detail-error').textContent === 'GPU out of memory', null, WAIT);

  await openJob(page, cancelled);
  await page.click('#cancel');
  await rowStatus(page, cancelled, 'cancelled');

  // The settings form sends only what changed, as PATCH /__admin/config.
  await page.click('details.settings summary');
  await page.fill('#config-fields input[name="failure_rate"]', '0.25');
  await page.click('#config button[type="submit"]');
  await page.waitForFunction(() => /Settings applied: failure_rate$/.test(document.getElementById('notice').textContent), null, WAIT);
  const config = await http('GET', '/__admin/config');
  await http('PATCH', '/__admin/config', { body: { failure_rate: 0 } });

  report.controls = {
    config_failure_rate: config.failure_rate,
    config_max_attempts: config.max_attempts,
    completed: (await adminJob(done)).status,
    failed: (await adminJob(failed)).status,
    failed_error: (await adminJob(failed)).error,
    cancelled: (await adminJob(cancelled)).status,
  };
  await page.click('#pause');
  await page.waitForSelector('#pause[data-paused="false"]', WAIT);
}

/** HTML and script in a payload or an error are shown as text. */
async function hostile(page, report) {
  const payload = '<img src=x onerror=alert(1)>';
  const error = '<script>alert(2)</script><b>bold</b>';
  const id = await create(payload, { 'X-Mock-Polls': '100' });
  await http('POST', `/__admin/jobs/${id}/fail`, { body: { error } });
  await rowStatus(page, id, 'failed');
  await openJob(page, id);
  await page.waitForFunction((e) => document.getElementById('detail-error').textContent === e, error, WAIT);
  report.hostile = await page.evaluate(([id]) => ({
    prompt_cell: document.querySelector(`#jobs tr[data-id="${id}"] td.prompt`).textContent,
    payload_text: document.getElementById('detail-payload').textContent,
    error_text: document.getElementById('detail-error').textContent,
    injected_img: document.querySelectorAll('img[src="x"]').length,
    injected_b: document.querySelectorAll('#detail-error b, #jobs b').length,
    injected_script: [...document.scripts].filter((s) => !s.src.endsWith('/__admin/ui/dashboard.js')).length,
  }), [id]);
}

/** The filters and a page of many jobs. */
async function filters(page, report) {
  await page.selectOption('#filters select[name="status"]', 'failed');
  await page.waitForFunction(() => [...document.querySelectorAll('#jobs tbody tr')]
    .every((tr) => tr.dataset.status === 'failed'), null, WAIT);
  report.failed_rows = await page.locator('#jobs tbody tr').count();
  await page.selectOption('#filters select[name="status"]', '');
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length > 2, null, WAIT);
}

/** With the event stream blocked, the page polls and still follows jobs. */
async function fallback(context, report) {
  const page = await context.newPage();
  const guards = guard(page, [new URL(MOCK).origin]);
  await page.route('**/__admin/events', (route) => route.abort());
  await page.goto(`${MOCK}/__admin/ui`);
  await page.waitForSelector('body[data-link="polling"]', WAIT);
  const id = await create('seen by polling', { 'X-Mock-Polls': '100' });
  await page.waitForSelector(`${row(id)}[data-status="pending"]`, WAIT);
  report.fallback = await page.getAttribute('body', 'data-link');
  // The aborted stream is the one error expected here.
  const others = guards.problems.filter((p) => !/__admin\/events|ERR_FAILED/.test(p));
  check(others.length === 0, others.join('\n'));
  await page.close();
}

async function screenshots(context, dir) {
  for (const prompt of ['linen shirt, studio light', 'denim jacket on a model', 'silk scarf flat lay']) {
    const id = await create(prompt, { 'X-Mock-Polls': '100' });
    await http('POST', `/__admin/jobs/${id}/complete`);
  }
  await http('POST', '/api/v1/generate?flatlay=true', { token: 'shop-42', body: { modelId: '3', backgroundId: '7', products: [{ id: 'sku-1' }] }, headers: { 'X-Mock-Duration': '1h' } });
  await http('POST', '/api/v1/generate?background=true', { token: 'shop-42', body: { prompt: 'beach at dusk' }, headers: { 'X-Mock-Polls': '50' } });
  const light = await context.newPage();
  await light.emulateMedia({ colorScheme: 'light' });
  await light.goto(`${MOCK}/__admin/ui`);
  await light.waitForSelector('body[data-link="live"]', WAIT);
  await light.waitForFunction(() => [...document.querySelectorAll('#jobs img')].every((i) => i.complete), null, WAIT);
  await light.screenshot({ path: `${dir}/dashboard-overview.png` });
  const dark = await context.newPage();
  await dark.emulateMedia({ colorScheme: 'dark' });
  await dark.goto(`${MOCK}/__admin/ui`);
  await dark.waitForSelector('body[data-link="live"]', WAIT);
  await dark.click('#jobs tbody tr[data-status="completed"]');
  await dark.waitForSelector('#detail-image:not([hidden])', WAIT);
  await dark.waitForFunction(() => document.getElementById('detail-image').complete, null, WAIT);
  await dark.screenshot({ path: `${dir}/dashboard-job.png` });
}

main(() => withBrowser(async (context) => {
  const page = await context.newPage();
  const guards = guard(page, [new URL(MOCK).origin]);
  const report = {};
  await page.goto(`${MOCK}/__admin/ui`);
  await page.waitForSelector('body[data-link="live"]', WAIT);
  report.first_job = await live(page, report);
  await controls(page, report);
  await hostile(page, report);
  await filters(page, report);
  guards.check();
  await fallback(context, report);
  report.problems = guards.problems.length;
  if (process.env.SCREENSHOTS) await screenshots(context, process.env.SCREENSHOTS);
  return report;
}));
