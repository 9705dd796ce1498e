// Shared by the browser tests: Debian's Chromium launched headless by
// playwright-core (no browser download), and guards that fail a test on a
// console error, an uncaught exception, a dialog (alert) or a request to any
// origin the test did not allow.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const FLAGS = [
  '--no-sandbox', // the tests run as root in CI containers
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Runs `body(context, profile)` in a fresh Chromium profile; closes everything. */
export async function withBrowser(body) {
  const profile = mkdtempSync(join(tmpdir(), 'vestis-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.VESTIS_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 800 },
  });
  try {
    return await body(context);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Records what must not happen on `page`; `check()` throws if any did. */
export function guard(page, allowedOrigins) {
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.protocol === 'data:') return;
    if (!allowedOrigins.includes(url.origin)) problems.push(`request outside the mock: ${r.url()}`);
  });
  return {
    problems,
    check() { if (problems.length) throw new Error(problems.join('\n')); },
  };
}

export const check = (cond, message) => { if (!cond) throw new Error(`check failed: ${message}`); };

/** Prints the report as one JSON line (what the Rust test reads), or fails. */
export async function main(run) {
  try {
    const report = await run();
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } catch (e) {
    process.stderr.write(`${e.stack || e}\n`);
    process.exit(1);
  }
}
