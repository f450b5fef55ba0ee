// The shutdown registry when the application listens for the signal itself: the first
// signal is the application's (no hook runs under it), a second one exits at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runInterruptedChild } from './signal-child.js';

const SHUTDOWN = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'core', 'shutdown.ts')).href;

const run = runInterruptedChild;

test('with an application SIGINT listener, the first SIGINT runs no hook and the application decides the exit', async () => {
  const out = await run(`const { onShutdown } = await import(${JSON.stringify(SHUTDOWN)});
    onShutdown(() => { process.stdout.write('hook ran\\n'); });
    const keepAlive = setInterval(() => {}, 1000);
    process.on('SIGINT', () => setTimeout(() => { process.stdout.write('app finished\\n'); clearInterval(keepAlive); process.exitCode = 42; }, 200));
    process.stdout.write('ready\\n');`);
  assert.equal(out.stdout, 'ready\napp finished\n');
  assert.equal(out.status, 42);
});

test('a second SIGINT after one left to the application exits with 130 at once', async () => {
  const out = await run(`const { onShutdown } = await import(${JSON.stringify(SHUTDOWN)});
    onShutdown(() => { process.stdout.write('hook ran\\n'); });
    setInterval(() => {}, 1000);
    let n = 0;
    process.on('SIGINT', () => { if (++n === 1) setTimeout(() => process.stdout.write('ready\\n'), 100); });
    process.stdout.write('ready\\n');`);
  assert.equal(out.stdout, 'ready\nready\n');
  assert.equal(out.status, 130);
});
