// `onInterrupt` (src/cli/progress.ts): the first Ctrl-C is the command's, a second exits 130.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const PROGRESS = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'cli', 'progress.ts')).href;

test('the first Ctrl-C calls the handler and the command goes on; a second exits with 130 at once', async () => {
  const code = `const { onInterrupt } = await import(${JSON.stringify(PROGRESS)});
    setInterval(() => {}, 1000);
    onInterrupt(() => setTimeout(() => process.stdout.write('ready\\n'), 100));
    process.stdout.write('ready\\n');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
    for (const _ of String(d).matchAll(/ready\n/g)) child.kill('SIGINT');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const status = await new Promise<number | null>((resolve) => child.on('close', (s) => resolve(s)));
  clearTimeout(timer);
  assert.equal(stdout, 'ready\nready\n');
  assert.equal(status, 130);
});
