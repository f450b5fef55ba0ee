import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { onShutdown, runShutdown, shutdownHookCount } from '../../src/core/index.js';

test('runs shutdown hooks newest first, once, past a failing hook, and skips unregistered ones', async () => {
  const order: string[] = [];
  onShutdown(() => {
    order.push('first');
  });
  onShutdown(async () => {
    await new Promise((r) => setTimeout(r, 20));
    order.push('second');
  });
  onShutdown(() => {
    throw new Error('boom');
  });
  const off = onShutdown(() => {
    order.push('removed');
  });
  onShutdown(() => {
    order.push('third');
  });
  off();
  assert.equal(shutdownHookCount(), 4);
  const stderr = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await Promise.all([runShutdown(), runShutdown()]);
  } finally {
    process.stderr.write = stderr;
  }
  assert.deepEqual(order, ['third', 'second', 'first']);
  assert.equal(shutdownHookCount(), 0);
});

test('SIGINT runs the hooks and exits with 130', () => {
  const core = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'core', 'shutdown.ts')).href;
  const code = `const { onShutdown } = await import(${JSON.stringify(core)});
    onShutdown(async () => { await new Promise((r) => setTimeout(r, 50)); process.stdout.write('hook ran\\n'); });
    setInterval(() => {}, 1000);
    setTimeout(() => process.kill(process.pid, 'SIGINT'), 100);`;
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(out.stdout, 'hook ran\n');
  assert.equal(out.status, 130);
});
