// The mock server's transport faults (docs/faults.md) against the guide's
// code in headless Chromium: the guide's UI flow (guide/index.html on the
// guide's api.mjs, verbatim) reaches its error path for each fault that
// loses the answer, keeps waiting on a stall, rides a slow body to the
// image; and the guide's mobile background-polling loop recovers from
// faulted polls; and the dashboard's settings form sets the random
// faults. MOCK_URL was started with --polls 3; PAGE_URL serves the
// page from another origin.

import { check, main, withBrowser } from './common.mjs';

const MOCK = process.env.MOCK_URL;
const PAGE = process.env.PAGE_URL;
const TOKEN = 'guide-faults';
const WAIT = { timeout: 15000 }; // a ceiling for a slow CI machine, not a speed target

async function configure(settings) {
  const response = await fetch(`${MOCK}/__admin/config`, { method: 'PATCH', body: JSON.stringify(settings) });
  check(response.ok, `PATCH /__admin/config: ${response.status}`);
}

async function stats() {
  return (await fetch(`${MOCK}/__admin/stats`)).json();
}

/** A fresh guide page, ready. */
async function open(context) {
  const page = await context.newPage();
  // A faulted request is a network error, which Chromium logs; anything
  // thrown and not caught by the guide's code is a failure.
  const uncaught = [];
  page.on('pageerror', (e) => uncaught.push(e.message));
  page.on('dialog', (d) => { uncaught.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
  const query = new URLSearchParams({ api: `${MOCK}/api/v1`, token: TOKEN, interval: '100' });
  await page.goto(`${PAGE}/index.html?${query}`);
  await page.waitForSelector('body[data-ready="true"][data-loading="false"]', WAIT);
  return { page, uncaught };
}

main(() => withBrowser(async (context) => {
  const report = { errors: {} };

  // The dashboard's settings form sets the random faults.
  {
    const page = await context.newPage();
    await page.goto(`${MOCK}/__admin/ui`);
    await page.click('details.settings summary');
    await page.fill('#config-fields input[name="fault_rate"]', '0.5');
    await page.fill('#config-fields input[name="faults"]', 'reset,slow-body=1s');
    await page.fill('#config-fields input[name="fault_on"]', 'polls');
    await page.click('#config button[type="submit"]');
    await page.waitForFunction(() => /Settings applied: /.test(document.getElementById('notice').textContent), null, WAIT);
    const config = await (await fetch(`${MOCK}/__admin/config`)).json();
    report.dashboard = {
      notice: await page.locator('#notice').textContent(),
      fault_rate: config.fault_rate,
      faults: config.faults,
      fault_on: config.fault_on,
    };
    await page.close();
  }

  // Each fault that loses the answer, on every poll: the guide's catch.
  for (const fault of ['reset', 'close', 'truncate', 'garbage']) {
    await configure({ fault_rate: 1, faults: fault, fault_on: 'polls' });
    const before = (await stats()).faults_injected[fault];
    const { page, uncaught } = await open(context);
    await page.fill('#prompt', `a red dress (${fault})`);
    await page.click('#go');
    await page.waitForSelector('#status[data-status="failed"]', WAIT);
    report.errors[fault] = {
      shown: await page.locator('#error').textContent(),
      visible: await page.locator('#error').isVisible(),
      faulted: (await stats()).faults_injected[fault] - before,
      uncaught,
    };
    await page.close();
  }

  // A stall: the guide's fetch has no timeout, so the UI keeps waiting.
  await configure({ fault_rate: 1, faults: 'stall', fault_on: 'polls' });
  {
    const { page, uncaught } = await open(context);
    await page.fill('#prompt', 'a stalled dress');
    await page.click('#go');
    await page.waitForSelector('#status[data-status="pending"]', WAIT);
    await page.waitForTimeout(1500);
    report.stall = {
      status: await page.getAttribute('#status', 'data-status'),
      error_hidden: await page.locator('#error').isHidden(),
      uncaught,
    };
    await page.close();
  }

  // A slow body is an answer: the flow completes.
  await configure({ fault_rate: 1, faults: 'slow-body=300ms', fault_on: 'polls' });
  {
    const { page, uncaught } = await open(context);
    await page.fill('#prompt', 'a slow dress');
    await page.click('#go');
    await page.waitForSelector('#status[data-status="completed"]', WAIT);
    report.slow_body = { messages: await page.locator('#log li').allTextContents(), uncaught };
    await page.close();
  }

  // The guide's mobile example (useBackgroundPolling's loop) on a job
  // whose first three polls fail: it recovers and completes.
  await configure({ fault_rate: 0 });
  {
    const { page, uncaught } = await open(context);
    report.mobile = await page.evaluate(async ({ mock, token }) => {
      const { getJobStatus } = await import('./api.mjs');
      const created = await fetch(`${mock}/api/v1/generate?chat=true`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          'X-Mock-Polls': '3',
          'X-Mock-Fault-Schedule': '1:reset, 2:truncate, 3:garbage',
        },
        body: JSON.stringify({ prompt: 'a dress on a phone' }),
      });
      const jobId = (await created.json()).job_id;
      const logged = [];
      const console = { error: (label, err) => logged.push(`${label} ${err.name}`) };
      const outcome = await new Promise((onComplete) => {
        // The guide's loop, verbatim but for its 2 s and 5 s waits (the
        // numbers, not the logic, as the guide page's interval).
        let polling = true;
        const poll = async () => {
          while (polling) {
            try {
              const job = await getJobStatus(jobId);

              if (job.status === 'completed') {
                onComplete(job.result);
                polling = false;
              } else if (job.status === 'failed') {
                onComplete(null, new Error(job.error));
                polling = false;
              }

              await new Promise(resolve => setTimeout(resolve, 100));
            } catch (err) {
              console.error('Polling error:', err);
              await new Promise(resolve => setTimeout(resolve, 250));
            }
          }
        };
        poll();
      });
      return { job_id: jobId, logged, image_url: outcome && outcome.image_url };
    }, { mock: MOCK, token: TOKEN });
    report.mobile.uncaught = uncaught;
    await page.close();
  }

  // The dashboard shows that job's requests with their faults, oldest last.
  {
    const page = await context.newPage();
    await page.goto(`${MOCK}/__admin/ui`);
    const id = report.mobile.job_id;
    await page.click(`#jobs tbody tr[data-id="${id}"]`);
    await page.waitForSelector(`#detail[data-job="${id}"]`, WAIT);
    await page.waitForFunction(() => document.querySelectorAll('#detail-requests tbody tr').length >= 4, null, WAIT);
    report.dashboard_faults = await page.locator('#detail-requests tbody td.fault').allTextContents();
    await page.close();
  }
  return report;
}));
