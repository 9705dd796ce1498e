// The JavaScript API: start the mock server on a free port from a test
// set-up (Playwright globalSetup, Jest/Vitest globalSetup, a Cypress plugin,
// a plain script), wait until it listens, and stop it afterwards.
'use strict';

const { spawn } = require('node:child_process');
const { binaryPath } = require('./lib/binary.js');

const READY = /^vestis-mock-server listening on (http:\/\/\S+)$/;

/** Options that map one-to-one to the binary's flags (`vestis-mock-server --help`). */
const FLAGS = {
  host: '--host',
  port: '--port',
  threads: '--threads',
  workers: '--workers',
  processingTime: '--processing-time',
  failureRate: '--failure-rate',
  maxAttempts: '--max-attempts',
  seed: '--seed',
  rateLimit: '--rate-limit',
  httpErrorRate: '--http-error-rate',
  latency: '--latency',
  faultRate: '--fault-rate',
  faults: '--faults',
  faultOn: '--fault-on',
  clock: '--clock',
  fixtures: '--fixtures',
  polls: '--polls',
  publicUrl: '--public-url',
  headTimeout: '--head-timeout',
  bodyTimeout: '--body-timeout',
  proxyTo: '--proxy-to',
  record: '--record',
  proxyTimeout: '--proxy-timeout',
  followEvery: '--follow-every',
  proxyCaCert: '--proxy-ca-cert',
  replay: '--replay',
};
const SWITCHES = { realistic: '--realistic', paused: '--paused' };

/** Turns options into command-line flags; unknown option names are an error, not ignored. */
function flags(options) {
  const known = new Set([...Object.keys(FLAGS), ...Object.keys(SWITCHES), 'tokens', 'args', 'env', 'binary', 'timeout', 'stderr']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new TypeError(`startMockServer: unknown option "${key}"`);
  }
  const args = ['--port', String(options.port ?? 0)];
  for (const [key, flag] of Object.entries(FLAGS)) {
    if (key !== 'port' && options[key] !== undefined) args.push(flag, String(options[key]));
  }
  for (const [key, flag] of Object.entries(SWITCHES)) {
    if (options[key]) args.push(flag);
  }
  for (const token of options.tokens ?? []) args.push('--token', token);
  return args.concat(options.args ?? []);
}

/** A URL to reach a server listening on `address` (a wildcard becomes loopback). */
function reachable(address) {
  return address.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
}

/** Helpers for the `/__admin` API; each resolves to the parsed JSON answer. */
function adminClient(base) {
  const call = async (method, path, body) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const json = text ? JSON.parse(text) : null;
    if (!response.ok) {
      throw new Error(`${method} ${base}${path}: ${response.status} ${json?.error ?? text}`);
    }
    return json;
  };
  return {
    url: base,
    reset: () => call('POST', '/reset'),
    jobs: () => call('GET', '/jobs'),
    loadJobs: (jobs) => call('POST', '/jobs', jobs),
    complete: (id) => call('POST', `/jobs/${id}/complete`),
    fail: (id, error) => call('POST', `/jobs/${id}/fail`, error === undefined ? undefined : { error }),
    pause: () => call('POST', '/queue/pause'),
    resume: () => call('POST', '/queue/resume'),
    advanceClock: (by) => call('POST', '/clock/advance', { by }),
    requests: (filter = {}) => call('GET', `/requests?${new URLSearchParams(filter)}`),
    config: (changes) => (changes === undefined ? call('GET', '/config') : call('PATCH', '/config', changes)),
  };
}

/**
 * Starts vestis-mock-server (on a free port unless `options.port` says
 * otherwise) and resolves once it listens.
 * @param {import('./index').MockServerOptions} [options]
 * @returns {Promise<import('./index').MockServer>}
 */
function startMockServer(options = {}) {
  let args;
  let binary;
  try {
    args = flags(options);
    binary = options.binary ?? binaryPath();
  } catch (e) {
    return Promise.reject(e);
  }
  const timeout = options.timeout ?? 10_000;
  // The server's stdin is a pipe whose other end only this process holds:
  // however this process ends (SIGTERM, SIGINT, even SIGKILL, where no
  // 'exit' handler runs), the kernel closes it, and with
  // --stop-on-stdin-close the server stops then.
  const child = spawn(binary, ['--stop-on-stdin-close', ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', options.stderr === 'inherit' ? 'inherit' : 'pipe'],
  });
  // Nothing is written to it; a server gone first must not throw EPIPE here.
  child.stdin.on('error', () => {});
  // A normal exit: stop the server at once rather than when the pipe closes.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    process.off('exit', killOnExit);
    resolve(code ?? signal);
  }));

  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    child.stderr?.setEncoding('utf8').on('data', (chunk) => { stderr = (stderr + chunk).slice(-4096); });
    const fail = (message) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`vestis-mock-server: ${message}${stderr ? `\n${stderr.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not listening after ${timeout} ms`), timeout);
    child.on('error', (e) => fail(`cannot run ${binary}: ${e.message}`));
    child.on('exit', (code, signal) => fail(`exited before listening (${signal ?? `exit ${code}`})`));
    child.stdout.setEncoding('utf8').on('data', function onData(chunk) {
      stdout += chunk;
      const line = stdout.split('\n').map((l) => l.trim()).find((l) => READY.test(l));
      if (!line || settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.off('data', onData).resume();
      const url = reachable(line.match(READY)[1]);
      let stopping;
      resolve({
        url,
        apiUrl: `${url}/api/v1`,
        admin: adminClient(`${url}/__admin`),
        process: child,
        stop() {
          if (!stopping) {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGTERM');
              // Graceful first; a server that has not exited 5 s later is killed.
              setTimeout(() => child.kill('SIGKILL'), 5000).unref();
            }
            stopping = exited;
          }
          return stopping;
        },
      });
    });
  });
}

module.exports = { startMockServer, binaryPath };
