// Runs inside a scratch npm project where only the packed vestis-mock-server
// tarballs are installed: docs/frontend.md's Jest, Vitest, Cypress, Playwright and
// npm-scripts blocks (the files next to this one, verbatim) are executed the
// way each runner executes them, and the guide's JavaScript runs against a
// server started by startMockServer. Run by
// vestis-mock-server/tests/npm/main.rs; prints one JSON line of findings and
// exits non-zero on any failure.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';

const require = createRequire(import.meta.url);
const check = (cond, message) => { if (!cond) throw new Error(`check failed: ${message}`); };
const report = {};
const AUTH = { Authorization: 'Bearer npm-check', 'Content-Type': 'application/json' };

/** Runs a node script of this project with extra environment; its stdout's JSON. */
async function runNode(script, env) {
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk) => { out += chunk; });
  const [code] = await once(child, 'exit');
  check(code === 0, `${script} exited ${code}: ${out}`);
  return JSON.parse(out.trim());
}

const freePort = () => new Promise((resolve) => {
  const server = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(String(port)));
  });
});

/** Polls a URL the way Playwright's webServer.url does, until it answers below 404. */
async function waitForUrl(url, child) {
  for (let i = 0; i < 300; i++) {
    check(child.exitCode === null, `${url}: its command exited ${child.exitCode}`);
    try {
      if ((await fetch(url)).status < 404) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered`);
}

const unreachable = async (url) => fetch(url).then(() => false, () => true);

/** Whether nothing answers at `url` any more, within 10 s of a stop signal. */
async function gone(url) {
  for (let i = 0; i < 100; i++) {
    if (await unreachable(url)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

// The published types: Job with the five statuses.
const types = await readFile(require.resolve('vestis-mock-server/index.d.ts'), 'utf8');
check(/JobStatus = 'pending' \| 'processing' \| 'completed' \| 'failed' \| 'cancelled'/.test(types), 'JobStatus has five statuses');
check(/export function startMockServer\(options\?: MockServerOptions\): Promise<MockServer>/.test(types), 'startMockServer is typed');

// Jest: globalSetup and globalTeardown run in the runner's process; the
// guide's code (a test worker) inherits REACT_APP_API_URL.
await require('./jest.global-setup.cjs')({}, {});
const apiUrl = process.env.REACT_APP_API_URL;
check(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/.test(apiUrl), `jest setup set REACT_APP_API_URL, got ${apiUrl}`);
// The guide check pauses the queue through the admin API for its cancel.
const guide = await runNode('guide-check.mjs', { MOCK_ADMIN_URL: globalThis.mock.admin.url });
check(guide.chat.progress.at(-1) === 'completed', 'the guide code completes a chat job');
check(await require('./jest.global-teardown.cjs')() === 0, 'the server exits 0 on stop');
check(await unreachable(`${apiUrl}/jobs`), 'stopped: nothing listens any more');
report.jest = { guide: guide.chat.progress };

// Vitest: a globalSetup default export gets { provide } and returns its teardown.
const provided = {};
const teardown = await (await import('./vitest.global-setup.mjs')).default({ provide: (k, v) => { provided[k] = v; }, config: {} });
check((await fetch(`${provided.adminUrl}/queue/pause`, { method: 'POST' })).ok, 'vitest: admin pause');
const created = await (await fetch(`${provided.apiUrl}/generate?chat=true`, { method: 'POST', headers: AUTH, body: JSON.stringify({ prompt: 'vitest' }) })).json();
const admin = await fetch(`${provided.adminUrl}/jobs/${created.job_id}/complete`, { method: 'POST' });
check(admin.ok, `admin complete answered ${admin.status}`);
const done = await (await fetch(`${provided.apiUrl}/jobs/${created.job_id}`, { headers: AUTH })).json();
check(done.status === 'completed', `vitest: completed through the admin URL, got ${done.status}`);
await teardown();
check(await unreachable(provided.apiUrl), 'vitest teardown stopped the server');
report.vitest = done.status;

// Cypress: setupNodeEvents(on, config) returns the config; 'after:run' stops.
const handlers = {};
const cypress = (await import('./cypress.config.mjs')).default;
const config = await cypress.e2e.setupNodeEvents((event, fn) => { handlers[event] = fn; }, { env: {} });
const pending = await (await fetch(`${config.env.apiUrl}/generate?chat=true`, { method: 'POST', headers: AUTH, body: JSON.stringify({ prompt: 'cypress' }) })).json();
const cancel = await fetch(`${config.env.apiUrl}/jobs/${pending.job_id}`, { method: 'DELETE', headers: AUTH });
check(cancel.ok, `paused queue: a pending job cancels, got ${cancel.status}`);
const cancelled = await (await fetch(`${config.env.apiUrl}/jobs/${pending.job_id}`, { headers: AUTH })).json();
check(cancelled.status === 'cancelled', `cypress: the fifth status, got ${cancelled.status}`);
await handlers['after:run']({});
check(await unreachable(config.env.apiUrl), 'cypress after:run stopped the server');
report.cypress = cancelled.status;

// Playwright: each webServer entry's command runs in a shell with its env,
// and the tests start once its url answers; then the commands are stopped.
process.env.MOCK_PORT = await freePort();
process.env.DEV_PORT = await freePort();
process.env.CI = '1';
const playwright = (await import('./playwright.config.mjs')).default;
const servers = [];
for (const entry of playwright.webServer) {
  const child = spawn(entry.command, { shell: true, detached: true, stdio: 'ignore', env: { ...process.env, ...entry.env } });
  servers.push(child);
  await waitForUrl(entry.url, child);
}
const devApi = await (await fetch(playwright.use.baseURL)).text();
check(devApi === `http://127.0.0.1:${process.env.MOCK_PORT}/api/v1`, `the dev server got the mock's URL, got ${devApi}`);
const list = await fetch(`${devApi}/jobs`, { headers: AUTH });
check(list.ok, `the app's API URL answers, got ${list.status}`);
for (const [i, child] of servers.entries()) {
  process.kill(-child.pid, 'SIGTERM'); // the command's whole process group, shell included
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  check(await gone(playwright.webServer[i].url), `${playwright.webServer[i].url} stopped`);
}
report.playwright = { webServers: servers.length };

// npm scripts: `npm run mock -- --port 0`, the ready line on stdout, stopped by Ctrl-C.
const npm = spawn('npm', ['run', '--silent', 'mock', '--', '--port', '0'], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
let line = '';
for await (const chunk of npm.stdout) {
  line += chunk;
  if (line.includes('\n')) break;
}
const url = line.match(/^vestis-mock-server listening on (http:\/\/\S+)/)?.[1];
check(url, `npm run mock printed the ready line, got ${line}`);
check((await (await fetch(`${url}/health`)).json()).status === 'ok', 'npm run mock serves /health');
process.kill(-npm.pid, 'SIGINT'); // Ctrl-C
check(await gone(`${url}/health`), 'Ctrl-C stopped npm run mock');
report.npmScripts = url;

console.log(JSON.stringify(report));
