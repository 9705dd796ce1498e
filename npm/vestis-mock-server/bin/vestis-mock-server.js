#!/usr/bin/env node
// `npx vestis-mock-server [FLAGS]`: runs the platform's prebuilt binary with
// the same flags, stdio and exit status, so the npm command behaves exactly
// like the Rust binary (`--help` lists every flag).
'use strict';

const { spawn } = require('node:child_process');
const { binaryPath } = require('../lib/binary.js');

let binary;
try {
  binary = binaryPath();
} catch (e) {
  console.error(e.message);
  process.exit(1);
}

// stdin is a pipe only this process holds: when it ends, however (SIGKILL
// included, which cannot be passed on), the kernel closes it and the server
// stops (--stop-on-stdin-close). The server never reads a terminal anyway.
const child = spawn(binary, ['--stop-on-stdin-close', ...process.argv.slice(2)], {
  stdio: ['pipe', 'inherit', 'inherit'],
});
child.stdin.on('error', () => {});
// Ctrl-C reaches the whole process group anyway; SIGTERM (from a test
// runner, `docker stop`, `kill`) reaches only us, so pass both on: the
// server then shuts down gracefully and exits 0.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('error', (e) => {
  console.error(`vestis-mock-server: cannot run ${binary}: ${e.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) {
    // Die of the same signal, as a shell expects (our handler steps aside).
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
